import Logging
import NIOConcurrencyHelpers

/// Per-account access tokens for the whole process.
///
/// - A token is handed out until `expiresAt - expiryMargin`, so every caller gets one that stays
///   valid for at least the margin (the relay keeps connections authenticated with it).
/// - At most one refresh per account is in flight; everyone who needs a token meanwhile waits for
///   that refresh's result (single flight), including callers that were told to force a refresh.
/// - A rotated refresh token replaces the configured one in memory (`currentRefreshToken`).
/// - `credentialsRejected` is remembered: later calls fail at once, without HTTP, until
///   `setCredentials` brings different credentials or the account is removed.
///
/// - With `TokenSharing`, a refresh first asks the fleet's shared store (see
///   `TokenCache+Sharing.swift`); without it nothing changes.
///
/// The hot path (a cached, fresh token) is one clock read, one lock and one dictionary lookup.
/// Refreshes run in unstructured tasks, so a caller being cancelled never fails the refresh that
/// other callers are waiting on; the cancelled caller alone stops waiting.
public final class TokenCache: Sendable {
    public struct Configuration: Sendable {
        /// How long before the provider's expiry a token stops being handed out.
        /// For tokens that live shorter than twice the margin, half their lifetime is used instead,
        /// so that a short-lived token is still reused rather than refreshed on every call.
        public var expiryMargin: Duration = .seconds(600)

        public init(expiryMargin: Duration = .seconds(600)) {
            self.expiryMargin = expiryMargin
        }
    }

    let grant: RefreshTokenGrant
    let configuration: Configuration
    let now: @Sendable () -> ContinuousClock.Instant
    let logger: Logger
    let sharing: TokenSharing?
    /// Whether refreshes go through the fleet's store (then accounts register with their mounted
    /// credentials and `setCredentials(_:forKey:label:resumingFrom:)`).
    public var sharesRefreshes: Bool { sharing != nil }
    /// Whether the shared store answered last time: its failures are logged once per change.
    let sharedStoreReachable = NIOLockedValueBox(true)
    let state = NIOLockedValueBox(State())
    private let onRotation: (@Sendable (_ key: String, _ refreshToken: String) -> Void)?
    private let onRefresh: (@Sendable (_ key: String, _ label: String?, _ outcome: Result<Void, TokenError>) -> Void)?

