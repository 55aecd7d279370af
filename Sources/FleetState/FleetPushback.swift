import Foundation

/// What a provider told one replica about an account, for every replica: until when it holds,
/// and for a reduced connection cap, the cap. One row per account and kind in `fleet_pushbacks`.
public struct FleetPushback: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The account's sending quota is spent: no messages until `until`.
        case quotaPause = "quota_pause"
        /// The provider asked to slow down: no new connections until `until`.
        case slowDown = "slow_down"
        /// AUTH refused even with a fresh token: no new connections until `until`.
        case credentialsOpen = "credentials_open"
        /// One connection too many: at most `value` connections until `until`.
        case connectionCap = "connection_cap"
    }

    /// The account's email, lower-cased: the key every replica knows the account by.
    public var account: String
    public var kind: Kind
    /// Wall-clock time, since it crosses machines; each replica turns it into its own clock's.
    public var until: Date
    /// `connectionCap`'s cap; nil for the other kinds.
    public var value: Int?
    /// The replica that last changed the row (`FleetDatabaseConfiguration.replicaID`).
    public var replica: String

    public init(account: String, kind: Kind, until: Date, value: Int? = nil, replica: String = "") {
        self.account = account.lowercased()
        self.kind = kind
        self.until = until
        self.value = value
        self.replica = replica
    }

    /// Both in one: the later `until` and the lower cap, since an earlier one never shortens a
    /// pushback and a higher cap never lifts a lower one. One that has ended gives way entirely.
    /// `fleet_pushback_publish` merges the same way in the database.
    func merged(with other: FleetPushback, at now: Date) -> FleetPushback {
        guard until > now else { return other }
        guard other.until > now else { return self }
        var merged = other
        merged.until = max(until, other.until)
        merged.value = switch (value, other.value) {
        case (let mine?, let theirs?): min(mine, theirs)
        case (let mine, let theirs): mine ?? theirs
        }
        return merged
    }

    /// Whether `other` would change nothing that this one does not already do.
    func covers(_ other: FleetPushback, at now: Date) -> Bool {
        guard other.until > now else { return true }
        guard until >= other.until else { return false }
        guard let theirs = other.value else { return true }
        return value.map { $0 <= theirs } ?? false
    }
}
