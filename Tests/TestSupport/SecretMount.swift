import Foundation

/// A directory laid out and updated the way the kubelet mounts a Secret: each version in a
/// `..<timestamp>` folder, `..data` pointing at the current one (swapped by renaming a fresh
/// symlink over it, which is atomic), and one `key -> ..data/key` symlink per key.
public struct SecretMount {
    public let root: URL
    private var version = 0
    private var currentFolder: String?
    private var keys: Set<String> = []

    public init(root: URL) {
        self.root = root
    }

    public var path: String { root.path }

    /// One complete update. With `removeStaleKeys: false` it stops where the kubelet has
    /// swapped `..data` but not yet deleted the symlinks of removed keys.
    public mutating func update(_ files: [String: String], removeStaleKeys: Bool = true) throws {
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
