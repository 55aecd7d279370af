import ArgumentParser
import Foundation
import LoadGenerator
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Drive an SMTP server with many concurrent sessions and report throughput and latency.")

    @Option(help: "Server address.")
    var host = "127.0.0.1"

    @Option(help: "Server port.")
    var port = 2525

    @Option(help: "Concurrent sessions.")
    var connections = 10

    @Option(help: "Messages to send in all (default 1000 unless --duration is given).")
    var messages: Int?

    @Option(help: "Seconds to run instead of a message count.")
    var duration: Double?

    @Option(help: "Seconds of warm-up before results are recorded.")
    var warmup: Double = 0

    @Option(help: "Message size in octets.")
    var size = 10_240

    @Option(help: "Recipients per message.")
    var recipients = 1

    @Option(help: "EMAIL:SECRET to log in with (password for plain, access token for xoauth2).")
    var auth: String?

    @Option(help: "A JSON list of {\"email\", \"password\"} (or an accounts.json); sessions are spread across them.")
    var accounts: String?

    @Option(help: "plain or xoauth2.")
    var authMechanism = "plain"

    @Flag(help: "Use STARTTLS (to drive the sandbox provider directly).")
    var starttls = false

    @Option(help: "Extra trust anchor (PEM) for STARTTLS.")
    var caFile: String?

    @Option(help: "QUIT and reconnect after this many messages (0: never).")
    var messagesPerSession = 0

    @Option(help: "Fixed-rate (open-loop) mode: messages per second across all sessions.")
    var rate: Double?

    @Option(help: "Write the report as JSON to this file.")
    var json: String?

    func run() async throws {
        var options = LoadOptions()
        options.host = host
        options.port = port
        options.connections = connections
        if let duration {
            options.stop = .duration(.milliseconds(Int64(duration * 1000)))
        } else {
            options.stop = .messages(messages ?? 1000)
        }
        options.warmup = .milliseconds(Int64(warmup * 1000))
        options.messageSize = size
        options.recipients = recipients
        guard let mechanism = LoadOptions.AuthMechanism(rawValue: authMechanism) else {
            throw StartupFailure.configuration("--auth-mechanism: plain or xoauth2")
        }
        options.authMechanism = mechanism
        options.startTLS = starttls
        options.caFile = caFile
        options.messagesPerSession = messagesPerSession
        options.rate = rate
        options.credentials = try credentials()
        do {
            try options.validate()
        } catch {
            throw StartupFailure.configuration(error.description)
        }
        let generator = LoadGenerator(options: options, group: MultiThreadedEventLoopGroup.singleton)
        let live = isatty(2) != 0
        let showProgress: @Sendable (LoadProgress) -> Void = { progress in
            FileHandle.standardError.write(Data(Self.progressLine(progress).utf8))
        }
        let report = try await generator.run(progress: live ? showProgress : nil)
        if live { FileHandle.standardError.write(Data("\n".utf8)) }
        if let json {
            try report.jsonData().write(to: URL(fileURLWithPath: json))
        }
        print(Self.summary(report))
    }

    static func progressLine(_ progress: LoadProgress) -> String {
        let phase = progress.warmingUp ? "warm-up" : "sent \(progress.sent)"
        return "\r\(Int(progress.elapsedSeconds))s  \(phase)  accepted \(progress.accepted)  errors \(progress.errors)"
            + "  connection errors \(progress.connectionErrors)  \(Int(progress.messagesPerSecond)) msg/s   "
    }

    static func summary(_ report: LoadReport) -> String {
        let latency = report.latencyMicroseconds
        func ms(_ key: String) -> String { latency[key].map { String(format: "%.2f", Double($0) / 1000) } ?? "-" }
        let codes = report.replyCodes.keys.sorted().map { "\($0): \(report.replyCodes[$0] ?? 0)" }.joined(separator: ", ")
        return """
            messages: \(report.messagesSent) sent, \(report.messagesAccepted) accepted in \(String(format: "%.1f", report.elapsedSeconds)) s
            throughput: \(String(format: "%.0f", report.messagesPerSecond)) msg/s, \(String(format: "%.1f", report.megabytesPerSecond)) MB/s
            latency (MAIL sent to final reply) ms: p50 \(ms("p50"))  p90 \(ms("p90"))  p99 \(ms("p99"))  p99.9 \(ms("p99.9"))  max \(ms("max"))
            replies: \(codes.isEmpty ? "none" : codes)
            connection errors: \(report.connectionErrors)
            """
    }

    private func credentials() throws -> [(user: String, secret: String)] {
        if let auth {
            guard let colon = auth.firstIndex(of: ":") else { throw StartupFailure.configuration("--auth: EMAIL:SECRET") }
            return [(String(auth[..<colon]), String(auth[auth.index(after: colon)...]))]
        }
        guard let accounts else { return [] }
        let list = try AccountListFile.entries(accounts)
        let pairs = list.compactMap { entry -> (user: String, secret: String)? in
            guard let email = entry["email"] as? String, let password = entry["password"] as? String else { return nil }
            return (email, password)
        }
        guard !pairs.isEmpty else { throw StartupFailure.configuration("\(accounts): no entries with email and password") }
        return pairs
    }
}
