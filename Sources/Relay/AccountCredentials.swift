import Accounts
import Foundation
import OAuth2

/// Turns an account's configured grant into what the token cache needs, parsing key material
/// (certificate, private key, service-account key). Key files were read by the config load;
/// here they are parsed, once per distinct content in a pass, so 1000 mailboxes on one
/// application certificate cost one RSA key parse per reload, not 1000.
struct AccountCredentialsBuilder {
    /// AKS workload identity's webhook sets it in the pod; read when the account says nothing.
    static let federatedTokenFileVariable = "AZURE_FEDERATED_TOKEN_FILE"

    private let environment: [String: String]
    private var certificates: [[CredentialFile]: ClientCertificate] = [:]
    private var serviceAccountKeys: [CredentialFile: ServiceAccountKey] = [:]

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The credentials as configured (a refresh-token grant with the mounted token). Errors
    /// are `ConfigError`s naming the account and field.
    mutating func credentials(for account: Account, index: Int? = nil) throws(ConfigError) -> OAuth2Credentials {
        func problem(_ field: String, _ message: String) -> ConfigError {
            ConfigError(source: "accounts", accountID: account.accountID, index: index, field: field, message: message)
        }
        let grant: OAuth2Grant
        switch account.grant {
        case .refreshToken(let mounted):
            grant = .refreshToken(mounted)
        case .clientSecret:
            grant = .clientCredentials(.secret(account.clientSecret ?? ""))
        case .clientCertificate(let certificate, let key):
            if let parsed = certificates[[certificate, key]] {
                grant = .clientCredentials(.certificate(parsed))
            } else {
                do {
                    let parsed = try ClientCertificate(certificatePEM: String(decoding: certificate.contents, as: UTF8.self),
                                                       privateKeyPEM: String(decoding: key.contents, as: UTF8.self))
                    certificates[[certificate, key]] = parsed
                    grant = .clientCredentials(.certificate(parsed))
                } catch let error as OAuth2CredentialError {
                    let file = error.part == .certificate ? certificate : key
                    throw problem(error.part == .certificate ? "certificate_file" : "private_key_file",
                                  "\(quoted(file.path)): \(error)")
                } catch {
                    throw problem("certificate_file", "cannot use the certificate and key: \(error)")
                }
            }
        case .federatedToken(let file):
            guard let path = file ?? environment[Self.federatedTokenFileVariable].flatMap({ $0.isEmpty ? nil : $0 }) else {
                throw problem("federated_token_file", "is required: set it, or run where AKS workload identity sets \(Self.federatedTokenFileVariable)")
            }
            grant = .clientCredentials(.federatedTokenFile(path: path))
        case .serviceAccount(let file):
            let key: ServiceAccountKey
            if let parsed = serviceAccountKeys[file] {
                key = parsed
            } else {
                do {
                    key = try ServiceAccountKey(json: file.contents)
                } catch {
                    throw problem("service_account_file", "\(quoted(file.path)): \(error)")
                }
                serviceAccountKeys[file] = key
            }
            grant = .serviceAccount(key, subject: account.email)
        case .googleWorkloadIdentity(let serviceAccountEmail, let metadataHost, let iamCredentialsURL):
            grant = .googleWorkloadIdentity(GoogleWorkloadIdentity(
                serviceAccountEmail: serviceAccountEmail, subject: account.email,
                metadataHost: metadataHost ?? GoogleWorkloadIdentity.metadataHost(environment: environment),
                iamCredentialsBaseURL: iamCredentialsURL ?? GoogleWorkloadIdentity.defaultIAMCredentialsBaseURL))
        }
        let clientSecret = account.grant.type == .refreshToken ? account.clientSecret : nil
        return OAuth2Credentials(tokenURL: account.tokenURL, clientID: account.clientID, clientSecret: clientSecret,
                                 grant: grant, scope: account.scope)
    }

    private func quoted(_ path: String) -> String {
        "\"\(path)\""
    }
}
