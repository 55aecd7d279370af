import Accounts
import Foundation
import Logging
import NIOConcurrencyHelpers
import Resilience
import StateStore

/// Keeps each account's last-day message and recipient counts under `--state-dir`, so a
/// restart (every rollout) does not hand an account a fresh daily quota. Blocking I/O: every
/// method runs on the thread pool.
final class QuotaCounterPersistence: Sendable {
    private let store: QuotaCounterStore
    private let logger: Logger
    /// What was last written per account, so an idle account costs no write (and no fsync).
    private let saved = NIOLockedValueBox<[String: QuotaUsageKey]>([:])

    private struct QuotaUsageKey: Hashable {
        var messages: Int
        var recipients: Int
    }

    init(directory: StateDirectory, logger: Logger, onCorrupt: @escaping @Sendable (_ fileName: String, _ reason: String) -> Void) {
        self.store = QuotaCounterStore(directory: directory, onCorrupt: onCorrupt)
        self.logger = logger
    }

    /// Puts the saved history back into a new account's quota.
    func restore(_ account: Account, into quota: AccountQuota) {
        guard let snapshot = store.load(email: account.email) else { return }
        let now = Date()
        let width = Double(snapshot.bucketSeconds)
        func ages(_ buckets: [Int64: Int]) -> [(age: Duration, count: Int)] {
            buckets.compactMap { start, count in
                let age = now.timeIntervalSince(Date(timeIntervalSince1970: Double(start))) - width
                return count > 0 ? (.seconds(max(0, age)), count) : nil
            }
        }
        quota.seedDayHistory(messages: ages(snapshot.messages), recipients: ages(snapshot.recipients))
        let usage = quota.usage()
        saved.withLockedValue { $0[account.accountID] = QuotaUsageKey(messages: usage.messagesLastDay, recipients: usage.recipientsLastDay) }
        if usage.messagesLastDay > 0 || usage.recipientsLastDay > 0 {
            logger.info("daily counts restored from the state directory", metadata: [
                "account_id": "\(account.accountID)", "messages_last_day": "\(usage.messagesLastDay)",
                "recipients_last_day": "\(usage.recipientsLastDay)",
            ])
        }
    }

    /// Writes the accounts whose counts moved since the last save.
    func save(_ accounts: [RelayAccount]) {
        let now = Date()
        for relayAccount in accounts {
            let quota = relayAccount.limiter.quota
            let usage = quota.usage()
            let key = QuotaUsageKey(messages: usage.messagesLastDay, recipients: usage.recipientsLastDay)
            let accountID = relayAccount.account.accountID
            guard saved.withLockedValue({ $0[accountID] }) != key else { continue }
            let history = quota.dayHistory()
            var snapshot = QuotaCounterSnapshot(bucketSeconds: 60)
            for entry in history.messages { snapshot.record(messages: entry.count, at: now.addingTimeInterval(-Self.seconds(entry.age))) }
            for entry in history.recipients { snapshot.record(recipients: entry.count, at: now.addingTimeInterval(-Self.seconds(entry.age))) }
            do {
                try store.save(email: relayAccount.account.email, snapshot: snapshot)
                saved.withLockedValue { $0[accountID] = key }
            } catch {
                logger.error("cannot save daily counts", metadata: ["account_id": "\(accountID)", "error": "\(error)"])
            }
        }
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
