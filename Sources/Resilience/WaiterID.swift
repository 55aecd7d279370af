/// Names one caller waiting for a grant, so a timeout or a cancellation can find it again.
public struct WaiterID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public var description: String { "waiter \(rawValue)" }
}

/// Why a wait ended without a grant.
public enum WaitAbandonment: Error, Sendable, Hashable {
    case timedOut
    case cancelled
}
