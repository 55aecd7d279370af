/// `tls_ca_file` is checked when the config loads, not when the first message needs an
/// upstream connection: a wrong path should stop startup, not bounce mail hours later.
enum CAFileCheck {
    static let pemCertificateMarker = Array("-----BEGIN CERTIFICATE-----".utf8)

    /// Large CA bundles are a few hundred KiB; the first certificate is near the start anyway.
    static let inspectedPrefix = 4 * 1024 * 1024

    /// Relative paths are taken relative to the directory holding accounts.json (when
    /// known), so the config works no matter which directory the proxy starts in.
    static func resolve(_ path: String, baseDirectory: String?) -> String {
        guard !path.hasPrefix("/"), let baseDirectory, !baseDirectory.isEmpty else { return path }
        return baseDirectory.hasSuffix("/") ? baseDirectory + path : baseDirectory + "/" + path
    }

    /// The path itself is not secret and is quoted so a surprising relative resolution is
    /// visible in the message.
    /// Records what was read, so a replaced CA bundle changes the load's fingerprint.
    static func problem(atPath path: String, log: inout ReadLog) -> String? {
        let prefix: [UInt8]
        do throws(FileReading.Failure) {
            prefix = try FileReading.readPrefix(path: path, count: inspectedPrefix)
        } catch {
            return "cannot read \(quotedForMessage(path, limit: 512)): \(error.reason)"
        }
        log.file(path, bytes: prefix)
        guard contains(prefix, pemCertificateMarker) else {
            return "\(quotedForMessage(path, limit: 512)) does not contain a PEM certificate (\"-----BEGIN CERTIFICATE-----\")"
        }
        return nil
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
