import NIOConcurrencyHelpers

/// Failed logins counted across connections, per login name and per client address: past the
/// budget, further attempts are refused before any password is checked, with a delay that
/// grows with each refused attempt. The same for names that exist and names that do not, so
/// the answer says nothing about which accounts there are.
///
/// Memory is bounded: at most `capacity` keys; when full, expired windows go first, then the
/// key seen longest ago.
public final class LoginFailureBudget: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Failures per key within `window` before attempts are refused.
        public var maxFailures = 10
        public var window: Duration = .seconds(300)
        public var capacity = 4096
        /// The delay before the first refusal's reply, doubling per refused attempt up to `maxDelay`.
        public var firstDelay: Duration = .seconds(1)
        public var maxDelay: Duration = .seconds(30)
        public init() {}
    }

    public enum Verdict: Sendable, Equatable {
        case allowed
        /// Answer only after `delay`, and without checking the password.
        case refused(delay: Duration)
    }

    /// What one failure meant, so a burst is logged once rather than per attempt.
    public struct Failure: Sendable, Equatable {
        /// The first failure of a key's window: worth a log line.
        public var startsBurst: Bool
        /// This failure used up a key's budget: worth a log line.
        public var exhaustsBudget: Bool

        public init(startsBurst: Bool, exhaustsBudget: Bool) {
            self.startsBurst = startsBurst
            self.exhaustsBudget = exhaustsBudget
        }
    }

    private struct Entry {
        var windowStart: ContinuousClock.Instant
        var lastSeen: ContinuousClock.Instant
        var failures: Int
    }

    public let configuration: Configuration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init(configuration: Configuration = .init(), clock: ResilienceClock = .system) {
        self.configuration = configuration
        self.now = clock.now
    }

    /// Before the password is checked. A refused attempt counts as a failure too, which is
    /// what makes the delay grow.
    public func check(name: String, address: String?) -> Verdict {
        let instant = now()
        let configuration = configuration
        return entries.withLockedValue { entries in
            var worst = 0
            for key in Self.keys(name: name, address: address) {
                guard var entry = entries[key], instant - entry.windowStart <= configuration.window else { continue }
                guard entry.failures >= configuration.maxFailures else { continue }
                entry.failures += 1
                entry.lastSeen = instant
                entries[key] = entry
                worst = max(worst, entry.failures - configuration.maxFailures)
            }
            guard worst > 0 else { return .allowed }
            let doublings = min(worst - 1, 30)
            let delay = configuration.firstDelay * (1 << doublings)
            return .refused(delay: min(delay, configuration.maxDelay))
        }
    }

    /// After a wrong password (or unknown name).
    public func recordFailure(name: String, address: String?) -> Failure {
        let instant = now()
        let configuration = configuration
        return entries.withLockedValue { entries in
            var failure = Failure(startsBurst: false, exhaustsBudget: false)
            for key in Self.keys(name: name, address: address) {
                var entry = entries[key] ?? Entry(windowStart: instant, lastSeen: instant, failures: 0)
                if instant - entry.windowStart > configuration.window {
                    entry = Entry(windowStart: instant, lastSeen: instant, failures: 0)
                }
                if entries[key] == nil, entries.count >= configuration.capacity {
                    Self.makeRoom(in: &entries, now: instant, window: configuration.window)
                }
                entry.failures += 1
                entry.lastSeen = instant
                entries[key] = entry
                if entry.failures == 1 { failure.startsBurst = true }
                if entry.failures == configuration.maxFailures { failure.exhaustsBudget = true }
            }
            return failure
        }
    }

    /// Keys tracked now (for tests and the bound).
    public var trackedKeys: Int { entries.withLockedValue { $0.count } }

    /// Names are case-insensitive logins and bounded in length, so a huge name costs no more.
    static func keys(name: String, address: String?) -> [String] {
        var keys = ["name:" + String(name.lowercased().prefix(320))]
        if let address { keys.append("address:" + address) }
        return keys
    }

    private static func makeRoom(in entries: inout [String: Entry], now: ContinuousClock.Instant, window: Duration) {
        let before = entries.count
        entries = entries.filter { now - $0.value.windowStart <= window }
        guard entries.count == before, let oldest = entries.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key else { return }
        entries.removeValue(forKey: oldest)
    }
}
