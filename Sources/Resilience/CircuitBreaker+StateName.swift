extension CircuitBreaker {
    /// A state without its details, for transitions and log lines.
    public enum StateName: String, Sendable, Hashable {
        case closed
        case open
        case halfOpen = "half-open"
    }
}