    /// - Parameter onRotation: called (outside any lock) when a refresh returned a new refresh
    ///   token, so it can be persisted; Microsoft rotates on every refresh.
    /// - Parameter onRefresh: called (outside any lock) after every refresh, with the label the
    ///   key was registered with, so a metric can name the provider without asking the owner.
    /// - Parameter sharing: the fleet's shared store (FleetState's `FleetTokenStore`), consulted
    ///   before every refresh; nil refreshes alone, as a single replica does. With it, give
    ///   `setCredentials` the mounted credentials: the store compares their refresh token with
    ///   the one its rotated tokens descend from.
    public init(grant: RefreshTokenGrant, configuration: Configuration = .init(),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }, logger: Logger,
                sharing: TokenSharing? = nil,
                onRotation: (@Sendable (_ key: String, _ refreshToken: String) -> Void)? = nil,
                onRefresh: (@Sendable (_ key: String, _ label: String?, _ outcome: Result<Void, TokenError>) -> Void)? = nil) {
        self.sharing = sharing
        self.onRotation = onRotation
        self.onRefresh = onRefresh
        self.grant = grant
        self.configuration = configuration
        self.now = now
        self.logger = logger
    }

    // MARK: - Accounts

    /// Registers or reconfigures an account. Unchanged credentials keep the cached token, a rotated
    /// refresh token and a remembered rejection; changed ones drop all three.
    /// `label`: what `onRefresh` is told about this key (the provider, say).
    public func setCredentials(_ credentials: OAuth2Credentials, forKey key: String, label: String? = nil) {
        state.withLockedValue { state in
            if let existing = state.accounts[key], existing.configured == credentials {
                state.accounts[key]?.label = label
                return
            }
            // A refresh still running for the old credentials finishes for its own waiters only.
            state.accounts[key] = Account(configured: credentials, current: credentials, label: label)
        }
    }

    public func removeAccount(forKey key: String) {
        _ = state.withLockedValue { $0.accounts.removeValue(forKey: key) }
    }

    /// Removes every key not in `keys`: after a reload, pass the keys still configured. A key
    /// shared by many accounts (`OAuth2Credentials.tokenCacheKey`) stays while any of them uses it,
    /// which `removeAccount` for one of those accounts would not know.
    public func removeAccounts(except keys: Set<String>) {
        state.withLockedValue { state in
            state.accounts = state.accounts.filter { keys.contains($0.key) }
        }
    }

    /// The keys currently configured.
    public var keys: Set<String> {
        state.withLockedValue { Set($0.accounts.keys) }
    }

    /// For status pages: when the cached token expires (nil if none), and whether the
    /// provider rejected the credentials.
    public func status(forKey key: String) -> (expiresAt: ContinuousClock.Instant?, credentialsRejected: Bool) {
        state.withLockedValue { state in
            let account = state.accounts[key]
            return (account?.cached?.token.expiresAt, account?.rejection != nil)
        }
    }

    /// The refresh token that the next refresh would send: the configured one, or the latest rotated one.
    /// Nil for unknown keys and for grants without a refresh token.
    public func currentRefreshToken(forKey key: String) -> String? {
        state.withLockedValue { state in
            guard let current = state.accounts[key]?.current, current.usesRefreshToken else { return nil }
            return current.refreshToken
        }
    }

    // MARK: - Tokens

    /// A token valid for at least the expiry margin.
    /// - Parameter forceRefresh: the upstream rejected the token this caller holds. A refresh already
    ///   in flight is joined (it necessarily started after that token was issued); otherwise one starts
    ///   even though the cached token looks fresh. Either way the cached token is no longer handed out. Prefer `accessToken(forKey:replacing:)`, which can
    ///   also tell that another caller already replaced the token.
    public func accessToken(forKey key: String, forceRefresh: Bool = false) async throws(TokenError) -> AccessToken {
        try await token(forKey: key, request: forceRefresh ? .force : .fresh)
    }

    /// Like `forceRefresh: true`, but knowing which token the upstream refused: if the cache already
    /// holds a different fresh token (another caller refreshed since), that one is returned without HTTP.
    public func accessToken(forKey key: String, replacing rejected: AccessToken) async throws(TokenError) -> AccessToken {
        try await token(forKey: key, request: .replacing(rejected.value))
    }

    private func token(forKey key: String, request: Request) async throws(TokenError) -> AccessToken {
        let now = self.now()
        // Fast path: nothing to wait for.
        let immediate: Result<AccessToken, TokenError>? = state.withLockedValue { state in
            guard let account = state.accounts[key] else { return .failure(Self.unknownAccount(key)) }
            if let rejection = account.rejection { return .failure(rejection) }
            if let cached = account.cached, cached.isServable(for: request, at: now) { return .success(cached.token) }
            return nil
        }
        if let immediate { return try immediate.get() }
        return try await waitForRefresh(forKey: key, request: request).get()
    }

    private func waitForRefresh(forKey key: String, request: Request) async -> Result<AccessToken, TokenError> {
        let waiterID = state.withLockedValue { $0.makeID() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<AccessToken, TokenError>, Never>) in
                // Decide and register under one lock: the state may have changed since the fast path,
                // and a refresh must not complete between deciding to join it and joining it.
                let now = self.now()
                let (decision, launch): (Result<AccessToken, TokenError>?, Launch?) = state.withLockedValue { state in
                    if Task.isCancelled { return (.failure(Self.cancelled), nil) }
                    guard var account = state.accounts[key] else { return (.failure(Self.unknownAccount(key)), nil) }
                    if let rejection = account.rejection { return (.failure(rejection), nil) }
                    if let cached = account.cached, cached.isServable(for: request, at: now) { return (.success(cached.token), nil) }
                    let waiter = Waiter(continuation: continuation, request: request)
                    // The upstream refused the cached token: nobody may be handed it any more, nor fall back to it.
                    let cachedIsRefused = account.cached.map { request.refuses($0.token) } ?? false
                    let refused = request.refusedValue ?? (cachedIsRefused ? account.cached?.token.value : nil)
                    if cachedIsRefused {
                        account.cached = nil
                        state.accounts[key] = account
                    }
                    if let flightID = account.flightID, state.flights[flightID] != nil {
                        state.flights[flightID]?.waiters[waiterID] = waiter
                        if cachedIsRefused { state.flights[flightID]?.previous = nil }
                        return (nil, nil)
                    }
                    let flightID = state.makeID()
                    state.flights[flightID] = Flight(key: key, waiters: [waiterID: waiter], previous: account.cached?.token)
                    account.flightID = flightID
                    let firstFlight = !account.launched
                    account.launched = true
                    state.accounts[key] = account
                    let mounted = account.configured.usesRefreshToken ? account.configured.refreshToken : nil
                    return (nil, Launch(key: key, flightID: flightID, credentials: account.current, startedAt: now, label: account.label,
                                        refused: refused, mountedRefreshToken: mounted, firstFlight: firstFlight))
                }
                if let decision { continuation.resume(returning: decision) }
                if let launch { start(launch) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLockedValue { state in
                for (flightID, flight) in state.flights where flight.waiters[waiterID] != nil {
                    return state.flights[flightID]?.waiters.removeValue(forKey: waiterID)
                }
                return nil
            }
            waiter?.continuation.resume(returning: .failure(Self.cancelled))
        }
    }

    private func start(_ launch: Launch) {
        let accountLogger = logger.withAccount(launch.key)
        Task {
            if let sharing {
                let shared = await refreshShared(launch, sharing: sharing, logger: accountLogger)
                complete(launch, result: shared.result, issuedAt: shared.issuedAt, fromStore: shared.fromStore, logger: accountLogger)
            } else {
                complete(launch, result: await refreshAlone(launch.credentials, logger: accountLogger), issuedAt: launch.startedAt,
                         fromStore: false, logger: accountLogger)
            }
        }
    }

    func refreshAlone(_ credentials: OAuth2Credentials, logger: Logger) async -> Result<Refreshed, TokenError> {
        do throws(TokenError) {
            return .success(try await grant.fetch(credentials, logger: logger))
        } catch {
            return .failure(error)
        }
    }

    /// - Parameter issuedAt: when the token's life began, for the half-life rule: the refresh's
    ///   start, or earlier for a token another replica refreshed.
    /// - Parameter fromStore: another replica refreshed; `onRefresh` counts this one's requests.
    private func complete(_ launch: Launch, result: Result<Refreshed, TokenError>, issuedAt: ContinuousClock.Instant,
                          fromStore: Bool, logger: Logger) {
        let now = self.now()
        let margin = configuration.expiryMargin
        var rotatedTo: String?
        let flight: Flight? = state.withLockedValue { state in
            guard let flight = state.flights.removeValue(forKey: launch.flightID) else { return nil }
            // Only the account's current flight may change it: after `setCredentials` with new values or
            // `removeAccount`, this result belongs to credentials that are no longer configured.
            guard var account = state.accounts[flight.key], account.flightID == launch.flightID else { return flight }
            account.flightID = nil
            switch result {
            case .success(let fetched):
                account.cached = CachedToken(token: fetched.token, startedAt: issuedAt, margin: margin)
                if let rotated = fetched.newRefreshToken, account.current.usesRefreshToken, rotated != account.current.refreshToken {
                    account.current.refreshToken = rotated
                    rotatedTo = rotated
                }
            case .failure(let error):
                if case .credentialsRejected = error {
                    account.rejection = error
                    account.cached = nil
                }
            }
            state.accounts[flight.key] = account
            return flight
        }
        if let rotatedTo { onRotation?(launch.key, rotatedTo) }
        if !fromStore { onRefresh?(launch.key, launch.label, result.map { _ in () }) }
        guard let flight else { return }
        switch result {
        case .success(let fetched):
            logger.debug("access token refreshed", metadata: [
                "expires_in_s": "\((fetched.token.expiresAt - now).components.seconds)",
                "refresh_token_rotated": "\(fetched.newRefreshToken != nil && fetched.newRefreshToken != launch.credentials.refreshToken)",
            ])
        case .failure(.credentialsRejected):
            logger.notice("credentials rejected; failing fast for this account until its credentials change")
        case .failure(.unavailable), .failure(.endpointCircuitOpen):
            break // RefreshTokenGrant already logged why.
        }
        var usedPrevious = false
        for waiter in flight.waiters.values {
            // A refresh that failed transiently need not fail callers whose token was never refused:
            // the previous token still works until its real expiry (the margin exists for this).
            if case .failure(let error) = result, error.isTransient, let previous = flight.previous, !waiter.request.refuses(previous), now < previous.expiresAt {
                usedPrevious = true
                waiter.continuation.resume(returning: .success(previous))
            } else {
                waiter.continuation.resume(returning: result.map(\.token))
            }
        }
        if usedPrevious {
            logger.warning("token refresh failed; using the current token until it expires")
        }
    }

    /// How many callers are waiting on a refresh for `key`; lets tests wait for callers to arrive.
    func waiterCount(forKey key: String) -> Int {
        state.withLockedValue { state in
            state.flights.values.filter { $0.key == key }.reduce(0) { $0 + $1.waiters.count }
        }
    }

    // MARK: - Errors

    private static func unknownAccount(_ key: String) -> TokenError {
        .credentialsRejected("no OAuth2 credentials configured for account \(key)")
    }

    private static let cancelled = TokenError.unavailable("cancelled while waiting for an access token")
}

