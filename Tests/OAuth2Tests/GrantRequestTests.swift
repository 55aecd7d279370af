import _CryptoExtras
import Crypto
import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import OAuth2

/// The form each grant sends and the assertions in it, checked with the public keys.
@Suite struct GrantRequestTests {
    static let tokenURL = "https://login.example.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    static let issuedAt = Date(timeIntervalSince1970: 1_800_000_000)

    static func grant(_ transport: ScriptedTransport, maxAttempts: Int = 3) -> RefreshTokenGrant {
        var configuration = RefreshTokenGrant.Configuration()
        configuration.maxAttempts = maxAttempts
        configuration.requestTimeout = .seconds(7)
        return RefreshTokenGrant(transport: transport, configuration: configuration, sleep: { _ in }, jitter: { $0 },
                                 wallClock: { issuedAt })
    }

    static func appCredentials(_ authentication: ClientAuthentication, scope: String? = nil) -> OAuth2Credentials {
        .microsoftClientCredentials(tenant: "contoso.onmicrosoft.com", clientID: "app-1111", authentication: authentication,
                                    tokenURL: tokenURL, scope: scope)
    }

    // MARK: client_credentials

    @Test func clientCredentialsWithASecretSendsTheSecret() async throws {
        let transport = ScriptedTransport([.token("app-token")])
        let (token, rotated) = try await Self.grant(transport).fetch(Self.appCredentials(.secret("s3cret+/=")))
        #expect(token.value == "app-token")
        #expect(rotated == nil)
        let sent = try #require(transport.sent.first)
        #expect(sent.url == Self.tokenURL)
        #expect(sent.timeout == .seconds(7))
        #expect(sent.fields == ["grant_type": "client_credentials", "client_id": "app-1111", "client_secret": "s3cret+/=",
                                "scope": "https://outlook.office365.com/.default"])
    }

    @Test func clientCredentialsWithACertificateSendsAPS256AssertionForTheTokenURL() async throws {
        let transport = ScriptedTransport([.token("app-token")])
        _ = try await Self.grant(transport).fetch(Self.appCredentials(.certificate(GrantFixtures.clientCertificate), scope: "api://custom/.default"))
        let fields = try #require(transport.sent.first).fields
        #expect(Set(fields.keys) == ["grant_type", "client_id", "client_assertion_type", "client_assertion", "scope"])
        #expect(fields["grant_type"] == "client_credentials")
        #expect(fields["client_id"] == "app-1111")
        #expect(fields["scope"] == "api://custom/.default")
        #expect(fields["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        let assertion = try #require(fields["client_assertion"])
        let jwt = try #require(DecodedJWT(assertion))

        // The signature verifies with the certificate's public key, PSS padding, and not otherwise.
        let certificateKey = try #require(_RSA.Signing.PublicKey(GrantFixtures.appCertificate.publicKey))
        #expect(jwt.isSigned(by: certificateKey, padding: .PSS))
        #expect(!jwt.isSigned(by: certificateKey, padding: .insecurePKCS1v1_5))
        #expect(!jwt.isSigned(by: GrantFixtures.otherKey.publicKey, padding: .PSS))

        #expect(jwt.header["alg"] as? String == "PS256")
        #expect(jwt.header["typ"] as? String == "JWT")
        let thumbprint = Data(SHA256.hash(data: GrantFixtures.der(GrantFixtures.appCertificate))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect(jwt.header["x5t#S256"] as? String == thumbprint)

        let now = Int(Self.issuedAt.timeIntervalSince1970)
        #expect(jwt.string("aud") == Self.tokenURL)
        #expect(jwt.string("iss") == "app-1111")
        #expect(jwt.string("sub") == "app-1111")
        #expect(jwt.int("iat") == now)
        #expect(jwt.int("nbf") == now)
        let exp = try #require(jwt.int("exp"))
        #expect(exp > now && exp - now <= 600)
        #expect((jwt.string("jti")?.count ?? 0) >= 16)
    }

    @Test func everyAttemptSignsAFreshAssertion() async throws {
        let transport = ScriptedTransport([.reply(status: 503, body: "busy"), .fail(ScriptedTransportError()), .token("app-token")])
        _ = try await Self.grant(transport).fetch(Self.appCredentials(.certificate(GrantFixtures.clientCertificate)))
        let assertions = transport.sent.compactMap { $0.fields["client_assertion"] }
        #expect(assertions.count == 3)
        let ids = assertions.compactMap { DecodedJWT($0)?.string("jti") }
        #expect(ids.count == 3)
        #expect(Set(ids).count == 3)
    }

    @Test func theFederatedTokenFileIsReadForEveryRequest() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedtoken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("azure-identity-token").path
        try "eyJfirst.token.one\n".write(toFile: path, atomically: true, encoding: .utf8)

        let transport = ScriptedTransport()
        let grant = Self.grant(transport)
        let credentials = Self.appCredentials(.federatedTokenFile(path: path))
        _ = try await grant.fetch(credentials)
        // The kubelet rotates the token by replacing the file.
        try "  eyJsecond.token.two  \n".write(toFile: path, atomically: true, encoding: .utf8)
        _ = try await grant.fetch(credentials)

        #expect(transport.sent.map { $0.fields["client_assertion"] } == ["eyJfirst.token.one", "eyJsecond.token.two"])
        let fields = try #require(transport.sent.first).fields
        #expect(fields["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        #expect(fields["grant_type"] == "client_credentials")
        #expect(fields["client_id"] == "app-1111")
        #expect(fields["client_secret"] == nil)
    }

    @Test func anUnreadableOrEmptyFederatedTokenFileIsAnErrorNamingThePathWithoutARequest() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedtoken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing").path
        let empty = directory.appendingPathComponent("empty").path
        try "\n".write(toFile: empty, atomically: true, encoding: .utf8)

        let transport = ScriptedTransport()
        let logs = LogCapture()
        for (path, words) in [(missing, "cannot be read"), (empty, "is empty")] {
            let error = await #expect(throws: TokenError.self) {
                try await Self.grant(transport).fetch(Self.appCredentials(.federatedTokenFile(path: path)), logger: logs.logger())
            }
            #expect(error == .unavailable("federated token file \(path) \(words)"))
            #expect(error?.isTransient == true)
        }
        #expect(transport.requests.isEmpty)
        #expect(logs.text.contains(missing) && logs.text.contains(empty))
    }

    // MARK: service_account

    @Test func serviceAccountSendsAnRS256JWTBearerAssertionForTheMailbox() async throws {
        let transport = ScriptedTransport([.token("sa-token")])
        let credentials = OAuth2Credentials.googleServiceAccount(key: GrantFixtures.serviceAccount, subject: "ops@acme.com")
        #expect(credentials.tokenURL == "https://oauth2.example.com/token")
        let (token, _) = try await Self.grant(transport).fetch(credentials)
        #expect(token.value == "sa-token")
        let sent = try #require(transport.sent.first)
        #expect(sent.url == "https://oauth2.example.com/token")
        #expect(Set(sent.fields.keys) == ["grant_type", "assertion"])
        #expect(sent.fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer")
        let assertion = try #require(sent.fields["assertion"])
        let jwt = try #require(DecodedJWT(assertion))
        #expect(jwt.isSigned(by: GrantFixtures.serviceAccountKey.publicKey, padding: .insecurePKCS1v1_5))
        #expect(!jwt.isSigned(by: GrantFixtures.serviceAccountKey.publicKey, padding: .PSS))
        #expect(jwt.header["alg"] as? String == "RS256")
        #expect(jwt.header["typ"] as? String == "JWT")
        #expect(jwt.header["kid"] as? String == "kid-0123456789abcdef")
        let now = Int(Self.issuedAt.timeIntervalSince1970)
        #expect(jwt.string("iss") == "relay@acme-project.iam.gserviceaccount.com")
        #expect(jwt.string("sub") == "ops@acme.com")
        #expect(jwt.string("scope") == "https://mail.google.com/")
        #expect(jwt.string("aud") == "https://oauth2.example.com/token")
        #expect(jwt.int("iat") == now)
        #expect(jwt.int("exp") == now + 3600)
    }

    @Test func configuredTokenURLAndScopeOverrideTheKeyFile() async throws {
        let transport = ScriptedTransport([.token("sa-token")])
        let credentials = OAuth2Credentials.googleServiceAccount(key: GrantFixtures.serviceAccount, subject: "ops@acme.com",
                                                                 tokenURL: "http://127.0.0.1:9/token", scope: "https://mail.google.com/ openid")
        _ = try await Self.grant(transport).fetch(credentials)
        let sent = try #require(transport.sent.first)
        #expect(sent.url == "http://127.0.0.1:9/token")
        let assertion = try #require(sent.fields["assertion"])
        let jwt = try #require(DecodedJWT(assertion))
        #expect(jwt.string("aud") == "http://127.0.0.1:9/token")
        #expect(jwt.string("scope") == "https://mail.google.com/ openid")
    }

    @Test func rejectedAssertionsAreStickyCredentialErrorsAndNeverLogged() async throws {
        let transport = ScriptedTransport([.oauthError(400, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method.")])
        let logs = LogCapture()
        let credentials = OAuth2Credentials.googleServiceAccount(key: GrantFixtures.serviceAccount, subject: "ops@acme.com")
        let error = await #expect(throws: TokenError.self) { try await Self.grant(transport).fetch(credentials, logger: logs.logger()) }
        #expect(error?.isTransient == false)
        #expect(transport.requestCount == 1)
        let assertion = try #require(transport.sent.first?.fields["assertion"])
        #expect(!logs.text.contains(assertion))
        #expect(!logs.text.contains(String(assertion.split(separator: ".")[2])))
        #expect(!logs.text.contains("xoauth2-proxy authorize"))
    }

    // MARK: Google workload identity

    static let identity = GoogleWorkloadIdentity(serviceAccountEmail: "relay@acme-project.iam.gserviceaccount.com", subject: "ops@acme.com",
                                                 metadataHost: "169.254.169.254:8080", iamCredentialsBaseURL: "https://iam.example.com/")

    @Test func workloadIdentityAsksTheMetadataServerThenIAMThenTheTokenEndpoint() async throws {
        let transport = ScriptedTransport([
            .reply(status: 200, body: #"{"access_token":"ya29.metadata-SECRET","expires_in":3599,"token_type":"Bearer"}"#),
            .reply(status: 200, body: #"{"keyId":"k1","signedJwt":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJl"}"#),
            .token("wi-token"),
        ])
        let logs = LogCapture()
        let credentials = OAuth2Credentials.googleWorkloadIdentity(Self.identity)
        #expect(credentials.tokenURL == "https://oauth2.googleapis.com/token")
        let (token, _) = try await Self.grant(transport).fetch(credentials, logger: logs.logger())
        #expect(token.value == "wi-token")

        let requests = transport.requests
        try #require(requests.count == 3)
        let metadata = requests[0]
        #expect(!metadata.isForm)
        #expect(metadata.request.method == .GET)
        #expect(metadata.request.url == "http://169.254.169.254:8080/computeMetadata/v1/instance/service-accounts/default/token")
        #expect(metadata.request.header("Metadata-Flavor") == "Google")
        #expect(metadata.request.header("Authorization") == nil)
        #expect(metadata.timeout == .seconds(7))

        let sign = requests[1]
        #expect(sign.request.method == .POST)
        #expect(sign.request.url == "https://iam.example.com/v1/projects/-/serviceAccounts/relay@acme-project.iam.gserviceaccount.com:signJwt")
        #expect(sign.request.header("Authorization") == "Bearer ya29.metadata-SECRET")
        #expect(sign.request.header("Content-Type") == "application/json")
        #expect(sign.timeout == .seconds(7))
        let body = try #require(try JSONSerialization.jsonObject(with: Data(sign.request.body ?? [])) as? [String: Any])
        #expect(Set(body.keys) == ["payload"])
        let payload = try #require(body["payload"] as? String)
        let claims = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
        let now = Int(Self.issuedAt.timeIntervalSince1970)
        #expect(claims["iss"] as? String == "relay@acme-project.iam.gserviceaccount.com")
        #expect(claims["sub"] as? String == "ops@acme.com")
        #expect(claims["scope"] as? String == "https://mail.google.com/")
        #expect(claims["aud"] as? String == "https://oauth2.googleapis.com/token")
        #expect((claims["iat"] as? NSNumber)?.intValue == now)
        #expect((claims["exp"] as? NSNumber)?.intValue == now + 3600)

        let exchange = requests[2]
        #expect(exchange.isForm)
        #expect(exchange.request.url == "https://oauth2.googleapis.com/token")
        #expect(transport.sent.first?.fields == ["grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                 "assertion": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJl"])
        #expect(!"\(sign.request)".contains("metadata-SECRET"))
    }

    @Test func metadataServerErrorsAreRetriedWithTheWholeSequence() async throws {
        let transport = ScriptedTransport([
            .reply(status: 503, body: "metadata unavailable"),
            .fail(ScriptedTransportError()),
            .reply(status: 200, body: #"{"access_token":"meta-2"}"#),
            .reply(status: 200, body: #"{"signedJwt":"a.b.c"}"#),
            .token("wi-token"),
        ])
        let logs = LogCapture()
        let (token, _) = try await Self.grant(transport).fetch(.googleWorkloadIdentity(Self.identity), logger: logs.logger())
        #expect(token.value == "wi-token")
        #expect(transport.requests.map(\.request.method) == [.GET, .GET, .GET, .POST, .POST])
        #expect(logs.text.contains("step=metadata"))
        #expect(logs.text.contains("metadata HTTP 503"))
    }

    @Test func iamRefusingToSignIsARejectionNamingTheStep() async throws {
        let transport = ScriptedTransport([
            .reply(status: 200, body: #"{"access_token":"ya29.metadata-SECRET"}"#),
            .reply(status: 403, body: #"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.signJwt' denied (token ya29.metadata-SECRET)","status":"PERMISSION_DENIED"}}"#),
        ])
        let logs = LogCapture()
        let error = await #expect(throws: TokenError.self) {
            try await Self.grant(transport).fetch(.googleWorkloadIdentity(Self.identity), logger: logs.logger())
        }
        guard case .credentialsRejected(let detail)? = error else {
            Issue.record("expected credentialsRejected, got \(String(describing: error))")
            return
        }
        #expect(detail.hasPrefix("PERMISSION_DENIED: Permission "))
        #expect(transport.requests.count == 2)
        #expect(logs.text.contains("step=signJwt"))
        #expect(logs.text.contains("step_host=iam.example.com"))
        #expect(!logs.text.contains("metadata-SECRET"))
        #expect(!detail.contains("metadata-SECRET"))
    }

    @Test func aTransportWithoutSendFailsWorkloadIdentityAsUnavailable() async throws {
        struct FormOnly: TokenHTTPTransport {
            func postForm(url: String, body: String, timeout: Duration) async throws -> (status: Int, body: [UInt8]) { (500, []) }
        }
        let grant = RefreshTokenGrant(transport: FormOnly(), configuration: .init(maxAttempts: 1))
        let error = await #expect(throws: TokenError.self) { try await grant.fetch(.googleWorkloadIdentity(Self.identity)) }
        #expect(error?.isTransient == true)
    }

    // MARK: refresh_token

    @Test func invalidGrantNamesTheAuthorizeCommand() async throws {
        let cases: [(String, String?, String)] = [
            ("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", nil,
             "xoauth2-proxy authorize --provider outlook --tenant contoso.onmicrosoft.com --client-id client-1 --email <the account's email>"),
            ("https://oauth2.googleapis.com/token", "cs",
             "xoauth2-proxy authorize --provider gmail --client-id client-1 --client-secret <client secret> --email <the account's email>"),
        ]
        for (tokenURL, secret, command) in cases {
            let transport = ScriptedTransport([.oauthError(400, "invalid_grant", "Token has been expired or revoked.")])
            let logs = LogCapture()
            let credentials = OAuth2Credentials(tokenURL: tokenURL, clientID: "client-1", clientSecret: secret, refreshToken: "rt-SECRET", scope: nil)
            _ = await #expect(throws: TokenError.credentialsRejected("invalid_grant: Token has been expired or revoked.")) {
                try await Self.grant(transport).fetch(credentials, logger: logs.logger())
            }
            #expect(logs.text.contains("fix=\(command)"), "\(logs.text)")
            #expect(!logs.text.contains("rt-SECRET"))
        }
        // The relay's logger may carry the mailbox.
        let transport = ScriptedTransport([.oauthError(400, "invalid_grant")])
        let logs = LogCapture()
        var logger = logs.logger()
        logger[metadataKey: "email"] = "sales@contoso.com"
        _ = try? await Self.grant(transport).fetch(sampleCredentials, logger: logger)
        #expect(logs.text.contains("--email sales@contoso.com"))
        #expect(logs.text.contains("--provider <outlook|gmail> --token-url https://oauth2.example.com/token"))
    }
}
