import Foundation

/// Where this machine's PostgreSQL server programs are: the first directory on PATH holding
/// initdb, postgres and pg_ctl, else the newest /usr/lib/postgresql/*/bin (where Debian puts
/// them, off PATH).
public struct PostgresBinaries: Sendable, Hashable {
    public let directory: String
    public var initdb: String { directory + "/initdb" }
    public var postgres: String { directory + "/postgres" }
    public var pgCtl: String { directory + "/pg_ctl" }

    static let programs = ["initdb", "postgres", "pg_ctl"]

    public static let found: PostgresBinaries? = locate(
        path: ProcessInfo.processInfo.environment["PATH"] ?? "",
        versionedRoot: "/usr/lib/postgresql",
        isExecutable: { FileManager.default.isExecutableFile(atPath: $0) },
        list: { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] })

    static func locate(path: String, versionedRoot: String, isExecutable: (String) -> Bool, list: (String) -> [String]) -> PostgresBinaries? {
        for directory in path.split(separator: ":").map(String.init)
        where !directory.isEmpty && programs.allSatisfy({ isExecutable(directory + "/" + $0) }) {
            return PostgresBinaries(directory: directory)
        }
        // Newest major version first: "15" before "9.6", numerically.
        let versions = list(versionedRoot).sorted { version($0).lexicographicallyPrecedes(version($1)) }.reversed()
        for name in versions where programs.allSatisfy({ isExecutable("\(versionedRoot)/\(name)/bin/" + $0) }) {
            return PostgresBinaries(directory: "\(versionedRoot)/\(name)/bin")
        }
        return nil
    }

    private static func version(_ name: String) -> [Int] {
        name.split(separator: ".").map { Int($0) ?? -1 }
    }
}
