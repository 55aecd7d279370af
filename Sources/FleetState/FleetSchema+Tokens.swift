extension FleetSchema {
    /// Version 3: access tokens and rotated refresh tokens shared by the fleet (`FleetTokenStore`).
    static let tokensMigration: [String] = [
        // One row per credential key. `ciphertext` (AES-GCM under the state key, see `StateKey`)
        // holds the access token and the rotated refresh token, NULL until a refresh published
        // one; the lease columns say who refreshes now; `mounted_fingerprint` is the SHA-256 of
        // the mounted refresh token the row's refresh token descends from.
        """
        CREATE TABLE IF NOT EXISTS fleet_tokens (
            credential_key text PRIMARY KEY,
            ciphertext bytea,
            issued_at_ms bigint NOT NULL DEFAULT 0,
            expires_at_ms bigint NOT NULL DEFAULT 0,
            generation bigint NOT NULL DEFAULT 0,
            refresher text,
            refresh_lease_until_ms bigint NOT NULL DEFAULT 0,
            mounted_fingerprint text
        )
        """,
    ]
}
