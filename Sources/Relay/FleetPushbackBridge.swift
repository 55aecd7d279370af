import FleetState
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Joins the accounts' limiters and pools to the fleet's pushbacks: what this replica's
/// providers say goes out (`publish`, from `RelayAccount.apply` and the connector), and what the
/// other replicas' providers said comes in (`apply`), turned from wall-clock time into the
/// limiters' clock. Applying only extends (`extendPause`, `BackoffGate.block`,
/// `CircuitBreaker.forceOpen`, `UpstreamPool.lowerCap(to:until:)`) and publishes nothing, so a
/// pushback from the database is never written back.
///
/// Run it as a service: its poll loop is the only thing that waits for the database, and the
/// message path never waits for it.
public final class FleetPushbackBridge: Service, Sendable {
    public let pushbacks: FleetPushbacks
    private let accounts: NIOLockedValueBox<@Sendable (String) -> RelayAccount?>
    private let now: @Sendable () -> Date

    /// - Parameter now: the wall clock, the same as `pushbacks`'; injected by tests.
    public init(database: FleetDatabase, configuration: FleetPushbacksConfiguration = .init(), logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() }) {
        // `pushbacks` needs the apply closure before `self` exists; the box is what both hold.
        let accounts = NIOLockedValueBox<@Sendable (String) -> RelayAccount?>({ _ in nil })
        self.accounts = accounts
        self.now = now
        self.pushbacks = FleetPushbacks(database: database, configuration: configuration, logger: logger, now: now) { batch in
            Self.apply(batch, lookup: accounts.withLockedValue { $0 }, now: now(), logger: logger)
        }
    }

    /// Where pushbacks from the other replicas apply. Held weakly: the accounts hold this bridge
    /// (through their `ResilienceSettings`).
    public func attach(_ relayAccounts: RelayAccounts) {
        accounts.withLockedValue { $0 = { [weak relayAccounts] email in relayAccounts?.lookup(email: email) } }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.pushbacks.run()
        }
    }

    /// Tells the fleet a pushback this replica's provider gave for `email`; lasts `remaining`.
    func publish(email: String, kind: FleetPushback.Kind, remaining: Duration, value: Int? = nil) {
        guard remaining > .zero else { return }
        let until = now().addingTimeInterval(Self.seconds(remaining))
        pushbacks.publish(FleetPushback(account: email, kind: kind, until: until, value: value))
    }

    static func apply(_ batch: [FleetPushback], lookup: (String) -> RelayAccount?, now: Date, logger: Logger) {
        for pushback in batch {
            guard let account = lookup(pushback.account) else { continue }
            let remaining = pushback.until.timeIntervalSince(now)
            guard remaining > 0 else { continue }
            let until = account.limiter.clock.now() + .milliseconds(Int64((remaining * 1000).rounded()))
            account.applyFromFleet(pushback, until: until, logger: logger)
        }
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
