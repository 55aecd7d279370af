extension UpstreamPool {
    public struct Configuration: Sendable, Hashable {
        public var maxConnections: Int
        public var maxMessagesPerConnection: Int
        public var idleTimeout: Duration = .seconds(300)
        public var acquireTimeout: Duration = .seconds(30)
        /// Retire a connection this long before its token expires.
        public var tokenExpirySafety: Duration = .seconds(60)

        public init(maxConnections: Int, maxMessagesPerConnection: Int) {
            self.maxConnections = max(1, maxConnections)
            self.maxMessagesPerConnection = max(1, maxMessagesPerConnection)
        }
    }

    /// A connection lent to one transaction; give it back with `release`.
    public struct Lease: Sendable {
        public let connection: Connection
        public var messagesSent: Int
        /// The last user left a transaction open upstream: send RSET before MAIL.
        public var needsReset: Bool
        /// How long it sat idle before this lease; nil for a new connection.
        public var idleFor: Duration?
    }
}
