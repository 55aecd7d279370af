import Testing
import Resilience
import TestSupport

@Suite struct CircuitBreakerTests {
    let clock = ManualClock()
    let transitions = Recorder<CircuitBreaker.Transition>()

    func breaker(threshold: Int = 5, probeTimeout: Duration = .seconds(60)) -> CircuitBreaker {
        let configuration = CircuitBreaker.Configuration(failureThreshold: threshold, probeTimeout: probeTimeout)
        let transitions = self.transitions
        return CircuitBreaker(name: "smtp.example.com:587", configuration: configuration, clock: clock.clock) {
            transitions.append($0)
        }
    }

    /// Opens a closed breaker with `threshold` failures.
    func open(_ breaker: CircuitBreaker) {
        for _ in 0..<breaker.configuration.failureThreshold { breaker.recordFailure() }
    }

    @Test func closedAllowsEverything() {
        let breaker = breaker()
        for _ in 0..<10 { #expect(breaker.permit() == .allowed) }
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        #expect(breaker.name == "smtp.example.com:587")
    }

    @Test(arguments: [1, 2, 5, 10])
    func opensAtExactlyTheThreshold(threshold: Int) {
        let breaker = breaker(threshold: threshold)
        for failure in 1..<threshold {
            breaker.recordFailure()
            #expect(breaker.state == .closed(consecutiveFailures: failure))
            #expect(breaker.permit() == .allowed)
        }
        breaker.recordFailure()
        #expect(breaker.state == .open(until: clock.now + .seconds(5)))
        #expect(breaker.permit() == .rejected(retryAfter: .seconds(5)))
        #expect(transitions.all == [.init(breaker: "smtp.example.com:587", from: .closed, to: .open, coolDown: .seconds(5))])
    }

    @Test func successBetweenFailuresResetsTheCount() {
        let breaker = breaker(threshold: 3)
        breaker.recordFailure()
        breaker.recordFailure()
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        breaker.recordFailure()
        breaker.recordFailure()
        #expect(breaker.permit() == .allowed)
        #expect(transitions.all.isEmpty)
    }

    @Test func rejectedRetryAfterCountsDown() {
        let breaker = breaker()
        open(breaker)
        clock.advance(by: .milliseconds(3_200))
        #expect(breaker.permit() == .rejected(retryAfter: .milliseconds(1_800)))
    }

    @Test func exactlyOneProbeAfterTheCoolDown() {
        let breaker = breaker()
        open(breaker)
        clock.advance(by: .seconds(5))
        #expect(breaker.permit() == .probe)
        #expect(breaker.state == .halfOpen)
        for _ in 0..<10 {
            guard case .rejected(let retryAfter) = breaker.permit() else { Issue.record("second probe"); return }
            #expect(retryAfter == .seconds(5), "the last cool-down, below the probe timeout")
        }
        #expect(transitions.all.map(\.to) == [.open, .halfOpen])
    }

    @Test func probeSuccessCloses() {
        let breaker = breaker()
        open(breaker)
        clock.advance(by: .seconds(5))
        #expect(breaker.permit() == .probe)
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        #expect(breaker.permit() == .allowed)
        #expect(transitions.all.map(\.to) == [.open, .halfOpen, .closed])
        // The cool-down starts over after a success.
        open(breaker)
        #expect(breaker.permit() == .rejected(retryAfter: .seconds(5)))
    }

    @Test func probeFailureDoublesTheCoolDownUpToTheCap() {
        let breaker = breaker()
        open(breaker)
        var coolDowns: [Duration] = []
        for _ in 0..<9 {
            guard case .open(let until) = breaker.state else { Issue.record("not open"); return }
            let coolDown = until - clock.now
            coolDowns.append(coolDown)
            clock.advance(by: coolDown - .milliseconds(1))
            #expect(breaker.permit() == .rejected(retryAfter: .milliseconds(1)))
            clock.advance(by: .milliseconds(1))
            #expect(breaker.permit() == .probe)
            breaker.recordFailure()
        }
        #expect(coolDowns == [5, 10, 20, 40, 80, 160, 300, 300, 300].map { Duration.seconds($0) })
        #expect(transitions.all.filter { $0.to == .open }.map(\.coolDown) == coolDowns + [.seconds(300)])
    }

    @Test func lostProbeIsForgottenAfterTheProbeTimeout() {
        let breaker = breaker(probeTimeout: .seconds(60))
        open(breaker)
        clock.advance(by: .seconds(5))
        #expect(breaker.permit() == .probe)
        clock.advance(by: .seconds(59))
        #expect(breaker.permit() == .rejected(retryAfter: .seconds(1)), "bounded by the probe timeout")
        clock.advance(by: .seconds(1))
        #expect(breaker.permit() == .probe)
        #expect(breaker.permit() != .probe)
        breaker.recordSuccess()
        #expect(breaker.permit() == .allowed)
    }

    @Test func lateFailureWhileOpenIsIgnored() {
        let breaker = breaker()
        open(breaker)
        let state = breaker.state
        clock.advance(by: .seconds(2))
        breaker.recordFailure()
        #expect(breaker.state == state)
        #expect(transitions.all.count == 1)
    }

    @Test func lateSuccessWhileOpenCloses() {
        let breaker = breaker()
        open(breaker)
        breaker.recordSuccess()
        #expect(breaker.state == .closed(consecutiveFailures: 0))
        #expect(breaker.permit() == .allowed)
        #expect(transitions.all.last == .init(breaker: breaker.name, from: .open, to: .closed))
    }

    @Test func stateReportsAnOverdueOpeningUntilSomeoneAsks() {
        let breaker = breaker()
        open(breaker)
        let until = clock.now + .seconds(5)
        clock.advance(by: .seconds(30))
        #expect(breaker.state == .open(until: until))
        #expect(breaker.state.name == .open)
        #expect(breaker.permit() == .probe)
        #expect(breaker.state.name == .halfOpen)
    }

    @Test func badConfigurationIsClamped() {
        let configuration = CircuitBreaker.Configuration(failureThreshold: -3, probeTimeout: .seconds(-1))
        let breaker = CircuitBreaker(name: "x", configuration: configuration, clock: clock.clock)
        #expect(breaker.configuration.failureThreshold == 1)
        #expect(breaker.configuration.probeTimeout == .zero)
        breaker.recordFailure()
        #expect(breaker.state.name == .open)
        clock.advance(by: .seconds(5))
        // A zero probe timeout forgets each probe at once: every caller probes, nothing wedges.
        #expect(breaker.permit() == .probe)
        #expect(breaker.permit() == .probe)
    }

    @Test func transitionCallbackRunsOutsideTheLock() {
        // Re-entering the breaker from the callback would deadlock if it ran under the lock.
        let seen = Recorder<CircuitBreaker.State>()
        let box = Recorder<CircuitBreaker>()
        let breaker = CircuitBreaker(name: "reentrant", configuration: .init(failureThreshold: 1), clock: clock.clock) { _ in
            if let breaker = box.all.first { seen.append(breaker.state) }
        }
        box.append(breaker)
        breaker.recordFailure()
        #expect(seen.all.map(\.name) == [.open])
    }

    @Test func forceOpenRejectsUntilThenProbesAndNeverShortens() {
        let breaker = breaker()
        #expect(breaker.forceOpen(until: clock.now + .seconds(120)))
        #expect(breaker.permit() == .rejected(retryAfter: .seconds(120)))
        #expect(transitions.all == [.init(breaker: breaker.name, from: .closed, to: .open, coolDown: .seconds(120))])
        #expect(!breaker.forceOpen(until: clock.now + .seconds(30)))
        #expect(breaker.forceOpen(until: clock.now + .seconds(200)))
        #expect(transitions.all.count == 1, "extending an opening is no transition")
        clock.advance(by: .seconds(199))
        #expect(breaker.permit() == .rejected(retryAfter: .seconds(1)))
        clock.advance(by: .seconds(1))
        #expect(breaker.permit() == .probe)
        #expect(!breaker.forceOpen(until: clock.now), "an opening that has ended changes nothing")
        #expect(breaker.forceOpen(until: clock.now + .seconds(5)), "a half-open breaker opens again")
        #expect(breaker.permit() == .rejected(retryAfter: .seconds(5)))
    }
}
