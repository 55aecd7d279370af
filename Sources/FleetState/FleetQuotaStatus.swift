import Foundation

/// Whether a replica's quotas come from the fleet database, for `/readyz` reasons and metrics.
public enum FleetQuotaState: Sendable, Hashable, CustomStringConvertible {
    case connected
    /// The last lease call failed: held leases are spent until they expire, then the local
    /// share decides. `reason` holds no secret (see `FleetStateError`).
    case degraded(reason: String, since: Date)

    public var isConnected: Bool { self == .connected }

    public var description: String {
        switch self {
        case .connected: "connected"
        case .degraded(let reason, _): "degraded: \(reason)"
        }
    }
}

/// Counts since start, for metrics.
public struct FleetQuotaStatistics: Sendable, Hashable {
    /// Messages (per window) taken from a held lease: no database round trip.
    public var spentFromLeases = 0
    /// Messages (per window) admitted under the local share, the database being away or slow.
    public var admittedOnLocalShare = 0
    public var refused = 0
    /// Messages that found no lease and waited for one.
    public var waitedForLease = 0
    /// Lease calls, and those that failed (timeout, unreachable, error).
    public var leaseCalls = 0
    public var leaseFailures = 0
    public var givenBack = 0

    public init() {}
}
