import Foundation

/// What `FleetQuota` decided for one message.
public enum FleetQuotaDecision: Sendable {
    case granted(FleetQuotaSpend)
    /// The window that had nothing left: the fleet's, or this replica's local share.
    case refused(QuotaWindow)
    /// A window had no lease; the lease calls asked for it are these (each bounded by `maximumWait`).
    case pending([Task<Void, Never>])

    public var isGranted: Bool {
        if case .granted = self { return true }
        return false
    }
}

/// What a granted message took, to refund it if the provider refuses the message.
public struct FleetQuotaSpend: Sendable {
    struct Part: Sendable {
        var key: FleetQuota.SlotKey
        /// Nil: taken from the local share.
        var lease: UUID?
        var bucket: Int64
    }

    public let count: Int
    let parts: [Part]

    /// Whether any window took from the local share rather than a lease.
    public var usedLocalShare: Bool { parts.contains { $0.lease == nil } }
}
