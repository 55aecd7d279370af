extension FleetSchema {
    /// Arbitrary but fixed: "pushbk" in ASCII. Serialises pushback writes (see below).
    static let pushbackLockKey: Int64 = 0x70_75_73_68_62_6B

    /// Version 4: provider pushbacks shared by the fleet (`FleetPushbacks`). Self-contained: it
    /// reads and writes nothing of the other versions' tables.
    static let pushbacksMigration: [String] = [
        "CREATE SEQUENCE IF NOT EXISTS fleet_pushback_changes",
        // One row per account and kind, overwritten: the table holds what is in force (and what
        // ended, until the next pushback of its kind), never a history, so it needs no pruning.
        """
        CREATE TABLE IF NOT EXISTS fleet_pushbacks (
            account text NOT NULL,
            kind text NOT NULL,
            until_ms bigint NOT NULL,
            value bigint,
            replica text NOT NULL,
            change_seq bigint NOT NULL,
            PRIMARY KEY (account, kind)
        )
        """,
        "CREATE INDEX IF NOT EXISTS fleet_pushbacks_by_change ON fleet_pushbacks (change_seq)",
        // Merges as `FleetPushback.merged` does, and returns the row's new change sequence, or
        // null when the row already said as much. The transaction-scoped lock makes writers queue
        // until the previous one committed, so sequence order is commit order: a reader whose
        // cursor passed a number never finds a smaller one committed after it looked. Pushbacks
        // are rare; queueing them costs nothing.
        """
        CREATE OR REPLACE FUNCTION fleet_pushback_publish(
            p_account text, p_kind text, p_until_ms bigint, p_value bigint, p_replica text, p_now_ms bigint)
        RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            r fleet_pushbacks%ROWTYPE;
            next_until bigint := p_until_ms;
            next_value bigint := p_value;
            seq bigint;
        BEGIN
            IF p_until_ms <= p_now_ms THEN
                RETURN NULL;
            END IF;
            PERFORM pg_advisory_xact_lock(\(pushbackLockKey));
            SELECT * INTO r FROM fleet_pushbacks WHERE account = p_account AND kind = p_kind;
            IF FOUND AND r.until_ms > p_now_ms THEN
                next_until := GREATEST(r.until_ms, p_until_ms);
                next_value := CASE WHEN r.value IS NULL THEN p_value WHEN p_value IS NULL THEN r.value
                                   ELSE LEAST(r.value, p_value) END;
                IF next_until = r.until_ms AND next_value IS NOT DISTINCT FROM r.value THEN
                    RETURN NULL;
                END IF;
            END IF;
            seq := nextval('fleet_pushback_changes');
            INSERT INTO fleet_pushbacks AS b (account, kind, until_ms, value, replica, change_seq)
            VALUES (p_account, p_kind, next_until, next_value, p_replica, seq)
            ON CONFLICT (account, kind) DO UPDATE SET until_ms = EXCLUDED.until_ms, value = EXCLUDED.value,
                replica = EXCLUDED.replica, change_seq = EXCLUDED.change_seq;
            RETURN seq;
        END
        $$
        """,
    ]
}
