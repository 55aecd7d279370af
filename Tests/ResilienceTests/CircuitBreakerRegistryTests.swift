import Testing
import Resilience
import TestSupport

@Suite struct CircuitBreakerRegistryTests {
    @Test func sameBreakerPerKeyAndSharedSettings() {
        let clock = ManualClock()
        let transitions = Recorder<CircuitBreaker.Transition>()
        let registry = CircuitBreakerRegistry(configuration: .init(failureThreshold: 2), clock: clock.clock) {
            transitions.append($0)
        }
        let a = registry.breaker(for: "b.example:587")
        #expect(registry.breaker(for: "b.example:587") === a)
        let b = registry.breaker(for: "a.example:465")
        #expect(b !== a)
        #expect(registry.all.map(\.name) == ["a.example:465", "b.example:587"])

        a.recordFailure()
        a.recordFailure()
        #expect(a.state == .open(until: clock.now + .seconds(5)))
        #expect(b.permit() == .allowed, "breakers are independent")
        #expect(transitions.all.map(\.breaker) == ["b.example:587"])
    }

    @Test func concurrentFirstUseCreatesOneBreaker() async {
        let registry = CircuitBreakerRegistry()
        let breakers = await withTaskGroup(of: CircuitBreaker.self) { group in
            for _ in 0..<100 { group.addTask { registry.breaker(for: "token.example") } }
            return await group.reduce(into: [CircuitBreaker]()) { $0.append($1) }
        }
        #expect(breakers.allSatisfy { $0 === breakers[0] })
        #expect(registry.all.count == 1)
    }
}
