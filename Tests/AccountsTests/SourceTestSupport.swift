import Foundation
import Testing
import Accounts

/// Loads and returns the error; records a failure if loading succeeded. Every error is
/// checked for leaked secrets.
func sourceError(_ sources: AccountSources, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let loaded = try AccountSourceLoader.load(sources)
        Issue.record("expected a ConfigError, got \(loaded.directory.count) account(s)", sourceLocation: sourceLocation)
        return nil
    } catch {
        expectNoSecrets(in: error, sourceLocation: sourceLocation)
        return error
    }
}

/// The minimal environment for a valid single gmail account described by variables.
func accountEnvironment(email: String = "env@example.com") -> [String: String] {
    [
        "XOAUTH2_PROXY_ACCOUNT_EMAIL": email,
        "XOAUTH2_PROXY_ACCOUNT_PROVIDER": "gmail",
        "XOAUTH2_PROXY_ACCOUNT_CLIENT_ID": "client-id-123.apps.googleusercontent.com",
        "XOAUTH2_PROXY_ACCOUNT_CLIENT_SECRET": Secrets.clientSecret,
        "XOAUTH2_PROXY_ACCOUNT_REFRESH_TOKEN": Secrets.refreshToken,
        "XOAUTH2_PROXY_ACCOUNT_PASSWORD": Secrets.password,
    ]
}

extension URL {
    func writing(_ text: String, to name: String) throws -> URL {
        let file = appendingPathComponent(name)
        try Data(text.utf8).write(to: file)
        return file
    }
}

/// A directory laid out and updated the way the kubelet mounts a Secret: each version in a
/// `..<timestamp>` folder, `..data` pointing at the current one (swapped by renaming a fresh
/// symlink over it, which is atomic), and one `key -> ..data/key` symlink per key.
struct SecretMount {
    let root: URL
    private var version = 0
    private var currentFolder: String?
    private var keys: Set<String> = []

    init(root: URL) {
        self.root = root
    }

    var path: String { root.path }

    /// One complete update. With `removeStaleKeys: false` it stops where the kubelet has
    /// swapped `..data` but not yet deleted the symlinks of removed keys.
    mutating func update(_ files: [String: String], removeStaleKeys: Bool = true) throws {
        let manager = FileManager.default
        version += 1
        let folder = String(format: "..2026_11_23_10_00_%02d.%03d", version, version * 7)
        let folderURL = root.appendingPathComponent(folder)
        try manager.createDirectory(at: folderURL, withIntermediateDirectories: false)
        for (name, content) in files {
            try Data(content.utf8).write(to: folderURL.appendingPathComponent(name))
        }

        let temporaryLink = root.appendingPathComponent("..data_tmp").path
        try manager.createSymbolicLink(atPath: temporaryLink, withDestinationPath: folder)
        guard rename(temporaryLink, root.appendingPathComponent("..data").path) == 0 else {
            throw CocoaError(.fileWriteUnknown)
        }

        for name in files.keys where !keys.contains(name) {
            try manager.createSymbolicLink(atPath: root.appendingPathComponent(name).path, withDestinationPath: "..data/" + name)
        }
        if removeStaleKeys {
            for name in keys where files[name] == nil {
                try manager.removeItem(atPath: root.appendingPathComponent(name).path)
            }
            keys = Set(files.keys)
        } else {
            keys.formUnion(files.keys)
        }
        if let currentFolder {
            try manager.removeItem(at: root.appendingPathComponent(currentFolder))
        }
        currentFolder = folder
    }
}
