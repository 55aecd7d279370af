/// What the load generator does: where to connect, how many sessions, when to stop, what to send.
///
/// Plain values, no argument parsing: the command line maps its flags onto this struct.
public struct LoadOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 2525
    /// Concurrent sessions (one TCP connection each at a time).
    public var connections = 10

    public enum Stop: Sendable, Hashable {
        /// Total messages across all sessions, counted after the warm-up.
        case messages(Int)
        /// Run time after the warm-up; no message starts after it (in fixed-rate mode: no slot is
        /// scheduled after it), messages in flight finish.
        case duration(Duration)
    }

    public var stop: Stop = .messages(1000)
    /// Bytes of the message as the recipient sees it (headers + body, CRLF lines of at most 78
    /// characters, some starting with "." so dot-stuffing is exercised).
    public var messageSize = 10_240
    public var recipients = 1

    public enum AuthMechanism: String, Sendable, CaseIterable {
        case plain, xoauth2
    }

    public var authMechanism: AuthMechanism = .plain
    /// `secret` is the password (PLAIN) or access token (XOAUTH2). Sessions take them round-robin.
    /// Empty: no AUTH at all (for servers that do not ask for it).
    public var credentials: [(user: String, secret: String)] = []
    /// STARTTLS before AUTH, trusting the system roots plus `caFile` (for driving the sandbox directly).
    public var startTLS = false
    public var caFile: String? = nil
    /// 0: a session keeps its connection; K: QUIT and reconnect after K messages.
    public var messagesPerSession = 0
    /// Fixed-rate (open-loop) mode: messages per second across all sessions. nil: closed loop,
    /// every session sends its next message as soon as the previous one is answered.
    public var rate: Double? = nil
    /// Nothing is recorded before the warm-up is over.
    public var warmup: Duration = .zero

    // Additions beyond the first brief.

    /// MAIL FROM address. nil: the session's credential user when it looks like an address,
    /// else `bench@example.com`.
    public var mailFrom: String? = nil
    /// Recipients are `bench-rcpt-N@recipientDomain`.
    public var recipientDomain = "example.net"
    /// Name sent in EHLO.
    public var heloName = "bench.localhost"
    /// Bound on every wait: connect, greeting, each command reply, the end-of-data reply.
    public var timeout: Duration = .seconds(30)
    /// First pause after a failed session; doubles per consecutive failure up to `maxReconnectDelay`.
    public var reconnectDelay: Duration = .milliseconds(100)
    public var maxReconnectDelay: Duration = .seconds(2)
    /// A session that failed to connect (or authenticate) this many times in a row gives up,
    /// so a run against a dead server ends instead of retrying for ever.
    public var maxConsecutiveFailures = 5

    public init() {}

    public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public func validate() throws(ValidationError) {
        func fail(_ message: String) -> ValidationError { ValidationError(message: message) }
        guard !host.isEmpty else { throw fail("host must not be empty") }
        guard (1...65535).contains(port) else { throw fail("port must be 1...65535") }
        guard connections >= 1 else { throw fail("connections must be at least 1") }
        switch stop {
        case .messages(let count):
            guard count >= 1 else { throw fail("message count must be at least 1") }
        case .duration(let duration):
            guard duration > .zero else { throw fail("duration must be positive") }
        }
        guard messageSize >= 1, messageSize <= 1 << 30 else { throw fail("message size must be 1 byte ... 1 GiB") }
        guard recipients >= 1 else { throw fail("recipients must be at least 1") }
        guard messagesPerSession >= 0 else { throw fail("messages per session must not be negative") }
        if let rate {
            guard rate.isFinite, rate > 0 else { throw fail("rate must be a positive number of messages per second") }
        }
        guard warmup >= .zero else { throw fail("warm-up must not be negative") }
        guard timeout > .zero else { throw fail("timeout must be positive") }
        guard reconnectDelay >= .zero, maxReconnectDelay >= reconnectDelay else {
            throw fail("reconnect delays must satisfy 0 <= reconnectDelay <= maxReconnectDelay")
        }
        guard maxConsecutiveFailures >= 1 else { throw fail("maxConsecutiveFailures must be at least 1") }
        if caFile != nil, !startTLS { throw fail("caFile is only used with startTLS") }
        for credential in credentials where credential.user.isEmpty {
            throw fail("credential user names must not be empty")
        }
    }

    /// An echo of the options for the report: no secrets (user names only as a count).
    public var echo: [String: String] {
        var echo: [String: String] = [
            "host": host,
            "port": String(port),
            "connections": String(connections),
            "messageSize": String(messageSize),
            "recipients": String(recipients),
            "auth": credentials.isEmpty ? "none" : authMechanism.rawValue,
            "credentials": String(credentials.count),
            "startTLS": String(startTLS),
            "messagesPerSession": messagesPerSession == 0 ? "unlimited" : String(messagesPerSession),
            "rate": rate.map { Self.format($0) } ?? "closed-loop",
            "warmup": Self.format(warmup),
            "timeout": Self.format(timeout),
        ]
        switch stop {
        case .messages(let count): echo["stop"] = "messages=\(count)"
        case .duration(let duration): echo["stop"] = "duration=\(Self.format(duration))"
        }
        if let caFile { echo["caFile"] = caFile }
        if let mailFrom { echo["mailFrom"] = mailFrom }
        return echo
    }

    static func format(_ duration: Duration) -> String { format(duration.seconds) + "s" }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

extension Duration {
    /// Whole nanoseconds (saturating far beyond any sensible run length).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
