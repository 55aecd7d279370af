import NIOConcurrencyHelpers

/// Stops sending work to a host (an upstream SMTP server, a token endpoint) that keeps failing,
/// and lets a single probe find out when it works again.
///
/// - Closed: everything is allowed; `failureThreshold` consecutive failures open it.
/// - Open: everything is rejected until the cool-down ends. The n-th consecutive opening waits
///   `coolDown.ceiling(afterFailures: n)`: 5 s, 10 s, 20 s, … up to 300 s by default.
/// - Half-open: the first caller after the cool-down is the probe; others are rejected until the
///   probe reports or `probeTimeout` passes, after which another caller becomes the probe.
///
/// Outcomes carry no identity, so late reports (from requests allowed before the breaker opened)
/// cannot be told apart from current ones. They are handled so that state stays sane:
/// - A success always closes the breaker and resets the cool-down: the host evidently works.
/// - A failure while open is ignored: the breaker is already open, and extending the cool-down on
///   stale news would only delay recovery.
/// - A failure while half-open is taken as the probe's failure and reopens with the next, longer
///   cool-down; if it was in fact a late report, erring towards waiting is the safe side.
public final class CircuitBreaker: Sendable {
    /// The guarded host or endpoint, as given; used in transitions and status pages.
    public let name: String
    /// The configuration in force, with out-of-range values clamped.
    public let configuration: Configuration
    private let clock: ResilienceClock
    private let onTransition: (@Sendable (Transition) -> Void)?
    private let phase: NIOLockedValueBox<Phase>

    private enum Phase: Sendable {
        case closed(failures: Int)
        /// `openings` counts consecutive openings without a success in between; it picks the cool-down.
        case open(until: ContinuousClock.Instant, openings: Int)
        case halfOpen(probeDeadline: ContinuousClock.Instant, openings: Int)
    }

    /// - Parameter onTransition: called outside the breaker's lock after every change between
    ///   closed, open and half-open, e.g. to log it.
    public init(name: String, configuration: Configuration = .init(), clock: ResilienceClock = .system,
                onTransition: (@Sendable (Transition) -> Void)? = nil) {
        self.name = name
        self.configuration = configuration.clamped
        self.clock = clock
        self.onTransition = onTransition
        self.phase = NIOLockedValueBox(.closed(failures: 0))
    }

    /// Whether the caller may contact the host now. A caller given `.allowed` or `.probe` must report
    /// the outcome with `recordSuccess()` or `recordFailure()`.
    public func permit() -> Permit {
        let now = clock.now()
        let configuration = self.configuration
        let (permit, transition): (Permit, Transition?) = phase.withLockedValue { phase in
            switch phase {
            case .closed:
                return (.allowed, nil)
            case .open(let until, let openings):
                if now < until { return (.rejected(retryAfter: until - now), nil) }
                phase = .halfOpen(probeDeadline: now + configuration.probeTimeout, openings: openings)
                return (.probe, Transition(breaker: name, from: .open, to: .halfOpen))
            case .halfOpen(let deadline, let openings):
                if now >= deadline {
                    // The previous probe is presumed lost.
                    phase = .halfOpen(probeDeadline: now + configuration.probeTimeout, openings: openings)
                    return (.probe, nil)
                }
                // A probe usually reports long before its timeout; the last cool-down is a better
                // hint of when to look again, and the timeout bounds it.
                let hint = min(deadline - now, configuration.coolDown.ceiling(afterFailures: openings))
                return (.rejected(retryAfter: hint), nil)
            }
        }
        if let transition { onTransition?(transition) }
        return permit
    }

    /// The host worked: close, forget failures and reset the cool-down.
    public func recordSuccess() {
        let transition: Transition? = phase.withLockedValue { phase in
            let from: StateName
            switch phase {
            case .closed: from = .closed
            case .open: from = .open
            case .halfOpen: from = .halfOpen
            }
            phase = .closed(failures: 0)
            return from == .closed ? nil : Transition(breaker: name, from: from, to: .closed)
        }
        if let transition { onTransition?(transition) }
    }

    /// The host failed (connection refused, timeout, 4xx/5xx that means the host, not the message).
    public func recordFailure() {
        let now = clock.now()
        let configuration = self.configuration
        let transition: Transition? = phase.withLockedValue { phase in
            switch phase {
            case .closed(let failures):
                let failures = failures + 1
                guard failures >= configuration.failureThreshold else {
                    phase = .closed(failures: failures)
                    return nil
                }
                let coolDown = configuration.coolDown.ceiling(afterFailures: 1)
                phase = .open(until: now + coolDown, openings: 1)
                return Transition(breaker: name, from: .closed, to: .open, coolDown: coolDown)
            case .open:
                return nil
            case .halfOpen(_, let openings):
                let openings = openings < .max ? openings + 1 : openings
                let coolDown = configuration.coolDown.ceiling(afterFailures: openings)
                phase = .open(until: now + coolDown, openings: openings)
                return Transition(breaker: name, from: .halfOpen, to: .open, coolDown: coolDown)
            }
        }
        if let transition { onTransition?(transition) }
    }

    /// Rejects until `until`, as though this breaker had opened itself: for an opening another
    /// replica of the fleet saw. An opening already lasting as long is kept; a half-open probe
    /// in flight still reports, and its success closes the breaker as usual. The next failure
    /// after `until` reopens with the cool-down that follows the ones counted so far.
    /// Returns whether the breaker's state changed.
    @discardableResult
    public func forceOpen(until: ContinuousClock.Instant) -> Bool {
        let now = clock.now()
        guard until > now else { return false }
        let (changed, transition): (Bool, Transition?) = phase.withLockedValue { phase in
            switch phase {
            case .closed:
                phase = .open(until: until, openings: 1)
                return (true, Transition(breaker: name, from: .closed, to: .open, coolDown: until - now))
            case .open(let current, let openings):
                guard current < until else { return (false, nil) }
                phase = .open(until: until, openings: openings)
                return (true, nil)
            case .halfOpen(_, let openings):
                phase = .open(until: until, openings: openings)
                return (true, Transition(breaker: name, from: .halfOpen, to: .open, coolDown: until - now))
            }
        }
        if let transition { onTransition?(transition) }
        return changed
    }

    /// The current state, for status pages. Reading it changes nothing: an open breaker whose
    /// cool-down is over still reads as open until the next `permit()` makes it half-open.
    public var state: State {
        phase.withLockedValue { phase in
            switch phase {
            case .closed(let failures): .closed(consecutiveFailures: failures)
            case .open(let until, _): .open(until: until)
            case .halfOpen: .halfOpen
            }
        }
    }
}
