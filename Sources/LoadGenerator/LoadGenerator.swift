import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import SMTPNIO

/// Drives an SMTP server with `connections` concurrent sessions, each authenticating and then
/// sending messages back to back (pipelined when the server offers PIPELINING), in a closed loop
/// or at a fixed rate, and reports throughput, latency percentiles and reply codes.
public final class LoadGenerator: Sendable {
    public let options: LoadOptions
    private let group: any EventLoopGroup

    public init(options: LoadOptions, group: any EventLoopGroup) {
        self.options = options
        self.group = group
    }

    /// Runs to completion; `progress` is called about once a second.
    ///
    /// Throws only for invalid options or an unreadable `caFile`; a server that fails shows in
    /// the report (`connectionErrors`, `replyCodes["error"]`). Cancelling the task stops new
    /// messages; those in flight finish and the report covers what was done.
    public func run(progress: (@Sendable (LoadProgress) -> Void)? = nil) async throws -> LoadReport {
        try options.validate()
        let plan = try RunPlan(options: options, group: group)
        let connections = options.connections
        let state = RunState(start: .now(), warmup: options.warmup, stop: options.stop, rate: options.rate)

        let sessions: [SessionStats] = await withTaskCancellationHandler {
            await withTaskGroup(of: SessionStats?.self) { tasks in
                for index in 0..<connections {
                    tasks.addTask { await Session(index: index, plan: plan, state: state).run() }
                }
                if let progress {
                    tasks.addTask {
                        await Self.reportProgress(state: state, progress: progress)
                        return nil
                    }
                }
                var results: [SessionStats] = []
                while results.count < connections, let result = await tasks.next() {
                    if let result { results.append(result) }
                }
                tasks.cancelAll()
                return results
            }
        } onCancel: {
            state.stopNow()
        }

        let snapshot = state.snapshot()
        let end = snapshot.lastRecordedCompletion ?? .now()
        let elapsed = end > state.measureStart ? Double((end - state.measureStart).nanoseconds) / 1e9 : 0
        let totals = RunTotals(merging: sessions, connectionErrors: snapshot.counters.connectionErrors,
                               elapsedSeconds: elapsed, messageSize: plan.message.message.count)
        return LoadReport(totals: totals, options: options.echo)
    }

    private static func reportProgress(state: RunState, progress: @Sendable (LoadProgress) -> Void) async {
        var previous = state.snapshot().counters
        var previousTime = NIODeadline.now()
        while true {
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                return
            }
            let now = NIODeadline.now()
            let counters = state.snapshot().counters
            let interval = Double((now - previousTime).nanoseconds) / 1e9
            progress(LoadProgress(
                elapsedSeconds: Double((now - state.start).nanoseconds) / 1e9,
                warmingUp: now < state.measureStart,
                sent: counters.sent,
                accepted: counters.accepted,
                errors: counters.sent - counters.accepted,
                connectionErrors: counters.connectionErrors,
                messagesPerSecond: interval > 0 ? Double(counters.completedAll - previous.completedAll) / interval : 0))
            previous = counters
            previousTime = now
        }
    }
}

/// What every session of a run shares, prepared once.
struct RunPlan: Sendable {
    let options: LoadOptions
    let group: any EventLoopGroup
    let message: BenchMessage
    let tls: SMTPClientConnection.TLSMode
    let timeouts: SMTPClientConnection.Timeouts
    let recipientLines: [String]

    init(options: LoadOptions, group: any EventLoopGroup) throws {
        self.options = options
        self.group = group
        let headerFrom = options.mailFrom ?? options.credentials.first.map(\.user).flatMap { $0.contains("@") ? $0 : nil }
        self.message = BenchMessage(size: options.messageSize, from: headerFrom ?? Session.defaultSender)
        if options.startTLS {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            if let caFile = options.caFile {
                configuration.additionalTrustRoots = [.file(caFile)]
            }
            tls = .startTLS(try NIOSSLContext(configuration: configuration))
        } else {
            tls = .none
        }
        let step = TimeAmount(options.timeout)
        var timeouts = SMTPClientConnection.Timeouts()
        timeouts.connect = step
        timeouts.greeting = step
        timeouts.command = step
        timeouts.dataStart = step
        timeouts.dataBlock = step
        timeouts.dataEnd = step
        self.timeouts = timeouts
        recipientLines = (1...options.recipients).map { "RCPT TO:<bench-rcpt-\($0)@\(options.recipientDomain)>" }
    }
}

