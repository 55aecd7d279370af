import Foundation
import Logging

/// The token request of one attempt, per grant: form fields, and the assertions and auxiliary
/// requests behind them. Built again for every attempt, so a retried request carries a new `jti`
/// and the federated token file's current contents.
extension RefreshTokenGrant {
    /// How long a client assertion is valid: it is used at once, by one request.
    static let clientAssertionLifetime: TimeInterval = 300
    /// Google's maximum, as its own libraries send.
    static let serviceAccountAssertionLifetime: TimeInterval = 3600
    /// A federated token is a JWT of a few kilobytes; anything far larger is not one.
    static let maxFederatedTokenBytes = 64 * 1024

    struct TokenForm {
        var body: String
        /// Values generated for this attempt that must never be logged (assertions, a metadata token).
        var secrets: [String]
    }

    enum AttemptFailure: Error {
        /// The request could not be built (an unreadable federated token file, a signing failure):
        /// not retried now, nothing remembered, so the next caller tries again.
        case notSent(String)
        /// A step before the token request was answered or failed; classified like a token reply.
        case step(TokenReply)
        case cancelled
    }

    func tokenForm(for credentials: OAuth2Credentials, secrets: [String]) async -> Result<TokenForm, AttemptFailure> {
        let scope = credentials.scope
        switch credentials.grant {
        case .refreshToken:
            return .success(TokenForm(body: FormURLEncoding.encode(credentials.refreshGrantFields), secrets: []))

        case .clientCredentials(let authentication):
            var fields: [(name: String, value: String)] = [("client_id", credentials.clientID)]
            var generated: [String] = []
            switch authentication {
            case .secret(let secret):
                fields.append(("client_secret", secret))
            case .certificate(let certificate):
                let assertion: String
                do {
                    assertion = try clientAssertion(certificate: certificate, clientID: credentials.clientID, audience: credentials.tokenURL)
                } catch {
                    return .failure(.notSent("cannot sign the client assertion with the certificate's key"))
                }
                generated.append(assertion)
                fields.append(("client_assertion_type", OAuth2Defaults.jwtBearerClientAssertionType))
                fields.append(("client_assertion", assertion))
            case .federatedTokenFile(let path):
                let token: String
                switch Self.readFederatedToken(path: path) {
                case .success(let value): token = value
                case .failure(let failure): return .failure(failure)
                }
                generated.append(token)
                fields.append(("client_assertion_type", OAuth2Defaults.jwtBearerClientAssertionType))
                fields.append(("client_assertion", token))
            }
            fields.append(("grant_type", "client_credentials"))
            fields.append(("scope", scope ?? OAuth2Defaults.microsoftClientCredentialsScope))
            return .success(TokenForm(body: FormURLEncoding.encode(fields), secrets: generated))

        case .serviceAccount(let key, let subject):
            let claims = serviceAccountClaims(issuer: key.clientEmail, subject: subject, scope: scope, audience: credentials.tokenURL)
            var header: [String: Any] = [:]
            if let kid = key.privateKeyID { header["kid"] = kid }
            let assertion: String
            do {
                assertion = try JSONWebToken.sign(header: header, claims: claims, algorithm: .RS256, key: key.privateKey)
            } catch {
                return .failure(.notSent("cannot sign the assertion with the service account key"))
            }
            return .success(Self.jwtBearerForm(assertion))

        case .googleWorkloadIdentity(let identity):
            let claims = serviceAccountClaims(issuer: identity.serviceAccountEmail, subject: identity.subject, scope: scope,
                                              audience: credentials.tokenURL)
            return await signedByIAM(identity: identity, claims: claims, secrets: secrets).map(Self.jwtBearerForm)
        }
    }

    private static func jwtBearerForm(_ assertion: String) -> TokenForm {
        TokenForm(body: FormURLEncoding.encode([("grant_type", OAuth2Defaults.jwtBearerGrantType), ("assertion", assertion)]),
                  secrets: [assertion])
    }

    /// Microsoft's certificate credential: PS256, `x5t#S256` of the certificate, `aud` the token URL.
    func clientAssertion(certificate: ClientCertificate, clientID: String, audience: String) throws -> String {
        let now = Self.seconds(wallClock())
        let claims: [String: Any] = [
            "aud": audience,
            "iss": clientID,
            "sub": clientID,
            "jti": JSONWebToken.randomID(),
            "nbf": now,
            "iat": now,
            "exp": now + Int(Self.clientAssertionLifetime),
        ]
        return try JSONWebToken.sign(header: ["x5t#S256": certificate.thumbprintSHA256], claims: claims,
                                     algorithm: .PS256, key: certificate.privateKey)
    }

    func serviceAccountClaims(issuer: String, subject: String, scope: String?, audience: String) -> [String: Any] {
        let now = Self.seconds(wallClock())
        return [
            "iss": issuer,
            "sub": subject,
            "scope": scope ?? OAuth2Defaults.googleMailScope,
            "aud": audience,
            "iat": now,
            "exp": now + Int(Self.serviceAccountAssertionLifetime),
        ]
    }

    private static func seconds(_ date: Date) -> Int {
        Int(date.timeIntervalSince1970.rounded(.down))
    }

