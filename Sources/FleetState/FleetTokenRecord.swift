import Foundation
import NIOCore

/// A `fleet_tokens` row as this replica reads it: tokens decrypted (nil when there are none or
/// they do not decrypt), times in wall-clock terms.
public struct FleetTokenRecord: Sendable, Hashable, CustomStringConvertible {
    public var generation: Int64
    public var accessToken: String?
    /// The rotated refresh token, when one was stored; it descends from the mounted refresh token
    /// whose SHA-256 is `mountedFingerprint`.
    public var refreshToken: String?
    public var issuedAt: Date
    public var expiresAt: Date
    /// The replica holding (or last holding) the refresh lease.
    public var refresher: String?
    public var refreshLeaseUntil: Date
    public var mountedFingerprint: String?

    public init(generation: Int64, accessToken: String? = nil, refreshToken: String? = nil, issuedAt: Date, expiresAt: Date,
                refresher: String?, refreshLeaseUntil: Date, mountedFingerprint: String?) {
        self.generation = generation
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.refresher = refresher
        self.refreshLeaseUntil = refreshLeaseUntil
        self.mountedFingerprint = mountedFingerprint
    }

    public var description: String {
        "FleetTokenRecord(generation: \(generation), accessToken: \(accessToken == nil ? "nil" : "<redacted>"), "
            + "refreshToken: \(refreshToken == nil ? "nil" : "<redacted>"), expiresAt: \(expiresAt), refresher: \(refresher ?? "nil"))"
    }
}

public enum FleetTokenLease: Sendable, Hashable {
    case taken(generation: Int64)
    case heldByAnother(generation: Int64)
}

/// What a refresh writes.
public struct FleetTokenPublication: Sendable, Hashable, CustomStringConvertible {
    public var accessToken: String
    public var issuedAt: Date
    public var expiresAt: Date
    public var refreshToken: String?
    /// `FleetTokenStore.fingerprint(ofMounted:)` of the mounted refresh token; nil for grants without one.
    public var mountedFingerprint: String?

    public init(accessToken: String, issuedAt: Date, expiresAt: Date, refreshToken: String?, mountedFingerprint: String?) {
        self.accessToken = accessToken
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.refreshToken = refreshToken
        self.mountedFingerprint = mountedFingerprint
    }

    public var description: String { "FleetTokenPublication(<redacted>, expiresAt: \(expiresAt))" }
}

/// The sealed part of a row.
struct FleetTokenPayload: Codable, Sendable {
    var accessToken: String
    var refreshToken: String?
}

/// A row's columns as selected.
struct FleetTokenRow: Sendable {
    var ciphertext: [UInt8]?
    var issuedAtMs: Int64
    var expiresAtMs: Int64
    var generation: Int64
    var refresher: String?
    var leaseUntilMs: Int64
    var mountedFingerprint: String?

    init(_ columns: (ByteBuffer?, Int64, Int64, Int64, String?, Int64, String?)) {
        ciphertext = columns.0.map { Array($0.readableBytesView) }
        (issuedAtMs, expiresAtMs, generation, refresher, leaseUntilMs, mountedFingerprint) =
            (columns.1, columns.2, columns.3, columns.4, columns.5, columns.6)
    }
}
