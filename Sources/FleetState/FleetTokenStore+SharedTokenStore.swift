import Crypto
import Foundation
import OAuth2

/// What `TokenCache` asks of the fleet: the same calls in its terms, durations instead of
/// wall-clock times and mounted tokens instead of fingerprints.
extension FleetTokenStore: SharedTokenStore {
    public func read(key: String, mountedRefreshToken: String?) async throws -> SharedTokenRow? {
        guard let record = try await record(forKey: key) else { return nil }
        let now = wallClock()
        let mine = mountedRefreshToken.map(Self.fingerprint(ofMounted:))
        let sameMount = record.mountedFingerprint == mine
        var token: SharedAccessToken?
        if let value = record.accessToken, record.expiresAt > now {
            token = SharedAccessToken(value: value, expiresIn: Self.duration(record.expiresAt.timeIntervalSince(now)),
                                      lifetime: Self.duration(record.expiresAt.timeIntervalSince(record.issuedAt)))
        }
        let leaseHeld = record.refresher != nil && record.refresher != replica && record.refreshLeaseUntil >= now
        return SharedTokenRow(token: token, generation: record.generation, refreshToken: sameMount ? record.refreshToken : nil,
                              mountedDiffers: record.mountedFingerprint != nil && !sameMount, refreshLeaseHeld: leaseHeld)
    }

    public func takeRefreshLease(key: String, seenGeneration: Int64, holding: Duration) async throws -> SharedRefreshLease {
        switch try await takeRefreshLease(forKey: key, seenGeneration: seenGeneration, holding: holding) {
        case .taken(let generation): .taken(generation: generation)
        case .heldByAnother(let generation): .heldByAnother(generation: generation)
        }
    }

    public func publish(key: String, token: SharedTokenPublication, generation: Int64) async throws -> Bool {
        let now = wallClock()
        let expiresAt = now.addingTimeInterval(FleetQuotaLeases.seconds(token.token.expiresIn))
        let publication = FleetTokenPublication(
            accessToken: token.token.value,
            issuedAt: expiresAt.addingTimeInterval(-FleetQuotaLeases.seconds(token.token.lifetime)), expiresAt: expiresAt,
            refreshToken: token.refreshToken, mountedFingerprint: token.mountedRefreshToken.map(Self.fingerprint(ofMounted:)))
        return try await publish(forKey: key, publication, generation: generation)
    }

    public func releaseRefreshLease(key: String) async throws {
        try await releaseRefreshLease(forKey: key)
    }

    public func adoptMounted(key: String, mountedRefreshToken: String) async throws -> Int64 {
        try await adoptMounted(forKey: key, fingerprint: Self.fingerprint(ofMounted: mountedRefreshToken))
    }

    /// For a client secret, a MAC under the state key instead of the cache key's per-process
    /// digest: the same in every replica of the fleet (which shares the key), and still no
    /// help to whoever reads the table or the logs in guessing the secret.
    public func sharedKey(forCacheKey key: String, credentials: OAuth2Credentials) -> String {
        guard case .clientCredentials(.secret(let secret)) = credentials.grant else { return key }
        let mac = HMAC<SHA256>.authenticationCode(for: Array(secret.utf8), using: self.key.key)
        let scope = credentials.scope ?? OAuth2Defaults.microsoftClientCredentialsScope
        return "client_credentials \(credentials.clientID) \(credentials.tokenURL) scope=\(scope) secret-mac:" + Self.hex(Array(mac).prefix(8))
    }

    static func duration(_ seconds: TimeInterval) -> Duration {
        .milliseconds(Int64((seconds * 1000).rounded(.down)))
    }
}
