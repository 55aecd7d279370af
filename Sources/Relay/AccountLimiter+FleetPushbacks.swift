import FleetState
import Resilience

extension AccountLimiter {
    /// After a credentials failure this replica saw: tells the fleet if it opened the breaker.
    /// Called only on that path, not from `CircuitBreaker`'s transitions, which an opening from
    /// the fleet reports as well and which must not be written back.
    func publishCredentialsIfOpen(email: String) {
        guard let bridge = fleetPushbacks, case .open(let until) = credentials.state else { return }
        bridge.publish(email: email, kind: .credentialsOpen, remaining: until - clock.now())
    }
}
