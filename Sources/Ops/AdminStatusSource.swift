/// What the admin server asks the running proxy. Implemented by the relay; called from a
/// Swift task (never on an event loop), so it may take a lock but should not do I/O.
public protocol AdminStatusSource: Sendable {
    /// Whether this instance should receive traffic now, and why not.
    func readiness() -> Readiness
    /// The account table as a complete JSON document; the admin server sends it as is.
    func accountsJSON() -> [UInt8]
    /// Brings point-in-time gauges (connections, account states) up to date before a scrape.
    func refreshGauges()
}

extension AdminStatusSource {
    public func refreshGauges() {}
}

public struct Readiness: Sendable, Equatable {
    public var ready: Bool
    /// Short, human-readable causes (e.g. "no account has usable credentials"); when ready, what
    /// is degraded without failing readiness (usually nothing).
    public var reasons: [String]

    public init(ready: Bool, reasons: [String] = []) {
        self.ready = ready
        self.reasons = reasons
    }
}
