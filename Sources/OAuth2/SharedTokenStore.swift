/// Where replicas of a fleet share access tokens and rotated refresh tokens, so that one of them
/// refreshes per credential while the others read its result (`TokenCache` with `TokenSharing`).
///
/// The protocol lives here so that OAuth2 does not depend on the database that implements it
/// (FleetState's `FleetTokenStore`). Every call must return within a bound of its own (tens of
/// milliseconds): the cache treats any error as "the store is away" and refreshes by itself.
/// Times are durations from the store's own clock, because a `ContinuousClock.Instant` means
/// nothing to another process.
public protocol SharedTokenStore: Sendable {
    /// The row for `key`; nil when there is none. `mountedRefreshToken` is this replica's
    /// configured refresh token, which decides whether the row's rotated one is handed out.
    func read(key: String, mountedRefreshToken: String?) async throws -> SharedTokenRow?

    /// Takes the refresh lease when it is free (or this replica's) and the row is still at
    /// `seenGeneration`, i.e. nobody published since the caller's read.
    func takeRefreshLease(key: String, seenGeneration: Int64, holding: Duration) async throws -> SharedRefreshLease

    /// Writes the token (and the refresh token it came with) as `generation + 1`, only while this
    /// replica still holds the lease taken at `generation`. False when it lost it.
    func publish(key: String, token: SharedTokenPublication, generation: Int64) async throws -> Bool

    /// Gives the lease up after a failed refresh, so that waiting replicas stop waiting for it.
    func releaseRefreshLease(key: String) async throws

    /// The operator mounted another refresh token than the row was derived from: the mounted one
    /// wins, and the row's tokens (descendants of the old one) are dropped. The new generation.
    func adoptMounted(key: String, mountedRefreshToken: String) async throws -> Int64

    /// The row's key for a cache key: the same in every replica for the same credentials. A cache
    /// key is not always (a client secret's digest is salted per process, see
    /// `OAuth2Credentials.tokenCacheKey`).
    func sharedKey(forCacheKey key: String, credentials: OAuth2Credentials) -> String
}

extension SharedTokenStore {
    public func sharedKey(forCacheKey key: String, credentials: OAuth2Credentials) -> String { key }
}

/// A row as one replica reads it.
public struct SharedTokenRow: Sendable, Hashable {
    /// Nil when the row holds none, it expired, or it could not be decrypted.
    public var token: SharedAccessToken?
    public var generation: Int64
    /// The rotated refresh token stored with the token; only when the row was derived from the
    /// same mounted refresh token as the reader's.
    public var refreshToken: String?
    /// The row was derived from another mounted refresh token than the reader's.
    public var mountedDiffers: Bool
    /// Another replica holds an unexpired refresh lease: a new generation may come.
    public var refreshLeaseHeld: Bool

    public init(token: SharedAccessToken?, generation: Int64, refreshToken: String? = nil,
                mountedDiffers: Bool = false, refreshLeaseHeld: Bool = false) {
        self.token = token
        self.generation = generation
        self.refreshToken = refreshToken
        self.mountedDiffers = mountedDiffers
        self.refreshLeaseHeld = refreshLeaseHeld
    }
}

/// An access token as stored: how long it has left, and how long it had when issued (the cache
/// hands a short-lived token out for half its life, which needs both).
public struct SharedAccessToken: Sendable, Hashable, CustomStringConvertible {
    public var value: String
    public var expiresIn: Duration
    public var lifetime: Duration

    public init(value: String, expiresIn: Duration, lifetime: Duration) {
        self.value = value
        self.expiresIn = expiresIn
        self.lifetime = lifetime
    }

    public var description: String { "SharedAccessToken(<redacted>, expiresIn: \(expiresIn), lifetime: \(lifetime))" }
}

/// What a refresh publishes.
public struct SharedTokenPublication: Sendable, Hashable, CustomStringConvertible {
    public var token: SharedAccessToken
    /// The refresh token to use from now on, when it is not the mounted one (Microsoft rotates).
    public var refreshToken: String?
    /// The mounted refresh token it descends from; nil for the grants without one.
    public var mountedRefreshToken: String?

    public init(token: SharedAccessToken, refreshToken: String?, mountedRefreshToken: String?) {
        self.token = token
        self.refreshToken = refreshToken
        self.mountedRefreshToken = mountedRefreshToken
    }

    public var description: String { "SharedTokenPublication(\(token), refreshToken: \(refreshToken == nil ? "nil" : "<redacted>"))" }
}

public enum SharedRefreshLease: Sendable, Hashable {
    /// This replica refreshes, then publishes `generation + 1`.
    case taken(generation: Int64)
    /// Another replica refreshes (or published since the read): wait for a generation past this.
    case heldByAnother(generation: Int64)
}

/// How a `TokenCache` uses a shared store.
public struct TokenSharing: Sendable {
    public var store: any SharedTokenStore
    /// How long a replica waits for another's refresh before refreshing by itself: the token
    /// endpoint's timeout, the longest the other's refresh can rightly take.
    public var maximumWait: Duration
    /// How often a waiting replica reads the row.
    public var pollInterval: Duration
    /// How long the refresh lease holds; past it another replica may take over.
    public var leaseDuration: Duration
    /// The pause between polls; tests may replace it, production sleeps.
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(store: any SharedTokenStore, maximumWait: Duration = .seconds(30), pollInterval: Duration = .milliseconds(100),
                leaseDuration: Duration? = nil, sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.store = store
        self.maximumWait = maximumWait
        self.pollInterval = pollInterval
        self.leaseDuration = leaseDuration ?? maximumWait
        self.sleep = sleep
    }
}
