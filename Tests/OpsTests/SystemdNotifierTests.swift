#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Ops

@Suite struct SystemdNotifierTests {
    @Test func absentWithoutNotifySocket() {
        #expect(SystemdNotifier(environment: [:]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]) == nil)
    }

    @Test(arguments: [false, true]) func sendsEachStateAsOneDatagram(abstract: Bool) throws {
        let manager = try NotifySocketFixture(abstract: abstract)
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": manager.name]))
        // The process environment has no NOTIFY_SOCKET, so this exercises the built-in datagram path.
        #expect(!notifier.usesLibsystemd)

        #expect(notifier.ready())
        #expect(manager.receive() == "READY=1")
        #expect(notifier.status("relaying\nfor 3 accounts"))
        #expect(manager.receive() == "STATUS=relaying for 3 accounts")
        #expect(notifier.watchdog())
        #expect(manager.receive() == "WATCHDOG=1")
        #expect(notifier.stopping())
        #expect(manager.receive() == "STOPPING=1")

        let before = SystemdNotifier.monotonicMicroseconds()
        #expect(notifier.reloading())
        let reload = try #require(manager.receive())
        let lines = reload.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first == "RELOADING=1")
        let stamp = try #require(lines.last.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? UInt64($0.dropFirst(15)) : nil })
        #expect(stamp >= before && stamp <= SystemdNotifier.monotonicMicroseconds())
    }

    @Test func unsupportedOrMissingSocketsFailWithoutThrowing() throws {
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"])?.ready() == false)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/tmp/xoauth2-no-such-\(getpid()).sock"])?.ready() == false)
        #expect(NotifyDatagram.address("/" + String(repeating: "a", count: 200)) == nil)
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsecForThisProcess() {
        let pid: pid_t = 4242
        #expect(SystemdNotifier.watchdogInterval(environment: [:], pid: pid) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"], pid: pid) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"], pid: pid) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"], pid: pid) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "0"], pid: pid) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "soon"], pid: pid) == nil)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000"])
        #expect(notifier?.watchdogInterval == .microseconds(1500))
    }

    @Test func watchdogPingsUntilCancelled() async throws {
        let manager = try NotifySocketFixture()
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "20000"]))
        let pinging = Task { await runWatchdog(notifier: notifier) }
        #expect(await manager.receiveOffPool() == "WATCHDOG=1")
        #expect(await manager.receiveOffPool() == "WATCHDOG=1")
        pinging.cancel()
        await pinging.value
    }

    @Test func watchdogReturnsAtOnceWithoutInterval() async throws {
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@unused"]))
        await runWatchdog(notifier: notifier)
    }
}

/// libsystemd's own sd_notify reads NOTIFY_SOCKET from the process environment, so this suite sets
/// it for the duration of one test; serialized, and every other notifier test passes its own socket.
@Suite(.serialized) struct LibsystemdNotifyTests {
    @Test(.enabled(if: SystemdLibrary.shared != nil, "libsystemd.so.0 is not installed"))
    func sendsThroughLibsystemdWhenTheProcessEnvironmentNamesTheSocket() throws {
        let manager = try NotifySocketFixture()
        setenv("NOTIFY_SOCKET", manager.name, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": manager.name]))
        #expect(notifier.usesLibsystemd)
        #expect(notifier.ready())
        #expect(manager.receive() == "READY=1")
        #expect(notifier.reloading())
        #expect(manager.receive()?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true)
    }
}