    /// The projected service account token, read now: the kubelet replaces it well before it expires.
    static func readFederatedToken(path: String) -> Result<String, AttemptFailure> {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return .failure(.notSent("federated token file \(path) cannot be read"))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxFederatedTokenBytes + 1) ?? Data()
        } catch {
            return .failure(.notSent("federated token file \(path) cannot be read"))
        }
        guard data.count <= maxFederatedTokenBytes else {
            return .failure(.notSent("federated token file \(path) is larger than \(maxFederatedTokenBytes) bytes"))
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            return .failure(.notSent("federated token file \(path) is empty"))
        }
        return .success(token)
    }

    // MARK: - Google workload identity

    /// The metadata server's token for the pod's identity, then IAM `signJwt` over `claims`.
    private func signedByIAM(identity: GoogleWorkloadIdentity, claims: [String: Any], secrets: [String]) async -> Result<String, AttemptFailure> {
        let metadataRequest = TokenHTTPRequest(method: .GET, url: identity.metadataTokenURL,
                                               headers: [.init("Metadata-Flavor", "Google"), .init("Accept", "application/json")])
        let accessToken: String
        switch await step("metadata", request: metadataRequest, field: "access_token", secrets: secrets) {
        case .success(let value): accessToken = value
        case .failure(let failure): return .failure(failure)
        }

        let payload: [UInt8]
        do {
            let claimsJSON = String(decoding: try JSONWebToken.json(claims), as: UTF8.self)
            payload = try JSONWebToken.json(["payload": claimsJSON])
        } catch {
            return .failure(.notSent("cannot encode the assertion's claims"))
        }
        let signRequest = TokenHTTPRequest(method: .POST, url: identity.signJWTURL, headers: [
            .init("Authorization", "Bearer \(accessToken)"),
            .init("Content-Type", "application/json"),
            .init("Accept", "application/json"),
        ], body: payload)
        return await step("signJwt", request: signRequest, field: "signedJwt", secrets: secrets + [accessToken])
    }

    /// One auxiliary request, returning one string field of its JSON reply. Statuses are classified
    /// like token replies: 4xx (other than 408 and 429) means the identity is not allowed (remembered
    /// as a rejection), 5xx, 408, 429 and transport errors are retried.
    private func step(_ name: String, request: TokenHTTPRequest, field: String, secrets: [String]) async -> Result<String, AttemptFailure> {
        let host = Self.host(of: request.url) ?? request.url
        let status: Int
        let body: [UInt8]
        do {
            (status, body) = try await transport.send(request, timeout: configuration.requestTimeout)
        } catch {
            if Task.isCancelled || error is CancellationError { return .failure(.cancelled) }
            var problem = Self.transportProblem(error, secrets: secrets)
            problem.step = name
            problem.host = host
            return .failure(.step(.retryable(problem)))
        }
        var problem = TokenReplyProblem(status: status, oauthError: nil, errorDescription: nil,
                                        reason: "\(name) HTTP \(status)", step: name, host: host)
        if (200..<300).contains(status) {
            if let fields = JSONObjectFields(body), let value = fields.string(field), !value.isEmpty {
                return .success(value)
            }
            problem.reason = "malformed \(name) response (HTTP \(status)): no \(field)"
            return .failure(.step(.retryable(problem)))
        }
        if let google = try? JSONDecoder().decode(GoogleErrorBody.self, from: Data(body)) {
            problem.oauthError = google.error.status.map(ReplyText.errorCode)
            problem.errorDescription = google.error.message.map { ReplyText.description(ReplyText.redact($0, secrets: secrets)) }
        }
        if status >= 500 || status == 408 || status == 429 { return .failure(.step(.retryable(problem))) }
        if (400..<500).contains(status) { return .failure(.step(.rejected(problem))) }
        return .failure(.step(.failed(problem)))
    }

    private struct GoogleErrorBody: Decodable {
        struct Detail: Decodable {
            var status: String?
            var message: String?
        }
        var error: Detail
    }

    // MARK: - Shared wording

    static func transportProblem(_ error: any Error, secrets: [String]) -> TokenReplyProblem {
        let what = ReplyText.description(ReplyText.redact(String(describing: error), secrets: secrets))
        return TokenReplyProblem(status: 0, oauthError: nil, errorDescription: nil, reason: "transport error: \(what)")
    }

    /// What to run when a refresh token stopped working. The relay's logger names the account;
    /// the provider and tenant are read from the token URL when it is a well-known one.
    static func authorizeCommand(for credentials: OAuth2Credentials, logger: Logger) -> String {
        let host = Self.host(of: credentials.tokenURL)?.lowercased() ?? ""
        var words = ["xoauth2-proxy", "authorize"]
        if host.hasSuffix("login.microsoftonline.com") || host.hasSuffix("login.microsoftonline.us") || host.hasSuffix("login.partner.microsoftonline.cn") {
            words += ["--provider", "outlook"]
            let segments = URLComponents(string: credentials.tokenURL)?.path.split(separator: "/") ?? []
            if let tenant = segments.first, tenant != "common" { words += ["--tenant", String(tenant)] }
        } else if host.hasSuffix("googleapis.com") || host.hasSuffix("google.com") {
            words += ["--provider", "gmail"]
        } else {
            words += ["--provider", "<outlook|gmail>", "--token-url", credentials.tokenURL]
        }
        words += ["--client-id", credentials.clientID]
        if credentials.clientSecret != nil { words += ["--client-secret", "<client secret>"] }
        let email = logger[metadataKey: "email"].map { "\($0)" } ?? "<the account's email>"
        words += ["--email", email]
        return words.joined(separator: " ")
    }
}

extension OAuth2Credentials {
    /// The configured secrets, cut out of anything a reply echoes before it is logged.
    var secrets: [String] {
        var secrets: [String] = []
        if let clientSecret { secrets.append(clientSecret) }
        switch grant {
        case .refreshToken(let token): secrets.append(token)
        case .clientCredentials(.secret(let secret)): secrets.append(secret)
        default: break
        }
        return secrets.filter { !$0.isEmpty }
    }
}
