/// A directory of account files, typically a mounted Kubernetes Secret. Such a mount looks
/// like this:
///
///     dir/..2026_11_23_10_00_00.123/sales.json   the real files, one folder per version
///     dir/..data -> ..2026_11_23_10_00_00.123    swapped atomically on every update
///     dir/sales.json -> ..data/sales.json        one symlink per key
///
/// Only the key symlinks are read. Everything starting with "." is skipped, which leaves out
/// `..data` and the versioned folders (otherwise each account would be read twice) as well
/// as editor and dotfile litter.
enum AccountsDirectorySource {
    static let fileExtension = ".json"

    /// The account files in `directory`, sorted by name (byte order) so the load order, and
    /// therefore error reports and the fingerprint, do not depend on the file system.
    static func accountFiles(in directory: String, log: inout ReadLog) throws(ConfigError) -> [String] {
        let names: [String]
        do throws(FileReading.Failure) {
            names = try FileReading.entryNames(inDirectory: directory)
        } catch {
            throw ConfigError(source: directory, message: "cannot read directory: \(error.reason)")
        }
        log.directory(directory)

        let candidates = names
            .filter { !$0.hasPrefix(".") && $0.hasSuffix(fileExtension) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var paths: [String] = []
        for name in candidates {
            let path = joinedPath(directory, name)
            // Gone since the listing: the directory is being updated; the next poll sees the result.
            guard let kind = try? FileReading.entryKind(atPath: path) else { continue }
            switch kind {
            case .regularFile:
                paths.append(path)
            case .symbolicLink:
                if isKeyBeingRemoved(path) { continue }
                // Any other broken or unreadable link is reported when the file is read.
                paths.append(path)
            case .directory, .other:
                continue
            }
        }
        guard !paths.isEmpty else {
            throw ConfigError(
                source: directory,
                message: "no account files: expected at least one *\(fileExtension) file (names starting with \".\" are ignored)"
            )
        }
        return paths
    }

    /// During a Secret update the kubelet swaps `..data` first and removes the symlinks of
    /// deleted keys afterwards, so for a moment such a key points into `..data` at nothing.
    /// That account is on its way out; reading it as an error would fail a reload that the
    /// next poll would get right anyway.
    private static func isKeyBeingRemoved(_ path: String) -> Bool {
        guard !FileReading.exists(atPath: path), let target = FileReading.symbolicLinkTarget(atPath: path) else { return false }
        return target.hasPrefix("..data/")
    }
}
