import Foundation

/// Google: service accounts with domain-wide delegation (the jwt-bearer grant), and GKE
/// workload identity (a metadata server token, then IAM signJwt as a service account).
extension SandboxTokenIssuer {
    /// A new service account with an RSA key, delegated for `mailboxes` and every mailbox in
    /// `domains`; its key file's `token_uri` is this issuer's token URL. The JSON is what the
    /// Cloud console downloads; the same account can also be used keylessly through
    /// `allowWorkloadIdentity`.
    public func makeServiceAccount(name: String = "xoauth2-proxy", projectID: String = "sandbox-project",
                                   domains: [String] = [], mailboxes: [String] = []) throws -> SandboxServiceAccountKey {
        let (account, key) = try SandboxServiceAccount.make(name: name, projectID: projectID,
                                                           scope: SandboxMailboxScope(mailboxes: mailboxes, domains: domains),
                                                           tokenURI: tokenURL)
        state.withLockedValue { $0.serviceAccounts[account.email.lowercased()] = account }
        return key
    }

    /// Turns the metadata server on: its tokens let the workload call signJwt as each of
    /// `serviceAccounts` (emails of accounts made by `makeServiceAccount`), what
    /// `roles/iam.serviceAccountTokenCreator` grants a GKE workload's identity.
    public func allowWorkloadIdentity(serviceAccounts: [String]) {
        state.withLockedValue { state in
            state.workloadServiceAccounts = (state.workloadServiceAccounts ?? []).union(serviceAccounts.map { $0.lowercased() })
        }
    }

    /// The `sub` of every jwt-bearer assertion `serviceAccount` presented (verified or not, newest
    /// last, within the request log's bound).
    public func assertionSubjects(serviceAccount: String) -> [String] {
        tokenRequests(grantType: SandboxGrantType.jwtBearer, client: serviceAccount).compactMap(\.subject)
    }

    /// GET /computeMetadata/v1/instance/service-accounts/default/token.
    func answerMetadataToken() -> SandboxHTTPResponse {
        let now = self.now()
        return state.withLockedValue { state in
            guard state.workloadServiceAccounts != nil else {
                state.log.record(SandboxTokenRequest(grantType: SandboxGrantType.metadataToken, client: nil, credential: nil, subject: nil, status: 404))
                return .text(status: 404, "No service account is available to this workload (allowWorkloadIdentity was not called).")
            }
            let outcome = state.issue(scope: nil, now: now, refreshToken: nil)
            state.log.record(SandboxTokenRequest(grantType: SandboxGrantType.metadataToken, client: nil, credential: nil, subject: nil, status: 200))
            // The metadata server's reply has no refresh_token, and that is what .issued without one encodes.
            return .json(status: 200, outcome.jsonBody())
        }
    }

    /// POST /v1/projects/-/serviceAccounts/{email}:signJwt (IAM Service Account Credentials API).
    func answerSignJWT(email: String, authorization: String?, body: [UInt8]) -> SandboxHTTPResponse {
        let now = self.now()
        let email = email.lowercased()
        return state.withLockedValue { state in
            let response = state.signJWT(email: email, authorization: authorization, body: body, now: now)
            state.log.record(SandboxTokenRequest(grantType: SandboxGrantType.signJWT, client: email, credential: nil, subject: nil, status: response.status))
            return response
        }
    }
}

extension SandboxTokenIssuer.State {
    mutating func answerJWTBearer(_ request: SandboxTokenIssuer.Request) -> SandboxTokenIssuer.Answer {
        guard let assertion = request.form["assertion"] else {
            return .init(outcome: .error(status: 400, code: "invalid_request", description: "Missing required parameter: assertion"))
        }
        var claimedIssuer: String?
        do {
            let verified = try SandboxJWTBearer.verify(assertion, accounts: serviceAccounts, audiences: request.audiences,
                                                       now: request.wallNow, issuer: &claimedIssuer)
            let scope = verified.subject.map(SandboxMailboxScope.mailbox) ?? SandboxMailboxScope()
            return .init(outcome: issue(scope: scope, now: request.now, refreshToken: nil), client: verified.serviceAccount.lowercased(),
                         credential: "assertion", subject: verified.subject)
        } catch {
            // Logged as claimed: a test can see which sub a refused assertion named.
            let subject = (try? SandboxJWT(compact: assertion))?.string("sub")
            return .init(outcome: error.outcome, client: claimedIssuer?.lowercased(), credential: "assertion", subject: subject)
        }
    }

    fileprivate func signJWT(email: String, authorization: String?, body: [UInt8], now: ContinuousClock.Instant) -> SandboxHTTPResponse {
        let parts = authorization?.split(separator: " ", maxSplits: 1) ?? []
        guard parts.count == 2, parts[0].lowercased() == "bearer", let token = accessTokens[String(parts[1])],
              token.scope == nil, now < token.expiresAt else {
            return .googleError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token from the metadata server.")
        }
        guard let account = serviceAccounts[email], workloadServiceAccounts?.contains(email) == true else {
            return .googleError(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let payload = object["payload"] as? String,
              let claims = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any],
              let claimsJSON = try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return .googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload: expected {\"payload\": \"<JWT claims as a JSON string>\"}.")
        }
        guard let signed = try? SandboxJWT.signRS256(header: ["alg": "RS256", "kid": account.keyID, "typ": "JWT"],
                                                     claimsJSON: claimsJSON, key: account.key) else {
            return .googleError(500, "INTERNAL", "Signing failed.")
        }
        let reply: [String: String] = ["keyId": account.keyID, "signedJwt": signed]
        return .json(status: 200, (try? JSONSerialization.data(withJSONObject: reply, options: [.sortedKeys])).map(Array.init) ?? [])
    }
}
