import FleetState
import Foundation
import PostgresTestSupport
import Testing

@Suite("Fleet quota leases", .enabled(if: PostgresTestServer.testsEnabled, postgresMissing))
struct FleetQuotaLeasesTests {
    /// 12:34:10 UTC, 10 s before a full minute: the fixed windows' edge.
    static let now = Date(timeIntervalSince1970: 1_795_000_450)
    static let account = "sales@example.com"

    static func request(_ limit: Int = 30, account: String = account, window: QuotaWindow = .messagesPerMinute, hint: Int = 3) -> QuotaLeaseRequest {
        QuotaLeaseRequest(account: account, window: window, limit: limit, fleetSizeHint: hint)
    }

    @Test("each grant is about a third of what is left (hint 3), at least 1, until exactly the limit is leased")
    func grantSizes() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            var grants: [Int] = []
            while let lease = try await leases.lease(Self.request(), now: Self.now) {
                grants.append(lease.amount)
                #expect(lease.fleetGranted == grants.reduce(0, +))
                #expect(lease.bucketStart == Int64(Self.now.timeIntervalSince1970) + 30, "recorded at the lease's expiry")
            }
            #expect(grants == [10, 7, 5, 3, 2, 1, 1, 1])
            let usage = try await leases.usage(account: Self.account, window: .messagesPerMinute, now: Self.now)
            #expect(usage == QuotaWindowUsage(limit: 30, granted: 30, outstandingLeases: 8, outstandingAmount: 30))
        }
    }

    @Test("at least what the caller needs when that much is left, at most the cap, never more than is left")
    func bounds() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            var capped = Self.request(100, hint: 1)
            capped.maximumBlock = 15
            #expect(try await leases.lease(capped, now: Self.now)?.amount == 15)
            var large = Self.request(100, hint: 10)
            large.atLeast = 80
            #expect(try await leases.lease(large, now: Self.now)?.amount == 80)
            #expect(try await leases.lease(large, now: Self.now)?.amount == 5)
            #expect(try await leases.lease(large, now: Self.now) == nil)
            #expect(try await leases.lease(Self.request(0, account: "zero@example.com"), now: Self.now) == nil)
        }
    }

    /// Runs `work` in `tasks` concurrent tasks on each replica at once; the sum of what they return.
    static func concurrently(_ databases: [FleetDatabase], tasks: Int = 20,
                             _ work: @escaping @Sendable (FleetQuotaLeases) async throws -> Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for database in databases {
                let leases = FleetQuotaLeases(database: database)
                for _ in 0..<tasks { group.addTask { try await work(leases) } }
            }
            return try await group.reduce(0, +)
        }
    }

    @Test("3 replicas × 20 tasks leasing one account's window of 30 at once: exactly 30 granted in all")
    func concurrentLeasers() async throws {
        try await withMigratedFleet(replicas: 3) { _, databases async throws in
            let granted = try await Self.concurrently(databases) { leases in
                var total = 0
                while let lease = try await leases.lease(Self.request(), now: Self.now) { total += lease.amount }
                return total
            }
            #expect(granted == 30)
            let usage = try await FleetQuotaLeases(database: databases[0]).usage(account: Self.account, window: .messagesPerMinute, now: Self.now)
            #expect(usage?.granted == 30)
            #expect(usage?.outstandingAmount == 30)
        }
    }

    @Test("3 replicas × 20 tasks each spending 1 per lease and giving back the rest: exactly 30 spent, nothing left over")
    func concurrentSpendAndGiveBack() async throws {
        try await withMigratedFleet(replicas: 3) { _, databases async throws in
            let spent = try await Self.concurrently(databases) { leases in
                var spent = 0
                while let lease = try await leases.lease(Self.request(), now: Self.now) {
                    var balance = QuotaLeaseBalance(lease)
                    let tookOne = balance.spend(at: Self.now)
                    #expect(tookOne)
                    spent += 1
                    #expect(try await leases.giveBack(balance, now: Self.now))
                }
                return spent
            }
            #expect(spent == 30)
            let usage = try await FleetQuotaLeases(database: databases[0]).usage(account: Self.account, window: .messagesPerMinute, now: Self.now)
            #expect(usage == QuotaWindowUsage(limit: 30, granted: 30, outstandingLeases: 0, outstandingAmount: 0))
        }
    }

    @Test("a given-back part is leased again; a lease is given back only once")
    func giveBack() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            var request = Self.request(hint: 1)
            let whole = try #require(try await leases.lease(request, now: Self.now))
            #expect(whole.amount == 30)
            #expect(try await leases.lease(request, now: Self.now) == nil)
            var balance = QuotaLeaseBalance(whole)
            let tookTwelve = balance.spend(12, at: Self.now)
            #expect(tookTwelve)
            #expect(try await leases.giveBack(balance, now: Self.now))
            #expect(try await !leases.giveBack(balance, now: Self.now))
            request.fleetSizeHint = 1
            #expect(try await leases.lease(request, now: Self.now)?.amount == 18)
        }
    }

    /// Leases all of a window of 30, spends `spend` of it at `at` and gives back the rest then.
    static func spendAndGiveBack(_ leases: FleetQuotaLeases, _ spend: Int, at: Date, limit: Int = 30) async throws {
        let lease = try #require(try await leases.lease(Self.request(limit, hint: 1), now: at))
        var balance = QuotaLeaseBalance(lease)
        let took = balance.spend(spend, at: at)
        #expect(took)
        #expect(try await leases.giveBack(balance, now: at))
    }

    @Test("rolling: what was spent at T still counts at T + 59 s and T + 60 s (a window), no longer at T + 61 s (a window and a bucket)")
    func rolling() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            try await Self.spendAndGiveBack(leases, 30, at: Self.now)
            for later in [1.0, 10.5, 59, 60.999] {
                #expect(try await leases.lease(Self.request(hint: 1), now: Self.now.addingTimeInterval(later)) == nil, "free \(later) s later")
            }
            let usage = try await leases.usage(account: Self.account, window: .messagesPerMinute, now: Self.now.addingTimeInterval(60))
            #expect(usage == QuotaWindowUsage(limit: 30, granted: 30, outstandingLeases: 0, outstandingAmount: 0))
            #expect(try await leases.lease(Self.request(hint: 1), now: Self.now.addingTimeInterval(61))?.amount == 30)
        }
    }

    @Test("rolling, not fixed: 30 spent just before a full minute leave nothing just after it")
    func acrossTheFixedEdge() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            let beforeEdge = Self.now.addingTimeInterval(9.5), afterEdge = Self.now.addingTimeInterval(10.5)
            try await Self.spendAndGiveBack(leases, 30, at: beforeEdge)
            #expect(try await leases.lease(Self.request(hint: 1), now: afterEdge) == nil)
        }
    }

    @Test("rollover: blocks spent at different times come back one by one as each leaves the window; a give-back frees its unused part at once")
    func rollover() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            try await Self.spendAndGiveBack(leases, 10, at: Self.now)
            let later = Self.now.addingTimeInterval(30)
            #expect(try await leases.lease(Self.request(hint: 1), now: later)?.amount == 20, "the unused 20 came back at once")
            let usage = try await leases.usage(account: Self.account, window: .messagesPerMinute, now: later)
            #expect(usage == QuotaWindowUsage(limit: 30, granted: 30, outstandingLeases: 1, outstandingAmount: 20))
            #expect(try await leases.lease(Self.request(hint: 1), now: Self.now.addingTimeInterval(60)) == nil)
            #expect(try await leases.lease(Self.request(hint: 1), now: Self.now.addingTimeInterval(61))?.amount == 10)
            // The 20 leased at T + 30 s were never given back: they count until a window and a
            // bucket after their expiry (T + 60 s); then they are free again, while the 10 leased
            // at T + 61 s still count.
            #expect(try await leases.lease(Self.request(hint: 1), now: Self.now.addingTimeInterval(120.5)) == nil)
            #expect(try await leases.lease(Self.request(hint: 1), now: Self.now.addingTimeInterval(121))?.amount == 20)
        }
    }

    @Test("a replica that dies loses its outstanding lease: expired, pruned, still counted as spent until a window after its expiry")
    func deadReplica() async throws {
        try await withMigratedFleet(replicas: 2) { _, databases async throws in
            let a = FleetQuotaLeases(database: databases[0]), b = FleetQuotaLeases(database: databases[1])
            var request = Self.request()
            request.duration = .seconds(20)
            let lost = try #require(try await a.lease(request, now: Self.now))
            #expect(lost.amount == 10)
            #expect(lost.usableUntil == Self.now.addingTimeInterval(20))
            var stale = QuotaLeaseBalance(lost)
            let spentExpired = stale.spend(at: lost.usableUntil)
            #expect(!spentExpired, "spent from an expired lease")

            var others = 0
            while let lease = try await b.lease(request, now: Self.now) {
                var balance = QuotaLeaseBalance(lease)
                let tookAll = balance.spend(lease.amount, at: Self.now)
                #expect(tookAll)
                others += lease.amount
                #expect(try await b.giveBack(balance, now: Self.now))
            }
            #expect(others == 20)

            let later = Self.now.addingTimeInterval(25)
            let pruned = try await b.prune(now: later)
            #expect(pruned.expiredLeases == 1)
            #expect(pruned.expiredAmount == 10)
            #expect(try await b.lease(request, now: later) == nil)
            #expect(try await !a.giveBack(stale, now: later), "a pruned lease was given back")
            let usage = try await b.usage(account: Self.account, window: .messagesPerMinute, now: later)
            #expect(usage == QuotaWindowUsage(limit: 30, granted: 30, outstandingLeases: 0, outstandingAmount: 0))

            // The others' 20 (given back at T) are free at T + 61 s; the lost 10 only at its
            // expiry (T + 20 s) + 61 s.
            #expect(try await b.lease(request, now: Self.now.addingTimeInterval(80.9))?.amount == 7, "a third of the 20 left")
            #expect(try await b.lease(request, now: Self.now.addingTimeInterval(81))?.amount == 8, "a third of 30 - 7")
        }
    }

    @Test("accounts and windows are independent")
    func independence() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            #expect(try await leases.lease(Self.request(hint: 1), now: Self.now)?.amount == 30)
            #expect(try await leases.lease(Self.request(hint: 1), now: Self.now) == nil)
            #expect(try await leases.lease(Self.request(account: "other@example.com", hint: 1), now: Self.now)?.amount == 30)
            #expect(try await leases.lease(Self.request(500, window: .messagesPerHour, hint: 1), now: Self.now)?.amount == 500)
            #expect(try await leases.lease(Self.request(2000, window: .messagesPerDay, hint: 4), now: Self.now)?.amount == 500)
            #expect(try await leases.lease(Self.request(10, window: .recipientsPerDay, hint: 1), now: Self.now)?.amount == 10)
        }
    }

    @Test("pruning removes buckets only an hour after they stopped counting, and keeps current ones")
    func pruneBuckets() async throws {
        try await withMigratedFleet { _, databases async throws in
            let leases = FleetQuotaLeases(database: databases[0])
            for window in QuotaWindow.allCases {
                var request = Self.request(window: window)
                request.duration = .seconds(1)
                _ = try await leases.lease(request, now: Self.now)
            }
            // The minute's grant sits in the bucket of T + 1 s and counts until T + 62 s.
            let stopped = Self.now.addingTimeInterval(62)
            #expect(try await leases.prune(now: stopped.addingTimeInterval(3599)).endedBuckets == 0)
            #expect(try await leases.prune(now: stopped.addingTimeInterval(3600)).endedBuckets == 1)
            #expect(try await leases.usage(account: Self.account, window: .messagesPerMinute, now: Self.now)?.granted == 0)
            #expect(try await leases.usage(account: Self.account, window: .messagesPerHour, now: Self.now)?.granted == 10)
        }
    }
}