// MARK: - State

extension TokenCache {
    enum Request {
        case fresh
        case force
        case replacing(String)

        /// Whether this caller reports `token` as refused by the upstream.
        func refuses(_ token: AccessToken) -> Bool {
            switch self {
            case .fresh: false
            case .force: true
            case .replacing(let rejected): token.value == rejected
            }
        }

        var refusedValue: String? {
            if case .replacing(let rejected) = self { return rejected }
            return nil
        }
    }

    typealias Refreshed = (token: AccessToken, newRefreshToken: String?)

    struct CachedToken {
        var token: AccessToken
        /// After this the token is no longer handed out.
        var freshUntil: ContinuousClock.Instant

        init(token: AccessToken, startedAt: ContinuousClock.Instant, margin: Duration) {
            self.token = token
            let lifetime = token.expiresAt - startedAt
            freshUntil = max(token.expiresAt - margin, startedAt + lifetime / 2)
        }

        func isServable(for request: Request, at now: ContinuousClock.Instant) -> Bool {
            guard now < freshUntil else { return false }
            switch request {
            case .fresh: return true
            case .force: return false
            case .replacing(let rejected): return token.value != rejected
            }
        }
    }

    struct Waiter {
        var continuation: CheckedContinuation<Result<AccessToken, TokenError>, Never>
        var request: Request
    }

