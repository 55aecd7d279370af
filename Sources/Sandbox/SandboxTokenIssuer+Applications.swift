import Foundation

/// Entra ID-like applications: `grant_type=client_credentials` with a secret, a certificate
/// assertion or a federated assertion, one token for every mailbox the application may use.
extension SandboxTokenIssuer {
    /// The scope Entra ID wants for SMTP with app-only tokens.
    public static let outlookDefaultScope = "https://outlook.office365.com/.default"

    /// Registers (or updates) an application. Its tokens are good over SMTP for `mailboxes` and
    /// any mailbox in `domains`, nothing else. `requiredScope`: the `scope` a request must send;
    /// nil accepts any `RESOURCE/.default` (what Entra ID demands of this grant), so tests that
    /// override the scope still work. Registering again adds the credential (a new secret
    /// replaces the old one) and replaces the mailboxes and scope rule.
    @discardableResult
    public func registerApplication(clientID: String, credential: SandboxApplicationCredential,
                                    mailboxes: [String] = [], domains: [String] = [],
                                    requiredScope: String? = nil) throws -> SandboxApplicationRegistration {
        var made: SandboxApplicationCertificate.Made?
        var loaded: SandboxApplication.RegisteredCertificate?
        switch credential {
        case .generatedCertificate: made = try SandboxApplicationCertificate.generate(commonName: clientID)
        case .certificate(let pem): loaded = try SandboxApplicationCertificate.load(pem: pem)
        case .secret, .federated: break
        }
        let scope = SandboxMailboxScope(mailboxes: mailboxes, domains: domains)
        state.withLockedValue { state in
            var application = state.applications[clientID] ?? SandboxApplication(scope: scope, requiredScope: "")
            application.scope = scope
            application.requiredScope = requiredScope ?? ""
            switch credential {
            case .secret(let secret):
                application.secret = Self.normalised(secret)
                state.clientSecrets[clientID] = Self.normalised(secret)
            case .federated(let subject):
                application.federatedSubjects.insert(subject)
            case .generatedCertificate, .certificate:
                if let certificate = made?.registered ?? loaded { application.certificates.append(certificate) }
            }
            state.applications[clientID] = application
        }
        return SandboxApplicationRegistration(clientID: clientID, certificatePEM: made?.certificatePEM,
                                              privateKeyPEM: made?.privateKeyPEM, thumbprint: (made?.registered ?? loaded)?.thumbprint)
    }

    /// The `iss` of federated tokens: the sandbox's stand-in for a cluster's OIDC issuer URL.
    public var federatedIssuerURL: String {
        baseURL + "/federated"
    }

    /// A service account token as the kubelet projects it for AKS workload identity (the file
    /// at `$AZURE_FEDERATED_TOKEN_FILE`), for `subject`, e.g. `system:serviceaccount:NS:NAME`.
    /// `audience` other than `api://AzureADTokenExchange` is for testing the refusal.
    public func issueFederatedToken(subject: String, audience: String = "api://AzureADTokenExchange",
                                    lifetime: Duration = .seconds(3600)) throws -> String {
        let issuedAt = Int(currentDate.timeIntervalSince1970)
        return try federatedIssuer().issue(issuer: federatedIssuerURL, subject: subject, audience: audience,
                                           issuedAt: issuedAt, lifetime: Int(lifetime.components.seconds))
    }

    /// Made on first use: RSA key generation takes a moment and most issuers never need one.
    func federatedIssuer() throws -> SandboxFederatedTokenIssuer {
        if let existing = state.withLockedValue({ $0.federated }) { return existing }
        let fresh = try SandboxFederatedTokenIssuer()
        return state.withLockedValue { state in
            if let existing = state.federated { return existing }
            state.federated = fresh
            return fresh
        }
    }
}

extension SandboxTokenIssuer.State {
    mutating func answerClientCredentials(_ request: SandboxTokenIssuer.Request) -> SandboxTokenIssuer.Answer {
        guard let clientID = request.clientID else {
            return .init(outcome: SandboxRefusal.microsoft(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.").outcome)
        }
        guard let application = applications[clientID] else {
            if let registered = clientSecrets[clientID], registered == request.presentedSecret {
                return .init(outcome: .error(status: 400, code: "unauthorized_client", description: "Client may not use client_credentials."), client: clientID)
            }
            return .init(outcome: SandboxRefusal.microsoft(400, "unauthorized_client", 700016, "Application with identifier '\(clientID)' was not found in the directory.").outcome, client: clientID)
        }
        let credential: String
        do {
            credential = try authenticate(application, clientID: clientID, request)
            try checkScope(request.form["scope"], application: application)
        } catch {
            return .init(outcome: error.outcome, client: clientID)
        }
        return .init(outcome: issue(scope: application.scope, now: request.now, refreshToken: nil), client: clientID, credential: credential)
    }

    private mutating func authenticate(_ application: SandboxApplication, clientID: String,
                                       _ request: SandboxTokenIssuer.Request) throws(SandboxRefusal) -> String {
        if let assertion = request.form["client_assertion"] {
            guard request.form["client_assertion_type"] == SandboxClientAssertion.type else {
                throw .microsoft(400, "invalid_request", 50027, "client_assertion_type must be \(SandboxClientAssertion.type).")
            }
            let context = SandboxClientAssertion.Context(clientID: clientID, audiences: request.audiences, now: request.wallNow,
                                                         federatedIssuerURL: baseURL + "/federated", federatedIssuer: request.federated)
            return try SandboxClientAssertion.verify(assertion, application: application, context: context, seenIDs: &assertionIDs)
        }
        guard let presented = request.presentedSecret else {
            throw .invalidClient(7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
        }
        guard let secret = application.secret, secret == presented else {
            throw .invalidClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
        }
        return "secret"
    }

    private func checkScope(_ scope: String?, application: SandboxApplication) throws(SandboxRefusal) {
        guard let rule = application.requiredScope else { return }
        guard let scope, !scope.isEmpty else {
            throw .microsoft(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
        }
        if rule.isEmpty {
            guard scope.split(separator: " ").count == 1, scope.hasSuffix("/.default") else {
                throw .microsoft(400, "invalid_scope", 1002012, "The provided value for scope \(scope) is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
            }
        } else if scope != rule {
            throw .microsoft(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope \(scope) is not valid (expected \(rule)).")
        }
    }
}
