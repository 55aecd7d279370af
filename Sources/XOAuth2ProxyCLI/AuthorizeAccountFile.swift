import Accounts
import Foundation
import Ops
#if canImport(Glibc)
import Glibc
#endif

/// The account file `authorize` writes: `{"accounts": [ONE ACCOUNT]}`, which `--config`,
/// `--accounts-dir` and `XOAUTH2_PROXY_ACCOUNTS` all read unchanged.
struct AuthorizeAccountFile: Equatable {
    var email: String
    var provider: AuthorizeProvider
    var clientID: String
    var clientSecret: String?
    var tenant: String?
    var tokenURL: String?
    var refreshToken: String
    var password: String

    /// Field order as a person reads it: who, which app, then the secrets.
    var json: String {
        var fields: [(String, String)] = [("email", email), ("provider", provider.rawValue), ("client_id", clientID)]
        if let clientSecret { fields.append(("client_secret", clientSecret)) }
        if let tenant { fields.append(("tenant", tenant)) }
        if let tokenURL { fields.append(("token_url", tokenURL)) }
        fields.append(("refresh_token", refreshToken))
        fields.append(("password", password))
        var out = "{\n  \"accounts\": [\n    {\n"
        for (index, (name, value)) in fields.enumerated() {
            out += "      \"\(name)\": "
            JSONText.appendString(value, to: &out)
            out += index == fields.count - 1 ? "\n" : ",\n"
        }
        return out + "    }\n  ]\n}\n"
    }

    /// Loads the document with the proxy's own loader: what `serve` would say about it.
    func validate() throws(ConfigError) {
        _ = try AccountsConfigLoader.parse(json, source: "the account file")
    }

    /// A Kubernetes Secret key (`[-._a-zA-Z0-9]+`) that `--accounts-dir` reads: `user@example.com`
    /// becomes `user_example.com.json`.
    static func defaultFileName(for email: String) -> String {
        secretKey(email.lowercased()) + ".json"
    }

    static func secretKey(_ name: String) -> String {
        let kept = name.unicodeScalars.map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "-", "_": Character(scalar)
            default: "_"
            }
        }
        var key = String(kept)
        // `--accounts-dir` skips dot files.
        while key.hasPrefix(".") { key.removeFirst() }
        return key.isEmpty ? "account" : key
    }

    /// The line that loads `path` into the accounts Secret under a valid key.
    static func kubectlLine(path: String) -> String {
        let base = URL(fileURLWithPath: path).lastPathComponent
        var key = secretKey(base)
        if !key.hasSuffix(".json") { key += ".json" }
        return "kubectl create secret generic xoauth2-proxy-accounts --from-file=\(key)=\(shellQuoted(path))"
    }

    static func shellQuoted(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "-", "_", "/", "@", "+", ":", ",": true
            default: false
            }
        }
        return safe && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    enum WriteError: Error, CustomStringConvertible {
        case exists(String)
        case failed(String, String)

        var description: String {
            switch self {
            case .exists(let path): "\(path) exists; pass --force to replace it"
            case .failed(let path, let reason): "cannot write \(path): \(reason)"
            }
        }
    }

    /// Writes `contents` to `path` with mode 0600, atomically: a temporary file in the same
    /// directory, created 0600 from the start (never readable by others, not even for an
    /// instant), synced, then renamed over `path` (with `force`) or hard-linked to it, which
    /// fails if `path` exists: no window in which another file could be replaced.
    static func write(_ contents: String, to path: String, force: Bool) throws(WriteError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let temporary = directory + "/.\(URL(fileURLWithPath: path).lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .failed(path, Self.errnoText()) }
        var ok = false
        defer { if !ok { unlink(temporary) } }
        // The umask can only take bits away; fchmod makes the mode exactly 0600 whatever it is.
        guard fchmod(fd, 0o600) == 0 else { let reason = errnoText(); close(fd); throw .failed(path, reason) }
        var bytes = Array(contents.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { let reason = errnoText(); close(fd); throw .failed(path, reason) }
            written += result
        }
        bytes.removeAll()
        guard fsync(fd) == 0 else { let reason = errnoText(); close(fd); throw .failed(path, reason) }
        close(fd)
        if force {
            guard rename(temporary, path) == 0 else { throw .failed(path, errnoText()) }
        } else {
            guard link(temporary, path) == 0 else {
                if errno == EEXIST { throw .exists(path) }
                throw .failed(path, errnoText())
            }
            unlink(temporary)
        }
        ok = true
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
