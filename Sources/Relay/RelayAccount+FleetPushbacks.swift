import FleetState
import Logging

extension RelayAccount {
    /// Tells the fleet what `apply(_:logger:metrics:)` just did here.
    func publishToFleet(_ pushback: ProviderPushback) {
        guard let bridge = limiter.fleetPushbacks else { return }
        let email = account.email
        switch pushback {
        case .quotaExhausted:
            if let remaining = limiter.pauseRemaining() { bridge.publish(email: email, kind: .quotaPause, remaining: remaining) }
        case .connectionLimit:
            bridge.publish(email: email, kind: .connectionCap, remaining: limiter.connectionLimitPause, value: pool.currentCap)
        case .slowDown:
            if let remaining = limiter.slowDown.blockedFor() { bridge.publish(email: email, kind: .slowDown, remaining: remaining) }
        }
    }

    /// A pushback another replica's provider gave, in force until `until` on the limiter's clock.
    /// Only extends what is in force here, and publishes nothing.
    func applyFromFleet(_ pushback: FleetPushback, until: ContinuousClock.Instant, logger: Logger) {
        let metadata: Logger.Metadata = ["account_id": "\(account.accountID)", "seen_by": "\(pushback.replica)"]
        switch pushback.kind {
        case .quotaPause:
            if limiter.extendPause(until: until) {
                logger.error("another replica's provider says the account's sending quota is spent; pausing it here too", metadata: metadata)
            }
        case .slowDown:
            if limiter.slowDown.block(until: until) {
                logger.warning("another replica's provider asked to slow down; new connections back off here too", metadata: metadata)
            }
        case .credentialsOpen:
            // The breaker's own transition log says it opened.
            limiter.credentials.forceOpen(until: until)
        case .connectionCap:
            guard let cap = pushback.value else { return }
            pool.lowerCap(to: cap, until: until)
            logger.warning("another replica's provider refused a connection as one too many; running fewer here too",
                           metadata: metadata.merging(["max_connections_now": "\(pool.currentCap)"]) { $1 })
        }
    }
}
