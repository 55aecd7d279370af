import ArgumentParser
import FleetState
import Relay

/// `--state-url` and its companions: one mailbox's limits shared by every replica of a fleet.
struct FleetOptions: ParsableArguments {
    @Option(help: "PostgreSQL shared by every replica: postgres://USER[:PASSWORD]@HOST[:PORT]/DB?sslmode=verify-full|require|disable. Prefer --state-url-file when it holds a password.")
    var stateURL: String?

    @Option(help: "File holding the --state-url (a mounted Secret).")
    var stateURLFile: String?

    @Option(help: "File holding the 32-byte key (raw, 64 hex digits or base64) that encrypts tokens in the state database; with it, access tokens and rotated refresh tokens are shared by the fleet, without it only limits are.")
    var stateKeyFile: String?

    @Option(help: "Replicas expected in the fleet: while the state database is away, each replica sends at most limit / N per window.")
    var fleetSizeHint = 10

    @Option(help: "Milliseconds a message waits, at most, on the state database (a lease call); past it the held leases and the local share decide.")
    var stateTimeoutMs = 50

    @Flag(help: "Fail /readyz while the state database is away (by default it is named in /readyz's reasons and the relay keeps relaying under the local share).")
    var fleetReadinessRequiresDatabase = false

    /// The database to share state through; nil without either option.
    func url() throws -> FleetStateURL? {
        switch (stateURL, stateURLFile) {
        case (nil, nil):
            return nil
        case (.some, .some):
            throw StartupFailure.configuration("--state-url and --state-url-file: give one of them, not both")
        case (let text?, nil):
            do { return try FleetStateURL(parsing: text) } catch { throw StartupFailure.configuration("--state-url: \(error)") }
        case (nil, let path?):
            do { return try FleetStateURL(contentsOfFile: path) } catch { throw StartupFailure.configuration("--state-url-file: \(error)") }
        }
    }

    func apply(to settings: inout ProxyRuntime.Configuration) throws {
        guard let url = try url() else {
            if stateKeyFile != nil { throw StartupFailure.configuration("--state-key-file: needs --state-url or --state-url-file") }
            return
        }
        guard fleetSizeHint >= 1 else { throw StartupFailure.configuration("--fleet-size-hint: must be at least 1") }
        guard (1...60_000).contains(stateTimeoutMs) else { throw StartupFailure.configuration("--state-timeout-ms: must be 1 to 60000") }
        var fleet = FleetSettings(url: url)
        fleet.fleetSizeHint = fleetSizeHint
        fleet.readinessRequiresDatabase = fleetReadinessRequiresDatabase
        fleet.database.operationTimeout = .milliseconds(stateTimeoutMs)
        if let stateKeyFile {
            do { fleet.stateKey = try StateKey(contentsOf: stateKeyFile) } catch { throw StartupFailure.configuration("--state-key-file: \(error)") }
        }
        settings.fleet = fleet
    }
}
