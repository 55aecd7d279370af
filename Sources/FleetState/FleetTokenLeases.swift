/// Not built yet: the design for sharing access tokens and rotated refresh tokens across the
/// fleet (issue 15), written down next to the quota leases it follows, so that the next step
/// starts from a decision rather than a blank page.
///
/// **Table** `fleet_tokens`, one row per credential key (the account's email, or the shared
/// credential's ID for app-only grants): `ciphertext bytea` (AES-GCM of the access token, and of
/// the rotated refresh token when there is one), `expires_at_ms`, `generation bigint`,
/// `refresher text`, `refresh_lease_until_ms bigint`, `mounted_fingerprint text`.
///
/// **Reading** costs nothing per message: a replica keeps the decrypted token in its
/// `TokenCache` until its early-expiry margin, as today, and reads the row only then (one
/// bounded call).
///
/// **Refreshing once for the fleet**: a replica whose read finds the token stale takes the
/// refresh lease with one guarded statement, `UPDATE … SET refresher = me,
/// refresh_lease_until_ms = now + T WHERE key = k AND (refresh_lease_until_ms < now OR refresher
/// = me) RETURNING generation` (`INSERT … ON CONFLICT` for the first). The winner refreshes over
/// HTTP holding no lock and no transaction, then writes token, expiry and `generation + 1` in
/// one statement guarded by `refresher = me`. The others poll the row's generation (bounded by
/// the token endpoint's timeout) and read the new token. A lease row, not an advisory lock: a
/// session lock would pin a pooled connection across an HTTP call and vanish ambiguously with
/// it; a lease with an expiry is visible, and a dead refresher's lease simply runs out, after
/// which the next replica takes over.
///
/// **Encryption**: AES-GCM with the key from `--state-key-file`, the credential key and the
/// generation as associated data, so a row's ciphertext cannot be replayed under another
/// account or an older generation. Without a key nothing secret is written: each replica
/// refreshes for itself (today's behaviour), and only quotas are shared.
///
/// **Rotated refresh tokens** (Microsoft): the new refresh token is written in the same
/// statement as the access token it came with, since the provider has just invalidated the old
/// one. `mounted_fingerprint` records a hash of the mounted token the row was derived from; a
/// replica whose mounted token hashes differently (the operator rotated it by hand) uses the
/// mounted one and overwrites the row, as `--state-dir` does today.
///
/// **Database away**: reads and lease attempts end at the call bound; the replica refreshes
/// on its own through its `TokenCache`, and keeps a rotated refresh token in `--state-dir` if
/// it has one, so nothing is lost while the database is down.
public enum FleetTokenLeases {}
