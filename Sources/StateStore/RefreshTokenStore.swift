import Foundation

/// A rotated refresh token and the mounted one it descends from.
public struct RefreshTokenState: Sendable, Codable, Hashable {
    /// The newest refresh token the provider issued.
    public var refreshToken: String
    /// `RefreshTokenResolution.fingerprint(_:)` of the mounted refresh token this one was obtained from
    /// (directly or through earlier rotations).
    public var mountedFingerprint: String
    public var savedAt: Date

    public init(refreshToken: String, mountedFingerprint: String, savedAt: Date) {
        self.refreshToken = refreshToken
        self.mountedFingerprint = mountedFingerprint
        self.savedAt = savedAt
    }
}

extension RefreshTokenState: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Redacted so that interpolating the state into a log line or error can never leak the token.
    public var description: String {
        "RefreshTokenState(refreshToken: <redacted>, mountedFingerprint: \(mountedFingerprint), savedAt: \(savedAt))"
    }

    public var debugDescription: String { description }

    /// Redacted for `dump` and debuggers too.
    public var customMirror: Mirror {
        Mirror(self, children: ["refreshToken": "<redacted>", "mountedFingerprint": mountedFingerprint, "savedAt": savedAt])
    }
}

/// Which refresh token to start from: the persisted rotated one, or the mounted one.
public enum RefreshTokenResolution {
    /// The state's token if it descends from `mounted` (same fingerprint); otherwise `mounted`,
    /// because there is no state or the operator has changed the mounted Secret since, which is
    /// how refresh tokens are replaced by hand.
    public static func choose(mounted: String, state: RefreshTokenState?) -> String {
        guard let state, state.mountedFingerprint == fingerprint(mounted) else { return mounted }
        return state.refreshToken
    }

    /// "fnv1a128:" + 32 hex digits of the token's UTF-8 bytes. Only compared for equality, to
    /// notice that the mounted token changed; it is stored next to a live refresh token, so it
    /// needs to reveal nothing the file does not already hold.
    public static func fingerprint(_ refreshToken: String) -> String {
        "fnv1a128:" + FNV1a128.hex(of: Array(refreshToken.utf8))
    }
}

/// Rotated refresh tokens, one 0600 file per account named `refresh-token-<hash of email>`.
///
/// Blocking file IO: see `StateDirectory`.
public final class RefreshTokenStore: Sendable {
    public static let kind = "refresh-token"

    private let file: JSONStateFile<RefreshTokenState>
    private let now: @Sendable () -> Date

    /// - Parameter onCorrupt: called with the file name and a reason (never the content) when a
    ///   file exists but cannot be used; `load` then returns nil, so the mounted token is used.
    public init(directory: StateDirectory,
                now: @escaping @Sendable () -> Date = { Date() },
                onCorrupt: @escaping @Sendable (_ fileName: String, _ reason: String) -> Void) {
        self.file = JSONStateFile(directory: directory, kind: Self.kind, onCorrupt: onCorrupt)
        self.now = now
    }

    /// The saved state, or nil if none or unusable. Never throws.
    public func load(email: String) -> RefreshTokenState? {
        file.load(email: email) { state in
            if state.refreshToken.isEmpty { return "empty refresh token" }
            if state.mountedFingerprint.isEmpty { return "empty mounted fingerprint" }
            return nil
        }
    }

    /// Persists `refreshToken`, a rotation descending from the `mounted` token.
    public func save(email: String, refreshToken: String, mounted: String) throws(StateError) {
        let state = RefreshTokenState(refreshToken: refreshToken,
                                      mountedFingerprint: RefreshTokenResolution.fingerprint(mounted),
                                      savedAt: now())
        try file.save(state, email: email)
    }

    /// `RefreshTokenResolution.choose(mounted:state:)` with the saved state.
    public func resolve(email: String, mounted: String) -> String {
        RefreshTokenResolution.choose(mounted: mounted, state: load(email: email))
    }

    public func remove(email: String) throws(StateError) {
        try file.remove(email: email)
    }
}