    struct Flight {
        var key: String
        var waiters: [UInt64: Waiter]
        /// The token the refresh is meant to replace, as a fallback if the refresh fails transiently.
        var previous: AccessToken?
    }

    struct Account {
        /// As last given to `setCredentials`; compared to tell a real change from a repeat.
        var configured: OAuth2Credentials
        /// What the next refresh sends: `configured` with the latest rotated refresh token.
        var current: OAuth2Credentials
        var label: String?
        var cached: CachedToken?
        var rejection: TokenError?
        var flightID: UInt64?
        /// A refresh started since these credentials were set.
        var launched = false
    }

    struct Launch {
        var key: String
        var flightID: UInt64
        var credentials: OAuth2Credentials
        var startedAt: ContinuousClock.Instant
        var label: String?
        /// A token value the upstream refused: a shared copy of it must not be used either.
        var refused: String?
        /// The configured (mounted) refresh token, for refresh-token grants.
        var mountedRefreshToken: String?
        /// The first refresh for these credentials: where a mounted token the operator changed
        /// replaces the shared one.
        var firstFlight: Bool
    }

    struct State {
        var accounts: [String: Account] = [:]
        var flights: [UInt64: Flight] = [:]
        private var lastID: UInt64 = 0

        mutating func makeID() -> UInt64 {
            lastID += 1
            return lastID
        }
    }
}

extension Logger {
    func withAccount(_ key: String) -> Logger {
        var logger = self
        logger[metadataKey: "account_id"] = "\(key)"
        return logger
    }
}
