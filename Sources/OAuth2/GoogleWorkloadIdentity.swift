import Foundation

/// Domain-wide delegation without a key file (GKE workload identity): the pod's identity gets
/// an access token from the metadata server, IAM's `signJwt` signs the assertion for
/// `serviceAccountEmail`, and the assertion is exchanged like a service-account key's.
public struct GoogleWorkloadIdentity: Sendable, Hashable {
    /// The service account whose client ID has domain-wide delegation; the JWT's `iss`.
    public var serviceAccountEmail: String
    /// The mailbox; the JWT's `sub`.
    public var subject: String
    /// Host (and optional port) of the metadata server, without a scheme.
    public var metadataHost: String
    /// Scheme and host of the IAM credentials API, without a trailing slash.
    public var iamCredentialsBaseURL: String

    public static let defaultMetadataHost = "metadata.google.internal"
    public static let defaultIAMCredentialsBaseURL = "https://iamcredentials.googleapis.com"

    /// `$GCE_METADATA_HOST` when set (as Google's client libraries honour it), else the default.
    public static func metadataHost(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let configured = environment["GCE_METADATA_HOST"]?.trimmingCharacters(in: .whitespaces) ?? ""
        return configured.isEmpty ? defaultMetadataHost : configured
    }

    public init(serviceAccountEmail: String, subject: String, metadataHost: String? = nil,
                iamCredentialsBaseURL: String = GoogleWorkloadIdentity.defaultIAMCredentialsBaseURL) {
        self.serviceAccountEmail = serviceAccountEmail
        self.subject = subject
        self.metadataHost = metadataHost ?? Self.metadataHost()
        var base = iamCredentialsBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.iamCredentialsBaseURL = base
    }

    var metadataTokenURL: String {
        "http://\(metadataHost)/computeMetadata/v1/instance/service-accounts/default/token"
    }

    var signJWTURL: String {
        let email = serviceAccountEmail.addingPercentEncoding(withAllowedCharacters: Self.pathSegment) ?? serviceAccountEmail
        return "\(iamCredentialsBaseURL)/v1/projects/-/serviceAccounts/\(email):signJwt"
    }

    private static let pathSegment: CharacterSet = {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return allowed
    }()
}

extension GoogleWorkloadIdentity: CustomStringConvertible {
    public var description: String {
        "GoogleWorkloadIdentity(serviceAccountEmail: \(serviceAccountEmail), subject: \(subject), metadataHost: \(metadataHost), iamCredentialsBaseURL: \(iamCredentialsBaseURL))"
    }
}
