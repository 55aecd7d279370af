/// When to poll the token endpoint during a device authorization grant, and what each reply
/// means (RFC 8628 §3.4-3.5). Pure: the caller sleeps, sends and reads the clock, so every
/// provider answer is tested without sockets or waiting.
///
/// Invariants: never two polls closer than the current interval; no poll at or after the
/// code's expiry; `slow_down` lengthens the interval for good; a run of transient failures is
/// bounded by `maxConsecutiveFailures` as well as by the expiry.
struct DeviceAuthorizationPoller {
    enum Action: Equatable {
        case sleep(Duration)
        case poll
        case finished(ConsentTokens)
        case failed(ConsentFailure)
    }

    /// RFC 8628 §3.5: `slow_down` adds 5 seconds to this and every later interval.
    static let slowDownIncrement: Duration = .seconds(5)
    /// No provider asks for more; past it a misbehaving one would stretch the wait past sense.
    static let maximumInterval: Duration = .seconds(300)

    private(set) var interval: Duration
    let deadline: ContinuousClock.Instant
    let maxConsecutiveFailures: Int
    private(set) var consecutiveFailures = 0

    init(interval: Duration, expiresIn: Duration, startedAt: ContinuousClock.Instant, maxConsecutiveFailures: Int = 5) {
        self.interval = interval
        self.deadline = startedAt + expiresIn
        self.maxConsecutiveFailures = max(1, maxConsecutiveFailures)
    }

    /// The user cannot have approved yet: wait one interval before the first poll.
    func start() -> Action {
        .sleep(interval)
    }

    /// After each sleep.
    func woke(now: ContinuousClock.Instant) -> Action {
        now >= deadline ? .failed(Self.expiredFailure) : .poll
    }

    mutating func received(_ reply: ConsentTokenReply) -> Action {
        switch reply {
        case .tokens(let tokens):
            return .finished(tokens)
        case .failure(let failure):
            return .failed(failure)
        case .transient(let reason):
            return failedOnce(reason)
        case .oauthError(let code, let detail):
            switch code {
            case "authorization_pending":
                consecutiveFailures = 0
                return .sleep(interval)
            case "slow_down":
                consecutiveFailures = 0
                interval = min(interval + Self.slowDownIncrement, Self.maximumInterval)
                return .sleep(interval)
            case "expired_token":
                return .failed(Self.expiredFailure)
            case "access_denied", "authorization_declined":
                return .failed(.denied(detail))
            default:
                return .failed(.rejected(code: code, detail: detail))
            }
        }
    }

    /// The request never got an answer (connection refused, timeout).
    mutating func transportFailed(_ reason: String) -> Action {
        failedOnce(reason)
    }

    private mutating func failedOnce(_ reason: String) -> Action {
        consecutiveFailures += 1
        guard consecutiveFailures < maxConsecutiveFailures else {
            return .failed(.unavailable("\(reason) (\(consecutiveFailures) attempts in a row)"))
        }
        return .sleep(interval)
    }

    static let expiredFailure = ConsentFailure.expired("the code expired before it was approved (expired_token); run authorize again")
}
