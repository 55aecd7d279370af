import NIOCore

/// What the pool needs of a connection; a protocol so the pool is tested without sockets.
public protocol PooledConnection: Sendable {
    var isActive: Bool { get }
    /// Providers end sessions whose token expired, so connections retire before then.
    var tokenExpiresAt: ContinuousClock.Instant { get }
    func close()
    func quit() async
    /// The thread the connection lives on; a session on the same loop uses it without hops.
    var eventLoop: (any EventLoop)? { get }
    /// Which loop the connection lives on, as the pool compares them: `eventLoop`'s identity
    /// unless a test fake names one without running a loop.
    var eventLoopID: ObjectIdentifier? { get }
}

extension PooledConnection {
    public var eventLoop: (any EventLoop)? { nil }
    public var eventLoopID: ObjectIdentifier? { eventLoop.map { ObjectIdentifier($0) } }
}
