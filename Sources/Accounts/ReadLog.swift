import Foundation

/// Everything one load read, in the order it read it: which files a poller should watch and
/// a fingerprint of every byte that went into the result. Loading is deterministic (files in
/// name order, variables in name order), so the same inputs always give the same fingerprint.
struct ReadLog: Sendable {
    private(set) var paths: Set<String> = []
    private var hasher = FNV1a64()

    /// `path` as it was opened; recorded absolute so a poller is not tied to our working directory.
    mutating func file(_ path: String, bytes: [UInt8]) {
        paths.insert(absolutePath(path))
        record(kind: "file", name: path, bytes: bytes)
    }

    /// A directory whose listing decided what was read (its files are recorded on their own).
    mutating func directory(_ path: String) {
        paths.insert(absolutePath(path))
    }

    mutating func environment(_ name: String, value: String) {
        record(kind: "env", name: name, bytes: Array(value.utf8))
    }

    var fingerprint: UInt64 {
        hasher.value
    }

    /// Kind, name and length go in ahead of the content so that moving bytes from one input
    /// to the next (or renaming a file) cannot leave the fingerprint unchanged.
    private mutating func record(kind: String, name: String, bytes: [UInt8]) {
        hasher.combine(kind.utf8)
        hasher.combine(CollectionOfOne(0))
        hasher.combine(name.utf8)
        hasher.combine(CollectionOfOne(0))
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { hasher.combine($0) }
        hasher.combine(bytes)
    }
}

/// 64-bit FNV-1a: not cryptographic, which is fine for "did anything change?", and cheap
/// enough to run over every input on every poll.
struct FNV1a64: Sendable {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func combine<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
    }
}

/// Relative paths are taken against the working directory, the way `open` takes them.
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    let base = FileManager.default.currentDirectoryPath
    if path.isEmpty { return base }
    return base.hasSuffix("/") ? base + path : base + "/" + path
}

/// `name` inside `directory`, without doubling a trailing slash.
func joinedPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
