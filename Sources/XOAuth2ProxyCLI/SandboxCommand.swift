import ArgumentParser
import Foundation
import NIOPosix
import Sandbox
import ServiceLifecycle

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run only the sandbox provider: a token endpoint and an SMTP server requiring STARTTLS and XOAUTH2.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "SMTP port (0 picks a free one).")
    var smtpPort = 0

    @Option(help: "Token endpoint port (0 picks a free one).")
    var tokenPort = 0

    @Option(help: "Directory where accepted messages are written.")
    var store: String?

    @Option(help: "An accounts.json whose client ids, secrets and refresh tokens the token endpoint accepts.")
    var accounts: String?

    @Option(help: "EMAIL:CLIENT_ID:CLIENT_SECRET honoured for grant_type=client_credentials (repeatable).")
    var clientCredentials: [String] = []

    @Option(help: "Where to write the sandbox's certificate (for tls_ca_file).")
    var caOut: String?

    @Option(help: "Write a throwaway CA and a server certificate it signed for localhost, 127.0.0.1 and ::1 here (ca.crt, tls.crt, tls.key, as in a cert-manager Secret), for the proxy's --tls-cert and --tls-key; done before listening.")
    var tlsFilesOut: String?

    @Option(help: "Lifetime of issued access tokens, in seconds.")
    var tokenLifetime = 3600

    @Option(help: "Register an Entra ID-like application with a generated certificate and write cert.pem, key.pem (0600) and client_id into this directory (certificate_file, private_key_file, client_id of a client_credentials credential).")
    var appFilesOut: String?

    @Option(help: "The application's client id (--app-files-out, --app-secret, --federated-token-out).")
    var appClientID = "00000000-0000-0000-0000-5a4db0c5a4db"

    @Option(help: "Also accept this client secret for the application.")
    var appSecret: String?

    @Option(help: "A mailbox the application may send as (repeatable).")
    var appMailbox: [String] = []

    @Option(help: "A domain whose every mailbox the application may send as (repeatable; default example.com when no --app-mailbox is given).")
    var appDomain: [String] = []

    @Option(help: "Trust federated tokens for the application (AKS workload identity) and keep a fresh one in this file, as the kubelet projects it (AZURE_FEDERATED_TOKEN_FILE).")
    var federatedTokenOut: String?

    @Option(help: "The federated token's subject: the Kubernetes service account.")
    var federatedSubject = "system:serviceaccount:default:xoauth2-proxy"

    @Option(help: "Make a Google service account with domain-wide delegation and write its JSON key file here (service_account_file), mode 0600.")
    var serviceAccountOut: String?

    @Option(help: "A domain the service account is delegated for (repeatable; default example.com).")
    var serviceAccountDomain: [String] = []

    @Flag(help: "Serve GKE workload identity for the service account: the metadata server token (GCE_METADATA_HOST=127.0.0.1:PORT) and signJwt (IAM base URL http://127.0.0.1:PORT).")
    var workloadIdentity = false

    @Option(help: "A client allowed the device flow and the authorization code flow, CLIENT_ID or CLIENT_ID:CLIENT_SECRET (repeatable).")
    var interactiveClient: [String] = []

    @Flag(help: "Approve device codes (after one pending poll) and authorization requests (as login_hint) at once.")
    var autoApprove = false

    @Option(help: "The mailbox auto-approved device codes sign in as, and authorization requests without login_hint.")
    var approveAs = "user@example.com"

    @Option(help: "The polling interval handed out with device codes, in seconds.")
    var deviceInterval = 5

    @Flag(help: "Offer AUTH without STARTTLS (for plaintext client tests).")
    var noTLS = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        for (name, value) in [("--smtp-port", smtpPort), ("--token-port", tokenPort)] where !(0...65535).contains(value) {
            throw StartupFailure.configuration("\(name): \(value) is not a port number (0-65535)")
        }
        let grants = try accounts.map(SandboxGrants.load) ?? []
        let clientGrants = try clientCredentials.map { value -> (String, String, String) in
            let parts = value.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
                throw StartupFailure.configuration("--client-credentials: expected EMAIL:CLIENT_ID:CLIENT_SECRET")
            }
            return (parts[0], parts[1], parts[2])
        }
        if workloadIdentity, serviceAccountOut == nil {
            throw StartupFailure.configuration("--workload-identity needs --service-account-out (the account the workload signs as)")
        }
        guard deviceInterval >= 1 else { throw StartupFailure.configuration("--device-interval: at least 1 second") }
        let interactive = try interactiveClient.map { value -> (String, String?) in
            let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
            guard let id = parts.first, !id.isEmpty else { throw StartupFailure.configuration("--interactive-client: expected CLIENT_ID[:CLIENT_SECRET]") }
            return (id, parts.count > 1 ? parts[1] : nil)
        }
        if let tlsFilesOut {
            do {
                _ = try SandboxCertificateAuthority.writeServerFiles(toDirectory: tlsFilesOut)
            } catch {
                throw StartupFailure.runtime("--tls-files-out: cannot write \(tlsFilesOut): \(error)")
            }
        }
        let logger = logging.bootstrap()
        var settings = SandboxProvider.Configuration()
        settings.host = host
        settings.smtpPort = smtpPort
        settings.tokenPort = tokenPort
        settings.storeDirectory = store
        settings.requireTLS = !noTLS
        settings.tokenLifetime = .seconds(tokenLifetime)
        // Run alone, nothing reads the in-memory copies; --store keeps them all on disk.
        settings.messagesInMemory = 100
        let sandbox: SandboxProvider
        do {
            sandbox = try await SandboxProvider.start(settings, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        } catch {
            throw StartupFailure.runtime("cannot start the sandbox: \(error)")
        }
        for grant in grants {
            sandbox.issuer.register(email: grant.email, clientID: grant.clientID, clientSecret: grant.clientSecret, refreshToken: grant.refreshToken)
        }
        for (email, clientID, secret) in clientGrants {
            sandbox.issuer.registerClientCredentials(email: email, clientID: clientID, clientSecret: secret)
        }
        if let caOut {
            try sandbox.certificate.writeCertificate(to: caOut)
        }
        var services: [any Service] = []
        var notes: [String] = []
        do {
            notes += try registerGrants(sandbox.issuer, interactive: interactive)
            if let federatedTokenOut {
                let file = SandboxFederatedTokenFile(issuer: sandbox.issuer, path: federatedTokenOut, subject: federatedSubject, logger: logger)
                try file.write()
                services.append(file)
                notes.append("federated token \(federatedTokenOut) (\(federatedSubject), refreshed)")
            }
        } catch let failure as StartupFailure {
            await sandbox.close()
            throw failure
        } catch {
            await sandbox.close()
            throw StartupFailure.runtime("sandbox: \(error)")
        }
        let summary = "sandbox: smtp 127.0.0.1:\(sandbox.smtpPort) token \(sandbox.tokenURL) accounts \(grants.count)"
            + (caOut.map { " ca \($0)" } ?? "") + "\n"
            + notes.map { "sandbox: \($0)\n" }.joined()
        FileHandle.standardError.write(Data(summary.utf8))
        try await ServiceRunner.run(services + [sandbox], logger: logger)
    }

    /// Registers what the flags ask for; returns one line per thing made, for the summary.
    private func registerGrants(_ issuer: SandboxTokenIssuer, interactive: [(String, String?)]) throws -> [String] {
        var notes: [String] = []
        let domains = appDomain.isEmpty && appMailbox.isEmpty ? ["example.com"] : appDomain
        let scope = (appMailbox + domains.map { "*@" + $0 }).joined(separator: ",")
        if let appFilesOut {
            let registration = try issuer.registerApplication(clientID: appClientID, credential: .generatedCertificate,
                                                              mailboxes: appMailbox, domains: domains)
            let base = URL(fileURLWithPath: appFilesOut)
            do {
                try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
                try (registration.certificatePEM ?? "").write(to: base.appendingPathComponent("cert.pem"), atomically: true, encoding: .utf8)
                try appClientID.write(to: base.appendingPathComponent("client_id"), atomically: true, encoding: .utf8)
                let keyPath = base.appendingPathComponent("key.pem").path
                guard FileManager.default.createFile(atPath: keyPath, contents: Data((registration.privateKeyPEM ?? "").utf8),
                                                     attributes: [.posixPermissions: 0o600]) else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: keyPath])
                }
            } catch {
                throw StartupFailure.runtime("--app-files-out: cannot write \(appFilesOut): \(error)")
            }
            notes.append("application \(appClientID) (certificate) for \(scope): \(appFilesOut)/cert.pem, key.pem, client_id")
        }
        if let appSecret {
            try issuer.registerApplication(clientID: appClientID, credential: .secret(appSecret), mailboxes: appMailbox, domains: domains)
            notes.append("application \(appClientID) (client secret) for \(scope)")
        }
        if federatedTokenOut != nil {
            try issuer.registerApplication(clientID: appClientID, credential: .federated(subject: federatedSubject),
                                           mailboxes: appMailbox, domains: domains)
            notes.append("application \(appClientID) (federated, issuer \(issuer.federatedIssuerURL)) for \(scope)")
        }
        if let serviceAccountOut {
            let key = try issuer.makeServiceAccount(domains: serviceAccountDomain.isEmpty ? ["example.com"] : serviceAccountDomain)
            do {
                try key.write(to: serviceAccountOut)
            } catch {
                throw StartupFailure.runtime("--service-account-out: cannot write \(serviceAccountOut): \(error)")
            }
            notes.append("service account \(key.email) (client id \(key.clientID)): \(serviceAccountOut)")
            if workloadIdentity {
                issuer.allowWorkloadIdentity(serviceAccounts: [key.email])
                let base = issuer.baseURL
                notes.append("workload identity: GCE_METADATA_HOST=\(base.dropFirst("http://".count)), IAM base URL \(base)")
            }
        }
        for (clientID, secret) in interactive {
            issuer.registerInteractiveClient(clientID: clientID, clientSecret: secret)
        }
        issuer.deviceCodeInterval = .seconds(deviceInterval)
        if autoApprove {
            issuer.deviceApproval = .approve(mailbox: approveAs, afterPolls: 1)
            issuer.browserApproval = .approve(defaultMailbox: approveAs)
            notes.append("auto-approve as \(approveAs): device codes \(issuer.baseURL)/devicecode, authorization \(issuer.baseURL)/authorize")
        }
        return notes
    }
}

/// The OAuth client and refresh token of each account in an accounts file, read leniently:
/// the sandbox only needs to know which grants to honour.
struct SandboxGrants {
    var email: String
    var clientID: String
    var clientSecret: String?
    var refreshToken: String

    static func load(_ path: String) throws -> [SandboxGrants] {
        let list = try AccountListFile.entries(path)
        return try list.enumerated().map { index, object in
            guard let email = object["email"] as? String, let clientID = object["client_id"] as? String,
                  let refreshToken = object["refresh_token"] as? String
            else { throw StartupFailure.configuration("\(path): account #\(index + 1): needs email, client_id and refresh_token") }
            return SandboxGrants(email: email, clientID: clientID, clientSecret: object["client_secret"] as? String, refreshToken: refreshToken)
        }
    }
}