/// One of the concurrent sessions: connect, authenticate, pump messages; on failure back off
/// and reconnect; give up after `maxConsecutiveFailures` failed attempts in a row.
struct Session: Sendable {
    static let defaultSender = "bench@example.com"

    enum SetupError: Error, CustomStringConvertible {
        case authRefused(Int)
        var description: String {
            switch self {
            case .authRefused(let code): "auth \(code)"
            }
        }
    }

    let index: Int
    let plan: RunPlan
    let state: RunState

    private var credential: (user: String, secret: String)? {
        let credentials = plan.options.credentials
        return credentials.isEmpty ? nil : credentials[index % credentials.count]
    }

    private var sender: String {
        plan.options.mailFrom ?? credential.map(\.user).flatMap { $0.contains("@") ? $0 : nil } ?? Self.defaultSender
    }

    func run() async -> SessionStats {
        let stats = SessionStats()
        let options = plan.options
        var failures = 0
        var delay = options.reconnectDelay
        while !Task.isCancelled, state.hasWork(now: .now()) {
            let connection: SMTPClientConnection
            do {
                connection = try await connect()
            } catch {
                state.connectionError()
                stats.connectionFailed(Self.reason(error))
                failures += 1
                if failures >= options.maxConsecutiveFailures { break }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.maxReconnectDelay)
                continue
            }
            failures = 0
            delay = options.reconnectDelay
            let pump = MessagePump.Plan(
                connection: connection,
                mailLine: mailLine(capabilities: connection.capabilities),
                recipientLines: plan.recipientLines,
                body: plan.message.wire,
                pipelining: connection.capabilities.pipelining,
                messageLimit: options.messagesPerSession,
                endOfDataTimeout: plan.timeouts.dataEnd)
            let end: MessagePump.End
            do {
                end = try await connection.eventLoop.flatSubmit { [state] in
                    MessagePump(plan: pump, state: state, stats: stats).start()
                }.get()
            } catch {
                end = .failed("lost: \(error)")
            }
            switch end {
            case .finished:
                await connection.quit()
                return stats
            case .sessionLimit:
                await connection.quit()
            case .failed(let reason):
                connection.close()
                state.connectionError()
                stats.connectionFailed(reason)
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.maxReconnectDelay)
            }
        }
        return stats
    }

    private func connect() async throws -> SMTPClientConnection {
        let configuration = SMTPClientConnection.Configuration(
            host: plan.options.host, port: plan.options.port, tls: plan.tls,
            heloName: plan.options.heloName, timeouts: plan.timeouts)
        let connection = try await SMTPClientConnection.connect(configuration, group: plan.group)
        guard let credential else { return connection }
        do {
            let reply: SMTPReply
            switch plan.options.authMechanism {
            case .plain:
                let response = SASL.encodeBase64("\u{0}\(credential.user)\u{0}\(credential.secret)")
                reply = try await connection.send("AUTH PLAIN \(response)", step: "AUTH").get()
            case .xoauth2:
                reply = try await connection.authenticateXOAUTH2(email: credential.user, accessToken: credential.secret)
            }
            guard reply.code == 235 else { throw SetupError.authRefused(reply.code) }
            return connection
        } catch {
            await connection.quit()
            throw error
        }
    }

    private func mailLine(capabilities: EHLOCapabilities) -> String {
        var line = "MAIL FROM:<\(sender)>"
        if capabilities.maxMessageSize != nil { line += " SIZE=\(plan.message.wireSize)" }
        return line
    }

    static func reason(_ error: any Error) -> String {
        if let setup = error as? SetupError { return setup.description }
        return "connect: " + String(String(describing: error).prefix(160))
    }
}
