#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells the service manager about the service's state (sd_notify(3)) for `Type=notify` units:
/// readiness, reloads, shutdown, a status line and watchdog keep-alives.
public final class SystemdNotifier: Sendable {
    /// NOTIFY_SOCKET as given.
    public let socket: String
    /// How often to call `watchdog()`: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises,
    /// or nil when the unit has no watchdog or it is meant for another process.
    public let watchdogInterval: Duration?
    private let library: SystemdLibrary?

    /// Nil when not started by a service manager that listens (NOTIFY_SOCKET unset or empty).
    public init?(environment: [String: String]) {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        self.socket = socket
        self.watchdogInterval = Self.watchdogInterval(environment: environment, pid: getpid())
        // libsystemd's sd_notify reads NOTIFY_SOCKET from the process environment, so it is only
        // used when that names the same socket; otherwise (tests, or no libsystemd) send it ourselves.
        let processSocket = getenv("NOTIFY_SOCKET").map { String(cString: $0) }
        self.library = processSocket == socket ? SystemdLibrary.shared : nil
    }

    /// Whether messages go through libsystemd rather than `NotifyDatagram`.
    var usesLibsystemd: Bool { library != nil }

    static func watchdogInterval(environment: [String: String], pid: pid_t) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], owner != String(pid) { return nil }
        return .microseconds(usec / 2)
    }

    /// Startup finished: systemd starts dependent units and `systemctl start` returns.
    @discardableResult public func ready() -> Bool { send("READY=1") }

    /// A reload began; call `ready()` when it is done. systemd 253+ (Type=notify-reload) needs
    /// MONOTONIC_USEC to tell this reload from an earlier one.
    @discardableResult public func reloading() -> Bool {
        send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// Shutdown began, so systemd does not treat the exit as a crash in progress.
    @discardableResult public func stopping() -> Bool { send("STOPPING=1") }

    /// A one-line status for `systemctl status`; newlines would start new assignments, so they become spaces.
    @discardableResult public func status(_ text: String) -> Bool {
        send("STATUS=" + String(text.map { $0.isNewline ? " " : $0 }))
    }

    /// Keep-alive: without one every WATCHDOG_USEC, systemd kills and restarts the service.
    @discardableResult public func watchdog() -> Bool { send("WATCHDOG=1") }

    private func send(_ message: String) -> Bool {
        if let library { return library.notify(0, message) > 0 }
        return NotifyDatagram.send(message, to: socket)
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}
