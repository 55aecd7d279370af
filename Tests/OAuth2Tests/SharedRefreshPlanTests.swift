import Testing
@testable import OAuth2

@Suite struct SharedRefreshPlanTests {
    static let plan = SharedRefreshPlan(margin: .seconds(600), refused: nil)
    static let start = ContinuousClock.now

    static func row(_ value: String? = "at-1", expiresIn: Duration = .seconds(3000), lifetime: Duration = .seconds(3600),
                    generation: Int64 = 4, leaseHeld: Bool = false) -> SharedTokenRow {
        SharedTokenRow(token: value.map { SharedAccessToken(value: $0, expiresIn: expiresIn, lifetime: lifetime) },
                       generation: generation, refreshLeaseHeld: leaseHeld)
    }

    @Test func aFreshSharedTokenIsUsedWithoutALease() {
        #expect(Self.plan.afterRead(Self.row()) == .use(SharedAccessToken(value: "at-1", expiresIn: .seconds(3000), lifetime: .seconds(3600))))
    }

    @Test("stale, missing, expired or refused: take the lease at the generation read", arguments: [
        (row(expiresIn: .seconds(600)), SharedRefreshPlan.Step.takeLease(seenGeneration: 4)),
        (row(nil, generation: 9), .takeLease(seenGeneration: 9)),
        (row(expiresIn: .zero), .takeLease(seenGeneration: 4)),
        (row(expiresIn: .seconds(-5)), .takeLease(seenGeneration: 4)),
    ])
    func staleTakesTheLease(_ row: SharedTokenRow, _ step: SharedRefreshPlan.Step) {
        #expect(Self.plan.afterRead(row) == step)
    }

    @Test func noRowTakesTheLeaseAtGenerationZero() {
        #expect(Self.plan.afterRead(nil) == .takeLease(seenGeneration: 0))
    }

    @Test func theRefusedTokenIsNotUsedEvenWhenShared() {
        let plan = SharedRefreshPlan(margin: .seconds(600), refused: "at-1")
        #expect(plan.afterRead(Self.row()) == .takeLease(seenGeneration: 4))
        #expect(plan.afterRead(Self.row("at-2")) != .takeLease(seenGeneration: 4))
    }

    @Test func shortLivedTokensFollowTheCachesHalfLifeRule() {
        // 100 s lifetime, below twice the margin: usable for its first 50 s.
        #expect(Self.plan.afterRead(Self.row(expiresIn: .seconds(51), lifetime: .seconds(100))) != .takeLease(seenGeneration: 4))
        #expect(Self.plan.afterRead(Self.row(expiresIn: .seconds(50), lifetime: .seconds(100))) == .takeLease(seenGeneration: 4))
    }

    @Test func theLeaseDecidesWhoRefreshes() {
        #expect(Self.plan.afterLease(.taken(generation: 4)) == .refresh(generation: 4))
        #expect(Self.plan.afterLease(.heldByAnother(generation: 5)) == .poll(after: 5))
    }

    @Test func aPollUsesTheNewTokenOrWaitsWhileTheLeaseIsHeld() {
        let deadline = Self.start + .seconds(30)
        #expect(Self.plan.afterPoll(Self.row(generation: 5), baseline: 4, now: Self.start, deadline: deadline)
            == .use(SharedAccessToken(value: "at-1", expiresIn: .seconds(3000), lifetime: .seconds(3600))))
        #expect(Self.plan.afterPoll(Self.row(nil, leaseHeld: true), baseline: 4, now: Self.start, deadline: deadline) == .poll(after: 4))
    }

    @Test func aPollGivesUpWhenTheDeadlinePassesOrTheRowIsGone() {
        let deadline = Self.start + .seconds(30)
        #expect(Self.plan.afterPoll(Self.row(nil, leaseHeld: true), baseline: 4, now: deadline, deadline: deadline) == .refreshAlone)
        #expect(Self.plan.afterPoll(nil, baseline: 4, now: Self.start, deadline: deadline) == .refreshAlone)
    }

    @Test func aPollTakesTheLeaseOnceNobodyHoldsIt() {
        let deadline = Self.start + .seconds(30)
        // The winner released the lease (its refresh failed), or died and its lease ran out.
        #expect(Self.plan.afterPoll(Self.row(nil, leaseHeld: false), baseline: 4, now: Self.start, deadline: deadline)
            == .takeLease(seenGeneration: 4))
        // A newer generation without a usable token (a replica adopted its mounted token, say).
        #expect(Self.plan.afterPoll(Self.row(nil, generation: 6), baseline: 4, now: Self.start, deadline: deadline)
            == .takeLease(seenGeneration: 6))
    }
}
