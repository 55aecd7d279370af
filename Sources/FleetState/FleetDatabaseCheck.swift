import Logging

/// What `check --state-url` reports about the fleet database: reachable with these
/// credentials, and the schema version it holds against the one this binary writes.
public struct FleetDatabaseCheck: Sendable {
    /// The URL as printed: never its password.
    public var database: String
    public var recordedVersion: Int?
    public var knownVersion: Int
    public var error: String?

    /// Reachable, and a schema `serve` can use (older ones it migrates at start).
    public var passed: Bool { error == nil }

    public var summary: String {
        if let error { return "unavailable: \(error)" }
        let recorded = recordedVersion ?? 0
        if recorded == 0 { return "reachable; no schema yet (serve creates version \(knownVersion) at start)" }
        if recorded < knownVersion { return "reachable; schema version \(recorded) (serve migrates it to \(knownVersion) at start)" }
        if recorded > knownVersion { return "reachable; schema version \(recorded) is newer than this binary's \(knownVersion) (it still works; upgrade it)" }
        return "reachable; schema version \(recorded) (current)"
    }

    /// Connects once, on a connection of its own, bounded by `timeout`; changes nothing.
    public static func run(_ url: FleetStateURL, timeout: Duration = .seconds(10), logger: Logger) async -> FleetDatabaseCheck {
        var configuration = FleetDatabaseConfiguration(url: url, replicaID: "check")
        configuration.connectTimeout = timeout
        let database = FleetDatabase(configuration: configuration, logger: logger)
        var report = FleetDatabaseCheck(database: "\(url)", recordedVersion: nil, knownVersion: FleetSchema.version, error: nil)
        do {
            report.recordedVersion = try await FleetSchema.recordedVersion(database, timeout: timeout)
        } catch {
            report.error = error.description
        }
        return report
    }
}
