import Histogram

/// One session's results: latencies and final reply codes of its recorded messages, and why its
/// connections failed. Owned by one session; its message pump writes to it on the connection's
/// event loop while the session task waits for the pump, so it is never touched concurrently.
final class SessionStats: @unchecked Sendable {
    /// 1 µs ... 60 s at 3 significant digits; slower messages are recorded as 60 s.
    static let highestLatencyMicroseconds: UInt64 = 60_000_000

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestLatencyMicroseconds,
                          numberOfSignificantValueDigits: .three)
    }

    enum Outcome: Sendable, Hashable {
        /// The final reply of the message: the end-of-data reply, or the first refusal before it.
        case reply(Int)
        /// Transport failure: connection lost, timeout, unparsable reply.
        case error
    }

    var histogram = SessionStats.makeHistogram()
    /// Indexed by reply code (100...599); a flat array so recording does not hash.
    var replyCodes = [Int](repeating: 0, count: 600)
    var transportErrors = 0
    var connectionErrorReasons: [String: Int] = [:]

    func record(latencyNanoseconds: Int64, outcome: Outcome) {
        let microseconds = UInt64(max(0, (latencyNanoseconds + 500) / 1000))
        histogram.record(min(microseconds, Self.highestLatencyMicroseconds))
        switch outcome {
        case .reply(let code) where (0..<600).contains(code): replyCodes[code] += 1
        case .reply, .error: transportErrors += 1
        }
    }

    func connectionFailed(_ reason: String) {
        connectionErrorReasons[reason, default: 0] += 1
    }
}

/// Everything the sessions found, merged; the input of `LoadReport`.
struct RunTotals: Sendable {
    var histogram = SessionStats.makeHistogram()
    var replyCodes: [Int: Int] = [:]
    var transportErrors = 0
    var connectionErrors = 0
    var connectionErrorReasons: [String: Int] = [:]
    var elapsedSeconds: Double = 0
    var messageSize = 0

    init() {}

    init(merging sessions: [SessionStats], connectionErrors: Int, elapsedSeconds: Double, messageSize: Int) {
        for session in sessions {
            histogram.add(session.histogram)
            for (code, count) in session.replyCodes.enumerated() where count > 0 {
                replyCodes[code, default: 0] += count
            }
            transportErrors += session.transportErrors
            connectionErrorReasons.merge(session.connectionErrorReasons, uniquingKeysWith: +)
        }
        self.connectionErrors = connectionErrors
        self.elapsedSeconds = elapsedSeconds
        self.messageSize = messageSize
    }
}
