import Foundation
import PostgresNIO

extension FleetPushbacks {
    /// Polls every `pollInterval` until cancelled: writes what is pending, then applies what the
    /// other replicas wrote. What is still pending at cancellation stays unwritten; the other
    /// replicas learn it from their own providers.
    public func run() async {
        repeat {
            await poll()
        } while (try? await Task.sleep(for: configuration.pollInterval)) != nil
    }

    /// One round of `run`, for tests that drive it: nothing while the database is in its backoff.
    public func poll() async {
        guard shared.withLockedValue({ $0.link.mayAttempt(at: now()) }) else { return }
        await drainPending(alreadyWriting: false)
        var cursor = shared.withLockedValue { $0.cursor }
        for _ in 0..<max(1, configuration.maximumPagesPerPoll) {
            guard shared.withLockedValue({ $0.link.mayAttempt(at: now()) }) else { return }
            let page: [Change]
            do {
                page = try await changes(after: cursor)
            } catch {
                shared.withLockedValue { $0.statistics.pollFailures += 1 }
                failed(error)
                return
            }
            reached()
            shared.withLockedValue { $0.statistics.polls += 1 }
            guard let last = page.last else { return }
            cursor = last.sequence
            let fresh = take(page, through: cursor)
            if !fresh.isEmpty { apply(fresh) }
            if page.count < configuration.pageSize { return }
        }
    }

    /// Writes the pending pushbacks, one bounded call each, until none is left or a call fails
    /// (then the rest wait for the next poll). `alreadyWriting`: the caller set `writing`.
    func drainPending(alreadyWriting: Bool) async {
        let started = shared.withLockedValue { shared -> Bool in
            if alreadyWriting { return true }
            guard !shared.writing else { return false }
            shared.writing = true
            return true
        }
        guard started else { return }
        while let next = nextPending() {
            do {
                if try await write(next) { shared.withLockedValue { $0.statistics.written += 1 } }
                reached()
            } catch {
                let now = now()
                shared.withLockedValue { shared in
                    shared.statistics.writeFailures += 1
                    let key = Key(next)
                    // What was published meanwhile merges with it; the set stays one per key.
                    shared.pending[key] = shared.pending[key].map { next.merged(with: $0, at: now) } ?? next
                    shared.inFlight = nil
                    shared.writing = false
                }
                failed(error)
                return
            }
        }
    }

    /// The next pending pushback still in force, taken out of the set; nil (and `writing`
    /// cleared, under the same lock) when none is left.
    private func nextPending() -> FleetPushback? {
        let now = now()
        return shared.withLockedValue { shared in
            shared.inFlight = nil
            while let (key, pushback) = shared.pending.first {
                shared.pending[key] = nil
                if pushback.until > now {
                    shared.inFlight = pushback
                    return pushback
                }
            }
            shared.writing = false
            return nil
        }
    }

    /// Advances the cursor over `page` and returns what in it is new here, remembered as known.
    private func take(_ page: [Change], through cursor: Int) -> [FleetPushback] {
        let now = now()
        return shared.withLockedValue { shared in
            shared.cursor = max(shared.cursor, cursor)
            // Ended pushbacks are forgotten, so `known` holds no more than those in force.
            shared.known = shared.known.filter { $0.value.until > now }
            var fresh: [FleetPushback] = []
            for change in page {
                guard let pushback = change.pushback, pushback.until > now else { continue }
                let key = Key(pushback)
                if let known = shared.known[key], known.covers(pushback, at: now) { continue }
                shared.known[key] = shared.known[key].map { $0.merged(with: pushback, at: now) } ?? pushback
                fresh.append(pushback)
            }
            shared.statistics.applied += fresh.count
            return fresh
        }
    }

    private func reached() {
        let ended = shared.withLockedValue { $0.link.reached() }
        if let since = ended {
            logger.notice("fleet database reachable again: provider pushbacks are shared again",
                          metadata: ["degraded_seconds": "\(Int(now().timeIntervalSince(since)))"])
        }
    }

    private func failed(_ error: FleetStateError) {
        let now = now()
        let first = shared.withLockedValue { $0.link.failed(error, at: now) }
        // Once per outage: each replica's own limiters keep applying what its providers say.
        if first {
            logger.warning("fleet database unavailable: provider pushbacks apply to this replica only", metadata: [
                "reason": "\(error)",
            ])
        }
    }
}

/// One row read from `fleet_pushbacks`: nil `pushback` for a kind this binary does not know
/// (written by a newer one), which only moves the cursor.
struct Change: Sendable {
    var pushback: FleetPushback?
    var sequence: Int
}

extension FleetPushbacks {
    /// Returns whether the row changed (false: the fleet had it already, or it had ended).
    func write(_ pushback: FleetPushback) async throws(FleetStateError) -> Bool {
        let account = pushback.account, kind = pushback.kind.rawValue, value = pushback.value
        let untilMs = FleetQuotaLeases.milliseconds(pushback.until), nowMs = FleetQuotaLeases.milliseconds(now())
        let replica = replicaID, logger = database.logger
        return try await database.call("pushback publish", timeout: configuration.callTimeout) { client in
            let rows = try await client.query(
                "SELECT fleet_pushback_publish(\(account), \(kind), \(untilMs), \(value), \(replica), \(nowMs))", logger: logger)
            var sequence: Int?
            for try await value in rows.decode(Int?.self) { sequence = value }
            return sequence != nil
        }
    }

    func changes(after cursor: Int) async throws(FleetStateError) -> [Change] {
        let limit = max(1, configuration.pageSize), logger = database.logger
        return try await database.call("pushback poll", timeout: configuration.callTimeout) { client in
            let rows = try await client.query("""
                SELECT account, kind, until_ms, value, replica, change_seq FROM fleet_pushbacks
                WHERE change_seq > \(cursor) ORDER BY change_seq LIMIT \(limit)
                """, logger: logger)
            var changes: [Change] = []
            for try await (account, kind, untilMs, value, replica, sequence) in rows.decode((String, String, Int, Int?, String, Int).self) {
                let pushback = FleetPushback.Kind(rawValue: kind).map {
                    FleetPushback(account: account, kind: $0, until: Date(timeIntervalSince1970: Double(untilMs) / 1000),
                                  value: value, replica: replica)
                }
                changes.append(Change(pushback: pushback, sequence: sequence))
            }
            return changes
        }
    }
}
