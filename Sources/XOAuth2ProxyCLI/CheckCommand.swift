import ArgumentParser
import FleetState
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Ops
import Relay

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Load the accounts, refresh every token (and with --smtp log in upstream); exit 3 if any fails.")

    @OptionGroup(title: "Accounts") var accounts: AccountSourceOptions

    @Flag(help: "Also log in to each provider with XOAUTH2, then QUIT.")
    var smtp = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Accounts checked at once.")
    var concurrency = 8

    @Option(help: "Directory of rotated refresh tokens, as for serve; rotations during the check are saved there.")
    var stateDir: String?

    @OptionGroup(title: "Upstream timeouts") var timeouts: TimeoutOptions

    @OptionGroup(title: "Fleet (limits shared by every replica)") var fleet: FleetOptions

    @Flag(help: "Log what happens (to standard output, before the report).")
    var verbose = false

    static let failedExitCode: Int32 = 3

    func run() async throws {
        let loaded = try accounts.load()
        guard concurrency > 0 else { throw StartupFailure.configuration("--concurrency: must be positive") }
        let stateURL = try fleet.url()
        var settings = ProxyRuntime.Configuration()
        try timeouts.apply(to: &settings)
        settings.stateDirectory = stateDir
        LoggingSetup.bootstrap(format: .automatic, level: verbose ? .debug : .critical)
        let logger = Logger(label: "xoauth2-proxy")
        let showProgress = isatty(2) != 0 && !json
        let total = loaded.directory.count
        let done = NIOLockedValueBox(0)
        let results: [AccountCheckResult]
        do {
            results = try await AccountChecker.run(loaded.directory, settings: settings, smtp: smtp, concurrency: concurrency,
                                                   group: MultiThreadedEventLoopGroup.singleton, logger: logger) { _ in
                guard showProgress else { return }
                let count = done.withLockedValue { $0 += 1; return $0 }
                FileHandle.standardError.write(Data("\rchecked \(count)/\(total)".utf8))
            }
        } catch {
            throw StartupFailure.configuration("\(error)")
        }
        if showProgress { FileHandle.standardError.write(Data("\r".utf8)) }
        var database: FleetDatabaseCheck?
        if let stateURL { database = await FleetDatabaseCheck.run(stateURL, logger: logger) }
        if let database {
            print(json ? Self.json(results, database: database) : Self.table(results) + "\nstate database \(database.database): \(database.summary)\n",
                  terminator: "")
        } else {
            print(json ? Self.json(results) : Self.table(results), terminator: "")
        }
        if !results.allSatisfy(\.passed) || database?.passed == false { throw ExitCode(Self.failedExitCode) }
    }

    static func table(_ results: [AccountCheckResult]) -> String {
        let header = ["account_id", "email", "provider", "token", "smtp", "error"]
        let rows = results.map { [$0.accountID, $0.email, $0.provider.rawValue, $0.token.rawValue, $0.smtp.rawValue, $0.error ?? ""] }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }.joined()
    }

    static func json(_ results: [AccountCheckResult]) -> String {
        var out = "["
        for (index, result) in results.enumerated() {
            if index > 0 { out += "," }
            out += "{\"account_id\":"
            JSONText.appendString(result.accountID, to: &out)
            out += ",\"email\":"
            JSONText.appendString(result.email, to: &out)
            out += ",\"provider\":\"\(result.provider.rawValue)\",\"token\":\"\(result.token.rawValue)\",\"smtp\":\"\(result.smtp.rawValue)\",\"error\":"
            if let error = result.error { JSONText.appendString(error, to: &out) } else { out += "null" }
            out += "}"
        }
        return out + "]\n"
    }

    /// With `--state-url`: the accounts' array and the database's state in one object.
    static func json(_ results: [AccountCheckResult], database: FleetDatabaseCheck) -> String {
        var out = "{\"state_database\":{\"url\":"
        JSONText.appendString(database.database, to: &out)
        out += ",\"passed\":\(database.passed),\"schema_version\":" + (database.recordedVersion.map(String.init) ?? "null")
        out += ",\"known_schema_version\":\(database.knownVersion),\"summary\":"
        JSONText.appendString(database.summary, to: &out)
        out += "},\"accounts\":" + json(results).dropLast() + "}\n"
        return out
    }
}
