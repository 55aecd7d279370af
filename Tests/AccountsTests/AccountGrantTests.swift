import Foundation
import Testing
import Accounts

/// Issue 12: app-only and keyless grants, and `credentials` shared by many accounts.
@Suite("Grants and shared credentials")
struct AccountGrantTests {
    static let keyMarker = "MIIEleakcheckKEYBYTES"
    static let certificatePEM = "-----BEGIN CERTIFICATE-----\nMIIBcertbytes\n-----END CERTIFICATE-----\n"
    static let keyPEM = "-----BEGIN PRIVATE KEY-----\n\(keyMarker)\n-----END PRIVATE KEY-----\n"

    static func serviceAccountJSON(tokenURI: String? = "https://oauth2.googleapis.com/token", type: String = "service_account") -> String {
        var fields = [
            "\"type\": \(jsonString(type))", "\"client_email\": \"relay@acme-mail.iam.gserviceaccount.com\"",
            "\"private_key\": \(jsonString(keyPEM))", "\"private_key_id\": \"k1\"",
        ]
        if let tokenURI { fields.append("\"token_uri\": \(jsonString(tokenURI))") }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// A directory with an app certificate and key and a service-account key file.
    static func credentialFiles() throws -> URL {
        let directory = try makeTemporaryDirectory()
        _ = try directory.writing(certificatePEM, to: "cert.pem")
        _ = try directory.writing(keyPEM, to: "key.pem")
        _ = try directory.writing(serviceAccountJSON(), to: "sa.json")
        return directory
    }

    static func mailbox(_ name: String, credential: String) -> String {
        "{\"account_id\": \"\(name)\", \"email\": \"\(name)@contoso.com\", \"credential\": \"\(credential)\", \"password\": \(jsonString(Secrets.password))}"
    }

    @Test func tenMailboxesShareOneCertificateCredential() throws {
        let directory = try Self.credentialFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let names = (1...10).map { "box\($0)" }
        let json = """
        {"credentials": {"contoso-app": {"provider": "outlook", "grant": "client_credentials", "tenant": "contoso.onmicrosoft.com",
                         "client_id": "app-1", "certificate_file": "cert.pem", "private_key_file": "key.pem"}},
         "accounts": [\(names.map { Self.mailbox($0, credential: "contoso-app") }.joined(separator: ","))]}
        """
        let config = try directory.writing(json, to: "accounts.json")
        let accounts = try AccountsConfigLoader.load(contentsOf: config.path).accounts
        #expect(accounts.count == 10)
        let first = try #require(accounts.first)
        #expect(first.credentialName == "contoso-app")
        #expect(first.tokenURL == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
        #expect(first.scope == "https://outlook.office365.com/.default")
        #expect(first.refreshToken == nil)
        guard case .clientCertificate(let certificate, let key) = first.grant else {
            Issue.record("grant is \(first.grant)")
            return
        }
        // Relative to the document the credential sits in; contents read at load.
        #expect(certificate.path == directory.appendingPathComponent("cert.pem").path)
        #expect(key.contents == Array(Self.keyPEM.utf8))
        #expect(Set(accounts.map(\.grant)).count == 1)
        // Key bytes never print.
        #expect(!"\(first)".contains(Self.keyMarker))
        #expect(!String(reflecting: first).contains(Self.keyMarker))
    }

    @Test func serviceAccountTakesItsTokenURLAndIdentityFromTheKeyFile() throws {
        let directory = try Self.credentialFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = """
        {"accounts": [{"email": "ops@acme.com", "provider": "gmail", "grant": "service_account", "service_account_file": "sa.json"}]}
        """
        let account = try #require(AccountsConfigLoader.load(contentsOf: directory.writing(json, to: "a.json").path).accounts.first)
        #expect(account.tokenURL == "https://oauth2.googleapis.com/token")
        #expect(account.scope == "https://mail.google.com/")
        #expect(account.clientID == "relay@acme-mail.iam.gserviceaccount.com")
        #expect(account.grant.type == .serviceAccount)
        // token_url on the account wins over the key's token_uri.
        let overridden = json.replacingOccurrences(of: "\"sa.json\"", with: "\"sa.json\", \"token_url\": \"http://127.0.0.1:9/token\"")
        let local = try #require(AccountsConfigLoader.load(contentsOf: directory.writing(overridden, to: "b.json").path).accounts.first)
        #expect(local.tokenURL == "http://127.0.0.1:9/token")
    }

    @Test func workloadIdentityForBothClouds() throws {
        let json = """
        {"accounts": [
          {"email": "a@contoso.com", "provider": "outlook", "grant": "workload_identity", "tenant": "contoso.onmicrosoft.com", "client_id": "app"},
          {"email": "b@acme.com", "provider": "gmail", "grant": "workload_identity", "service_account_email": "relay@acme.iam.gserviceaccount.com",
           "metadata_host": "127.0.0.1:8080", "iam_credentials_url": "http://127.0.0.1:8080"}
        ]}
        """
        let accounts = try AccountsConfigLoader.parse(json, source: testSource).accounts
        #expect(accounts[0].grant == .federatedToken(file: nil))
        #expect(accounts[0].scope == "https://outlook.office365.com/.default")
        #expect(accounts[1].grant == .googleWorkloadIdentity(serviceAccountEmail: "relay@acme.iam.gserviceaccount.com",
                                                             metadataHost: "127.0.0.1:8080", iamCredentialsURL: "http://127.0.0.1:8080"))
        #expect(accounts[1].tokenURL == "https://oauth2.googleapis.com/token")
    }

    @Test(arguments: [
        // (account fields, the field blamed, words the message must contain)
        (#""provider": "outlook", "grant": "client_credentials", "client_id": "a", "client_secret": "s""#, "tenant", "organisation"),
        (#""provider": "outlook", "grant": "client_credentials", "tenant": "common", "client_id": "a", "client_secret": "s""#, "tenant", "common"),
        (#""provider": "outlook", "grant": "client_credentials", "tenant": "t.example", "client_id": "a""#, "client_secret", "certificate_file"),
        (#""provider": "outlook", "grant": "client_credentials", "tenant": "t.example", "client_id": "a", "certificate_file": "/nonexistent/c.pem""#, "private_key_file", "required"),
        (#""provider": "outlook", "grant": "client_credentials", "tenant": "t.example", "client_id": "a", "client_secret": "s", "refresh_token": "r""#, "refresh_token", "not used with grant \"client_credentials\""),
        (#""provider": "gmail", "grant": "client_credentials", "client_id": "a", "client_secret": "s""#, "grant", "service_account"),
        (#""provider": "outlook", "grant": "service_account", "service_account_file": "/x""#, "grant", "client_credentials"),
        (#""provider": "gmail", "grant": "service_account""#, "service_account_file", "required"),
        (#""provider": "gmail", "grant": "workload_identity""#, "service_account_email", "required"),
        (#""provider": "custom", "grant": "workload_identity", "token_url": "https://t.example/t", "smtp_host": "m.example""#, "grant", "outlook"),
        (#""provider": "gmail", "grant": "password""#, "grant", "client_credentials"),
    ])
    func grantMistakesNameTheField(fields: String, field: String, words: String) throws {
        let error = try #require(parseError("{\"accounts\": [{\"email\": \"a@b.example\", \(fields)}]}"))
        #expect(error.field == field, "\(error)")
        #expect(error.message.contains(words), "\(error)")
    }

    @Test func brokenKeyFilesAreNamedWithoutTheirContents() throws {
        let directory = try Self.credentialFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try directory.writing(Self.keyPEM, to: "swapped.pem")
        _ = try directory.writing(Self.serviceAccountJSON(type: "authorized_user"), to: "user.json")
        _ = try directory.writing("{\"client_email\": \"x@y.z\", \"private_key\": \(jsonString(Self.keyPEM)), \"token_uri\": \"http://tokens.example.com/t\"}", to: "http.json")
        let cases: [(String, String, String)] = [
            (#""provider": "outlook", "grant": "client_credentials", "tenant": "t.example", "client_id": "a", "certificate_file": "swapped.pem", "private_key_file": "key.pem""#,
             "certificate_file", "does not contain a PEM certificate"),
            (#""provider": "outlook", "grant": "client_credentials", "tenant": "t.example", "client_id": "a", "certificate_file": "cert.pem", "private_key_file": "missing.pem""#,
             "private_key_file", "cannot read"),
            (#""provider": "gmail", "grant": "service_account", "service_account_file": "user.json""#, "service_account_file", "not a service account key"),
            (#""provider": "gmail", "grant": "service_account", "service_account_file": "cert.pem""#, "service_account_file", "not a JSON object"),
            (#""provider": "gmail", "grant": "service_account", "service_account_file": "http.json""#, "service_account_file", "token_uri"),
        ]
        for (fields, field, words) in cases {
            let config = try directory.writing("{\"accounts\": [{\"email\": \"a@b.example\", \(fields)}]}", to: "accounts.json")
            do {
                _ = try AccountsConfigLoader.load(contentsOf: config.path)
                Issue.record("loaded: \(fields)")
            } catch {
                #expect(error.field == field, "\(error)")
                #expect(error.message.contains(words), "\(error)")
                #expect(!error.description.contains(Self.keyMarker))
            }
        }
    }

    @Test func credentialMistakes() throws {
        let app = #""credentials": {"app": {"provider": "outlook", "grant": "client_credentials", "tenant": "t.example", "client_id": "a", "client_secret": "s"}}"#
        let unknown = try #require(parseError("{\(app), \"accounts\": [\(Self.mailbox("x", credential: "ap"))]}"))
        #expect(unknown.field == "credential")
        #expect(unknown.message.contains("unknown credential \"ap\"") && unknown.message.contains("\"app\""))

        let twice = "{\(app), \"accounts\": [{\"email\": \"x@contoso.com\", \"credential\": \"app\", \"client_id\": \"b\", \"password\": \"p\"}]}"
        let clash = try #require(parseError(twice))
        #expect(clash.field == "client_id")
        #expect(clash.message.contains("also set by credential \"app\""))

        let perMailbox = #"{"credentials": {"app": {"provider": "outlook", "password": "p"}}, "accounts": []}"#
        let misplaced = try #require(parseError(perMailbox))
        #expect(misplaced.field == "credentials.app.password")
        #expect(misplaced.message.contains("belongs on each account"))

        let typo = #"{"credentials": {"app": {"provider": "outlook", "client_idd": "a"}}, "accounts": []}"#
        let misspelt = try #require(parseError(typo))
        #expect(misspelt.field == "credentials.app.client_idd")
        #expect(misspelt.message.contains("did you mean \"client_id\""))
    }

    /// A credential in a Secret key of its own serves accounts in other keys and in the
    /// environment; defining a name twice across sources names both places.
    @Test func credentialsComeFromAnySource() throws {
        let directory = try Self.credentialFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("secret")
        try FileManager.default.createDirectory(at: secret, withIntermediateDirectories: false)
        let credential = #"{"credentials": {"acme-dwd": {"provider": "gmail", "grant": "service_account", "service_account_file": "../sa.json"}}}"#
        let credentialFile = try secret.writing(credential, to: "00-credentials.json")
        // A service-account key kept in the accounts Secret itself is a key, not an account.
        _ = try secret.writing(Self.serviceAccountJSON(), to: "zz-key.json")
        _ = try secret.writing(Self.mailbox("ops", credential: "acme-dwd"), to: "ops.json")
        let environment = [
            "XOAUTH2_PROXY_ACCOUNT_EMAIL": "env@acme.com", "XOAUTH2_PROXY_ACCOUNT_CREDENTIAL": "acme-dwd",
            "XOAUTH2_PROXY_ACCOUNT_PASSWORD": Secrets.password,
        ]
        let loaded = try AccountSourceLoader.load(AccountSources(accountsDirectory: secret.path, environment: environment))
        #expect(loaded.directory.accounts.map(\.email) == ["ops@contoso.com", "env@acme.com"])
        #expect(loaded.directory.accounts.allSatisfy { $0.grant.type == .serviceAccount && $0.credentialName == "acme-dwd" })
        // The key file is watched and part of the fingerprint.
        #expect(loaded.watchPaths.contains(directory.appendingPathComponent("sa.json").standardizedFileURL.path))

        var withDuplicate = environment
        withDuplicate["XOAUTH2_PROXY_ACCOUNTS"] = credential
        let error = try #require(sourceError(AccountSources(accountsDirectory: secret.path, environment: withDuplicate)))
        #expect(error.field == "credentials.acme-dwd")
        #expect(error.message.contains(credentialFile.path) && error.message.contains("env XOAUTH2_PROXY_ACCOUNTS"))

        let onlyCredentials = try #require(sourceError(AccountSources(environment: ["XOAUTH2_PROXY_ACCOUNTS": credential])))
        #expect(onlyCredentials.message.contains("no accounts"))
    }

    /// An unchanged key file keeps the account equal (its token is kept across a reload);
    /// a renewed one makes it different.
    @Test func aRenewedKeyFileChangesTheAccount() throws {
        let directory = try Self.credentialFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = #"{"accounts": [{"email": "ops@acme.com", "provider": "gmail", "grant": "service_account", "service_account_file": "sa.json"}]}"#
        let config = try directory.writing(json, to: "accounts.json")
        let before = try AccountsConfigLoader.load(contentsOf: config.path).accounts
        #expect(try AccountsConfigLoader.load(contentsOf: config.path).accounts == before)
        _ = try directory.writing(Self.serviceAccountJSON().replacingOccurrences(of: "\"k1\"", with: "\"k2\""), to: "sa.json")
        #expect(try AccountsConfigLoader.load(contentsOf: config.path).accounts != before)
    }
}
