extension CircuitBreaker {
    /// A change between closed, open and half-open, reported so that the relay logs "breaker
    /// opened" once rather than for every rejected request.
    public struct Transition: Sendable, Hashable {
        /// The breaker's name.
        public let breaker: String
        public let from: StateName
        public let to: StateName
        /// How long the breaker will reject, when `to` is `.open`; nil otherwise.
        public let coolDown: Duration?

        public init(breaker: String, from: StateName, to: StateName, coolDown: Duration? = nil) {
            self.breaker = breaker
            self.from = from
            self.to = to
            self.coolDown = coolDown
        }
    }
}
