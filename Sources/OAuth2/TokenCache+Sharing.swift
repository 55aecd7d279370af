import Logging

extension TokenCache {
    /// `setCredentials` for a fleet replica with a `--state-dir`: `credentials` hold the mounted
    /// refresh token, which the shared store compares with the one its row descends from, and
    /// refreshes start from `resumingFrom` (the rotated descendant kept under the state directory)
    /// until the store hands out a newer one. Without sharing, passing the resolved credentials
    /// to `setCredentials` does the same.
    public func setCredentials(_ credentials: OAuth2Credentials, forKey key: String, label: String? = nil, resumingFrom refreshToken: String?) {
        setCredentials(credentials, forKey: key, label: label)
        guard let refreshToken else { return }
        state.withLockedValue { state in
            // Once a refresh ran, the cache's own refresh token is newer than any file.
            guard var account = state.accounts[key], account.configured == credentials, !account.launched,
                  account.current.usesRefreshToken else { return }
            account.current.refreshToken = refreshToken
            state.accounts[key] = account
        }
    }

    struct SharedOutcome {
        var result: Result<Refreshed, TokenError>
        var issuedAt: ContinuousClock.Instant
        /// The token came from the store: no token request was sent.
        var fromStore: Bool
    }

    /// One flight's refresh through the fleet's store (`SharedRefreshPlan` decides each step).
    /// Runs in the flight's task, so callers wait on it as on any refresh, and the store's calls
    /// are bounded by the store. A store that fails or answers too late costs one bounded call,
    /// then this replica refreshes by itself, as it would without a store.
    func refreshShared(_ launch: Launch, sharing: TokenSharing, logger: Logger) async -> SharedOutcome {
        let store = sharing.store, key = store.sharedKey(forCacheKey: launch.key, credentials: launch.credentials)
        let plan = SharedRefreshPlan(margin: configuration.expiryMargin, refused: launch.refused)
        let deadline = now() + sharing.maximumWait
        var credentials = launch.credentials
        // The rotated refresh token the row handed over; the cache keeps it as its own.
        var adopted: String? {
            credentials.refreshToken != launch.credentials.refreshToken ? credentials.refreshToken : nil
        }
        func take(_ row: SharedTokenRow?) {
            if let rotated = row?.refreshToken, credentials.usesRefreshToken { credentials.refreshToken = rotated }
        }
        do {
            var row = try await store.read(key: key, mountedRefreshToken: launch.mountedRefreshToken)
            if let found = row, found.mountedDiffers, launch.firstFlight, let mounted = launch.mountedRefreshToken {
                let generation = try await store.adoptMounted(key: key, mountedRefreshToken: mounted)
                logger.notice("the mounted refresh token differs from the one the fleet's tokens came from: the mounted one replaces them")
                row = SharedTokenRow(token: nil, generation: generation)
            }
            take(row)
            sharedStore(reachable: true)
            var step = plan.afterRead(row)
            while true {
                switch step {
                case .use(let token):
                    return fromStore(token, rotated: adopted)
                case .takeLease(let seen):
                    step = plan.afterLease(try await store.takeRefreshLease(key: key, seenGeneration: seen, holding: sharing.leaseDuration))
                case .refresh(let generation):
                    return await refreshAndPublish(launch, key: key, credentials: credentials, adopted: adopted,
                                                   generation: generation, store: store, logger: logger)
                case .poll(let after):
                    // Unstructured flight tasks are never cancelled: a throwing sleep just polls sooner.
                    try? await sharing.sleep(sharing.pollInterval)
                    let polled = try await store.read(key: key, mountedRefreshToken: launch.mountedRefreshToken)
                    take(polled)
                    step = plan.afterPoll(polled, baseline: after, now: now(), deadline: deadline)
                case .refreshAlone:
                    logger.info("no token from the replica holding the refresh lease: refreshing alone")
                    return await alone(credentials, adopted: adopted, logger: logger)
                }
            }
        } catch {
            sharedStore(reachable: false, error: error)
            return await alone(credentials, adopted: adopted, logger: logger)
        }
    }

    /// The lease is this replica's: refresh, then publish with the refresh token the token came
    /// with, in one statement, since a rotating provider has just invalidated the one sent.
    private func refreshAndPublish(_ launch: Launch, key: String, credentials: OAuth2Credentials, adopted: String?, generation: Int64,
                                   store: any SharedTokenStore, logger: Logger) async -> SharedOutcome {
        let startedAt = now()
        let result = await refreshAlone(credentials, logger: logger)
        do {
            switch result {
            case .success(let fetched):
                let refreshToken = fetched.newRefreshToken ?? (credentials.usesRefreshToken ? credentials.refreshToken : nil)
                let publication = SharedTokenPublication(
                    token: SharedAccessToken(value: fetched.token.value, expiresIn: fetched.token.expiresAt - now(),
                                             lifetime: fetched.token.expiresAt - startedAt),
                    refreshToken: refreshToken == launch.mountedRefreshToken ? nil : refreshToken,
                    mountedRefreshToken: launch.mountedRefreshToken)
                if try await !store.publish(key: key, token: publication, generation: generation) {
                    logger.notice("refreshed token not shared: the refresh lease passed to another replica meanwhile")
                }
            case .failure:
                try await store.releaseRefreshLease(key: key)
            }
        } catch {
            sharedStore(reachable: false, error: error)
        }
        return SharedOutcome(result: result.map { ($0.token, $0.newRefreshToken ?? adopted) }, issuedAt: startedAt, fromStore: false)
    }

    private func fromStore(_ token: SharedAccessToken, rotated: String?) -> SharedOutcome {
        let now = now()
        let expiresAt = now + token.expiresIn
        return SharedOutcome(result: .success((AccessToken(value: token.value, expiresAt: expiresAt), rotated)),
                             issuedAt: expiresAt - token.lifetime, fromStore: true)
    }

    private func alone(_ credentials: OAuth2Credentials, adopted: String?, logger: Logger) async -> SharedOutcome {
        let startedAt = now()
        let result = await refreshAlone(credentials, logger: logger)
        return SharedOutcome(result: result.map { ($0.token, $0.newRefreshToken ?? adopted) }, issuedAt: startedAt, fromStore: false)
    }

    /// Logs a change of the store's reachability once, not every refresh. The error is the
    /// store's own description, which names the operation and never a token.
    private func sharedStore(reachable: Bool, error: (any Error)? = nil) {
        let changed = sharedStoreReachable.withLockedValue { was in
            defer { was = reachable }
            return was != reachable
        }
        guard changed else { return }
        if reachable {
            logger.notice("shared token store reachable again: refreshes are shared by the fleet again")
        } else {
            logger.warning("shared token store unavailable: each replica refreshes its own tokens", metadata: [
                "reason": "\(error.map { "\($0)" } ?? "unknown")",
            ])
        }
    }
}
