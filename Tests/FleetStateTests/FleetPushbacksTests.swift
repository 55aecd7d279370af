import FleetState
import Foundation
import PostgresTestSupport
import TestSupport
import Testing

@Suite("Fleet pushbacks", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetPushbacksTests {
    static let account = "Mailbox@Example.com"
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func pushback(_ kind: FleetPushback.Kind, for seconds: TimeInterval, value: Int? = nil, account: String = account) -> FleetPushback {
        FleetPushback(account: account, kind: kind, until: start.addingTimeInterval(seconds), value: value)
    }

    @Test("published by one replica: the other applies it at its next poll; the publisher does not apply its own")
    func reachesTheOthers() async throws {
        try await withMigratedFleet(replicas: 2) { _, databases in
            let clock = WallClock(Self.start)
            let a = PushbackReplica(databases[0], clock: clock), b = PushbackReplica(databases[1], clock: clock)
            await a.publishAndSettle(Self.pushback(.quotaPause, for: 1800))
            #expect(a.pushbacks.statistics.written == 1)
            await b.pushbacks.poll()
            #expect(b.applied == [FleetPushback(account: "mailbox@example.com", kind: .quotaPause,
                                                until: Self.start.addingTimeInterval(1800), replica: "replica-1")])
            await a.pushbacks.poll()
            #expect(a.applied.isEmpty, "its own row is what it has in force already")
            await b.pushbacks.poll()
            #expect(b.applied.count == 1, "read once: the cursor moved past it")
        }
    }

    @Test("a later until extends, an earlier one never shortens; the lower cap wins; an ended one is replaced")
    func merging() async throws {
        try await withMigratedFleet(replicas: 3) { _, databases in
            let clock = WallClock(Self.start)
            let a = PushbackReplica(databases[0], clock: clock), b = PushbackReplica(databases[1], clock: clock)
            let reader = PushbackReplica(databases[2], clock: clock)
            await a.publishAndSettle(Self.pushback(.connectionCap, for: 60, value: 3))
            await b.publishAndSettle(Self.pushback(.connectionCap, for: 30, value: 2))
            await b.publishAndSettle(Self.pushback(.slowDown, for: 100))
            await a.publishAndSettle(Self.pushback(.slowDown, for: 40))
            #expect(a.pushbacks.statistics.written == 1, "the earlier slow-down changed nothing: \(a.pushbacks.statistics)")
            await reader.pushbacks.poll()
            let cap = reader.applied.first { $0.kind == .connectionCap }
            #expect(cap?.value == 2 && cap?.until == Self.start.addingTimeInterval(60), "\(reader.applied)")
            #expect(reader.applied.first { $0.kind == .slowDown }?.until == Self.start.addingTimeInterval(100))

            clock.advance(61)
            await a.publishAndSettle(Self.pushback(.connectionCap, for: 90, value: 4))
            await reader.pushbacks.poll()
            #expect(reader.applied.last == FleetPushback(account: Self.account, kind: .connectionCap,
                                                         until: Self.start.addingTimeInterval(90), value: 4, replica: "replica-1"))
        }
    }

    @Test("repeats are merged into one write; what a replica applied from the database is not written back")
    func noEcho() async throws {
        try await withMigratedFleet(replicas: 2) { _, databases in
            let clock = WallClock(Self.start)
            let a = PushbackReplica(databases[0], clock: clock), b = PushbackReplica(databases[1], clock: clock)
            for _ in 0..<5 { a.pushbacks.publish(Self.pushback(.credentialsOpen, for: 300)) }
            #expect(await eventually { a.pushbacks.unwritten == 0 })
            #expect(a.pushbacks.statistics.written == 1)
            #expect(a.pushbacks.statistics.coalesced == 4)
            await b.pushbacks.poll()
            #expect(b.applied.count == 1)
            // As a bridge would if applying published: the same pushback, or one it covers.
            b.pushbacks.publish(Self.pushback(.credentialsOpen, for: 300))
            b.pushbacks.publish(Self.pushback(.credentialsOpen, for: 200))
            #expect(b.pushbacks.unwritten == 0)
            #expect(b.pushbacks.statistics.coalesced == 2 && b.pushbacks.statistics.written == 0)
            await a.pushbacks.poll()
            #expect(a.applied.isEmpty)
        }
    }

    @Test("two replicas writing many accounts at once: a third, polling meanwhile, sees every one")
    func concurrentWritersMissNothing() async throws {
        try await withMigratedFleet(replicas: 3) { _, databases in
            let clock = WallClock(Self.start)
            let writers = [PushbackReplica(databases[0], clock: clock), PushbackReplica(databases[1], clock: clock)]
            let reader = PushbackReplica(databases[2], clock: clock) { $0.pageSize = 7 }
            for index in 0..<40 {
                writers[index % 2].pushbacks.publish(Self.pushback(.quotaPause, for: 600, account: "user\(index)@example.com"))
                if index % 5 == 0 { await reader.pushbacks.poll() }
            }
            #expect(await eventually { writers.allSatisfy { $0.pushbacks.unwritten == 0 } })
            #expect(await eventually {
                await reader.pushbacks.poll()
                return Set(reader.applied.map(\.account)).count == 40
            })
            #expect(reader.applied.count == 40, "each once")
        }
    }
}
