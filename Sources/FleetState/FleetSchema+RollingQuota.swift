extension FleetSchema {
    /// Version 2: rolling windows (see `QuotaWindow`, `FleetQuotaLeases`). Replaces version 1's
    /// fixed windows, which no release used; their leases are void with them.
    static let rollingQuotaMigration: [String] = [
        "DROP TABLE IF EXISTS fleet_quota_windows",
        "DROP TABLE IF EXISTS fleet_quota_leases",
        // One row per account and window: the limit last asked for, and the row a grant locks so
        // that grants for one account's window queue instead of racing on the bucket sum.
        """
        CREATE TABLE IF NOT EXISTS fleet_quota_accounts (
            account text NOT NULL,
            window_kind text NOT NULL,
            quota_limit bigint NOT NULL,
            PRIMARY KEY (account, window_kind)
        )
        """,
        // What the fleet leased out, by the bucket it counts from: a lease's expiry while it is
        // held; once given back, its spent part moves to the bucket it was given back in.
        """
        CREATE TABLE IF NOT EXISTS fleet_quota_buckets (
            account text NOT NULL,
            window_kind text NOT NULL,
            bucket_start bigint NOT NULL,
            granted bigint NOT NULL CHECK (granted >= 0),
            PRIMARY KEY (account, window_kind, bucket_start)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS fleet_quota_leases (
            id uuid PRIMARY KEY,
            account text NOT NULL,
            window_kind text NOT NULL,
            bucket_start bigint NOT NULL,
            replica text NOT NULL,
            amount bigint NOT NULL CHECK (amount > 0),
            expires_at_ms bigint NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS fleet_quota_leases_expiry ON fleet_quota_leases (expires_at_ms)",
        // A function, so that a grant is one round trip and still two snapshots: the sum must be
        // read after the account row is locked (PL/pgSQL takes a new snapshot per statement under
        // READ COMMITTED; a single statement would sum what it saw before waiting for the lock).
        """
        CREATE OR REPLACE FUNCTION fleet_quota_grant(
            p_id uuid, p_account text, p_kind text, p_limit bigint, p_oldest bigint, p_bucket bigint,
            p_hint bigint, p_at_least bigint, p_cap bigint, p_replica text, p_expires_at_ms bigint)
        RETURNS TABLE (lease_amount bigint, fleet_granted bigint) LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            used bigint;
            remaining bigint;
            block bigint;
        BEGIN
            INSERT INTO fleet_quota_accounts AS a (account, window_kind, quota_limit)
            VALUES (p_account, p_kind, p_limit)
            ON CONFLICT (account, window_kind) DO UPDATE SET quota_limit = EXCLUDED.quota_limit;
            SELECT COALESCE(sum(b.granted), 0) INTO used FROM fleet_quota_buckets b
            WHERE b.account = p_account AND b.window_kind = p_kind AND b.bucket_start >= p_oldest;
            remaining := p_limit - used;
            IF remaining <= 0 THEN
                RETURN;
            END IF;
            block := LEAST(remaining, p_cap, GREATEST(p_at_least, (remaining + p_hint - 1) / p_hint));
            INSERT INTO fleet_quota_buckets AS b (account, window_kind, bucket_start, granted)
            VALUES (p_account, p_kind, p_bucket, block)
            ON CONFLICT (account, window_kind, bucket_start) DO UPDATE SET granted = b.granted + EXCLUDED.granted;
            INSERT INTO fleet_quota_leases (id, account, window_kind, bucket_start, replica, amount, expires_at_ms)
            VALUES (p_id, p_account, p_kind, p_bucket, p_replica, block, p_expires_at_ms);
            lease_amount := block;
            fleet_granted := used + block;
            RETURN NEXT;
        END
        $$
        """,
        // Ends a lease once: the unused part leaves the window; the spent part moves from the
        // expiry's bucket to the give-back's (no message was sent from it after that), so it
        // stops counting a window after the give-back rather than after the expiry.
        """
        CREATE OR REPLACE FUNCTION fleet_quota_give_back(p_id uuid, p_unused bigint, p_bucket bigint)
        RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            l fleet_quota_leases%ROWTYPE;
            spent bigint;
        BEGIN
            DELETE FROM fleet_quota_leases WHERE id = p_id RETURNING * INTO l;
            IF NOT FOUND THEN
                RETURN false;
            END IF;
            spent := l.amount - LEAST(GREATEST(p_unused, 0), l.amount);
            UPDATE fleet_quota_buckets AS b SET granted = GREATEST(0, b.granted - l.amount)
            WHERE b.account = l.account AND b.window_kind = l.window_kind AND b.bucket_start = l.bucket_start;
            IF spent > 0 THEN
                INSERT INTO fleet_quota_buckets AS b (account, window_kind, bucket_start, granted)
                VALUES (l.account, l.window_kind, LEAST(p_bucket, l.bucket_start), spent)
                ON CONFLICT (account, window_kind, bucket_start) DO UPDATE SET granted = b.granted + EXCLUDED.granted;
            END IF;
            RETURN true;
        END
        $$
        """,
    ]
}
