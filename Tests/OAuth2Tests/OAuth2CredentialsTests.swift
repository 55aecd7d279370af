import Foundation
import Logging
import Testing
@testable import OAuth2

@Suite struct OAuth2CredentialsTests {
    static let app = OAuth2Credentials.microsoftClientCredentials(tenant: "contoso.onmicrosoft.com", clientID: "app-1111",
                                                                  authentication: .secret("cc-SECRET-value"))

    @Test func providerDefaults() {
        #expect(Self.app.tokenURL == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
        #expect(Self.app.scope == "https://outlook.office365.com/.default")
        #expect(OAuth2Defaults.microsoftTokenURL(tenant: "0b3c6a56-1c3e-4b1e-9b4c-7b0b5e6c9a11")
            == "https://login.microsoftonline.com/0b3c6a56-1c3e-4b1e-9b4c-7b0b5e6c9a11/oauth2/v2.0/token")
        let overridden = OAuth2Credentials.microsoftClientCredentials(tenant: "t", clientID: "c", authentication: .secret("s"),
                                                                      tokenURL: "https://login.microsoftonline.us/t/oauth2/v2.0/token", scope: "https://outlook.office365.us/.default")
        #expect(overridden.tokenURL == "https://login.microsoftonline.us/t/oauth2/v2.0/token")
        #expect(overridden.scope == "https://outlook.office365.us/.default")
        let google = OAuth2Credentials.googleServiceAccount(key: GrantFixtures.serviceAccount, subject: "ops@acme.com")
        #expect(google.scope == "https://mail.google.com/")
        #expect(google.tokenURL == GrantFixtures.serviceAccount.tokenURI)
        #expect(google.clientID == GrantFixtures.serviceAccount.clientEmail)
        #expect(OAuth2Defaults.jwtBearerGrantType == "urn:ietf:params:oauth:grant-type:jwt-bearer")
        #expect(GoogleWorkloadIdentity.metadataHost(environment: [:]) == "metadata.google.internal")
        #expect(GoogleWorkloadIdentity.metadataHost(environment: ["GCE_METADATA_HOST": "10.0.0.2:8080"]) == "10.0.0.2:8080")
        let identity = GoogleWorkloadIdentity(serviceAccountEmail: "a@p.iam.gserviceaccount.com", subject: "ops@acme.com", metadataHost: "m")
        #expect(identity.iamCredentialsBaseURL == "https://iamcredentials.googleapis.com")
        #expect(OAuth2Credentials.googleWorkloadIdentity(identity).tokenURL == "https://oauth2.googleapis.com/token")
    }

    @Test func theOldInitializerIsTheRefreshTokenGrant() {
        #expect(sampleCredentials.grant == .refreshToken("1//rt-SECRET+value/with=chars"))
        #expect(sampleCredentials.refreshToken == "1//rt-SECRET+value/with=chars")
        #expect(sampleCredentials.usesRefreshToken)
        var rotated = sampleCredentials
        rotated.refreshToken = "rt-2"
        #expect(rotated.grant == .refreshToken("rt-2"))
        var app = Self.app
        app.refreshToken = "ignored"
        #expect(app == Self.app)
        #expect(app.refreshToken == "")
        #expect(!app.usesRefreshToken)
    }

    @Test func oneApplicationSharesOneCacheKeyAndMailboxGrantsKeepTheirOwn() throws {
        // Every mailbox of one app builds equal credentials (the mailbox is not part of them) and the same key.
        #expect(Self.app.tokenCacheKey(accountKey: "sales") == Self.app.tokenCacheKey(accountKey: "ops"))
        let key = Self.app.tokenCacheKey(accountKey: "sales")
        #expect(!key.contains("cc-SECRET-value"))
        #expect(key.contains("app-1111"))

        func appKey(_ authentication: ClientAuthentication, clientID: String = "app-1111", tenant: String = "contoso.onmicrosoft.com",
                    scope: String? = nil) -> String {
            OAuth2Credentials.microsoftClientCredentials(tenant: tenant, clientID: clientID, authentication: authentication, scope: scope)
                .tokenCacheKey(accountKey: "sales")
        }
        let others = [
            appKey(.secret("another secret")),
            appKey(.secret("cc-SECRET-value"), clientID: "app-2222"),
            appKey(.secret("cc-SECRET-value"), tenant: "fabrikam.onmicrosoft.com"),
            appKey(.secret("cc-SECRET-value"), scope: "https://graph.microsoft.com/.default"),
            appKey(.certificate(GrantFixtures.clientCertificate)),
            appKey(.federatedTokenFile(path: "/var/run/secrets/azure/tokens/azure-identity-token")),
        ]
        #expect(Set(others + [key]).count == others.count + 1)
        #expect(appKey(.certificate(GrantFixtures.clientCertificate)).contains(GrantFixtures.clientCertificate.thumbprintSHA256))

        // Service accounts and refresh tokens issue tokens for one mailbox: the account's own key.
        let ops = OAuth2Credentials.googleServiceAccount(key: GrantFixtures.serviceAccount, subject: "ops@acme.com")
        let sales = OAuth2Credentials.googleServiceAccount(key: GrantFixtures.serviceAccount, subject: "sales@acme.com")
        #expect(ops.tokenCacheKey(accountKey: "ops") == "ops")
        #expect(sales.tokenCacheKey(accountKey: "sales") == "sales")
        #expect(ops != sales)
        #expect(sampleCredentials.tokenCacheKey(accountKey: "acct") == "acct")
        let identity = GoogleWorkloadIdentity(serviceAccountEmail: "a@p.iam.gserviceaccount.com", subject: "ops@acme.com", metadataHost: "m")
        #expect(OAuth2Credentials.googleWorkloadIdentity(identity).tokenCacheKey(accountKey: "ops") == "ops")
    }

    @Test func tenMailboxesOnOneApplicationCostOneTokenRequest() async throws {
        let transport = ScriptedTransport([.token("app-token")])
        let cache = TokenCache(grant: instantGrant(transport), logger: Logger(label: "test"))
        let mailboxes = (0..<10).map { "mailbox-\($0)" }
        for mailbox in mailboxes {
            cache.setCredentials(Self.app, forKey: Self.app.tokenCacheKey(accountKey: mailbox))
        }
        try await withThrowingTaskGroup(of: String.self) { group in
            for mailbox in mailboxes {
                group.addTask { try await cache.accessToken(forKey: Self.app.tokenCacheKey(accountKey: mailbox)).value }
            }
            for try await token in group { #expect(token == "app-token") }
        }
        #expect(transport.requestCount == 1)
        #expect(cache.currentRefreshToken(forKey: Self.app.tokenCacheKey(accountKey: "mailbox-0")) == nil)
    }

    @Test func aRejectedApplicationIsRememberedForEveryMailboxUntilItsCredentialsChange() async throws {
        let transport = ScriptedTransport([.oauthError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")])
        let cache = TokenCache(grant: instantGrant(transport), logger: Logger(label: "test"))
        let key = Self.app.tokenCacheKey(accountKey: "a")
        cache.setCredentials(Self.app, forKey: key)
        await #expect(throws: TokenError.self) { try await cache.accessToken(forKey: key) }
        await #expect(throws: TokenError.self) { try await cache.accessToken(forKey: Self.app.tokenCacheKey(accountKey: "b")) }
        #expect(transport.requestCount == 1)
        #expect(cache.status(forKey: key).credentialsRejected)

        // The same secret again (a reload with nothing changed) keeps the rejection; a new one clears it.
        cache.setCredentials(Self.app, forKey: key)
        #expect(cache.status(forKey: key).credentialsRejected)
        let renewed = OAuth2Credentials.microsoftClientCredentials(tenant: "contoso.onmicrosoft.com", clientID: "app-1111",
                                                                   authentication: .secret("cc-SECRET-renewed"))
        let renewedKey = renewed.tokenCacheKey(accountKey: "a")
        cache.setCredentials(renewed, forKey: renewedKey)
        #expect(try await cache.accessToken(forKey: renewedKey).value == "fallback-token")
    }

    @Test func aRotatedRefreshTokenIsNotAppliedToOtherGrants() async throws {
        // A confused endpoint answering a client_credentials request with a refresh token.
        let transport = ScriptedTransport([.token("app-token", refreshToken: "rt-unexpected")])
        let rotations = LogCapture()
        let cache = TokenCache(grant: instantGrant(transport), logger: Logger(label: "test"),
                               onRotation: { key, _ in rotations.append(key) })
        cache.setCredentials(Self.app, forKey: "k")
        _ = try await cache.accessToken(forKey: "k")
        #expect(cache.currentRefreshToken(forKey: "k") == nil)
        #expect(rotations.all.isEmpty)
    }

    @Test func descriptionsRedactEverySecret() throws {
        let directory = "/var/run/secrets/azure/tokens/azure-identity-token"
        let all: [OAuth2Credentials] = [
            sampleCredentials,
            Self.app,
            .microsoftClientCredentials(tenant: "t", clientID: "c", authentication: .certificate(GrantFixtures.clientCertificate)),
            .microsoftClientCredentials(tenant: "t", clientID: "c", authentication: .federatedTokenFile(path: directory)),
            .googleServiceAccount(key: GrantFixtures.serviceAccount, subject: "ops@acme.com"),
        ]
        let secrets = ["1//rt-SECRET+value/with=chars", "cs-SECRET-value-42", "cc-SECRET-value"]
            + GrantFixtures.bodyLines(GrantFixtures.appKey.pkcs8PEMRepresentation)
            + GrantFixtures.bodyLines(GrantFixtures.serviceAccountKey.pkcs8PEMRepresentation)
        for credentials in all {
            let text = "\(credentials) \(String(reflecting: credentials)) \(credentials.grant) \(String(reflecting: credentials.grant))"
            for secret in secrets { #expect(!text.contains(secret), "\(text)") }
            if case .clientCredentials(.federatedTokenFile) = credentials.grant { continue }
            #expect(text.contains("<redacted>"))
        }
        #expect("\(all[3])".contains(directory))
        #expect("\(all[4])".contains("ops@acme.com"))
        let request = TokenHTTPRequest(method: .POST, url: "https://iam.example.com/x", headers: [.init("Authorization", "Bearer ya29.SECRET")], body: Array("{}".utf8))
        #expect(!"\(request)".contains("ya29.SECRET"))
    }
}

@Suite struct SharedTokenCacheKeyTests {
    @Test func removeAccountsExceptKeepsKeysStillInUse() async throws {
        let transport = ScriptedTransport()
        let cache = TokenCache(grant: instantGrant(transport), logger: Logger(label: "test"))
        let shared = OAuth2CredentialsTests.app.tokenCacheKey(accountKey: "a")
        cache.setCredentials(OAuth2CredentialsTests.app, forKey: shared)
        cache.setCredentials(sampleCredentials, forKey: "b")
        cache.setCredentials(sampleCredentials, forKey: "c")
        _ = try await cache.accessToken(forKey: shared)
        cache.removeAccounts(except: [shared, "b"])
        #expect(cache.keys == [shared, "b"])
        #expect(cache.status(forKey: shared).expiresAt != nil)
        #expect(transport.requestCount == 1)
        await #expect(throws: TokenError.self) { try await cache.accessToken(forKey: "c") }
    }
}
