import Foundation

/// First consent for one mailbox: Microsoft's device authorization grant and Google's
/// authorization code flow with PKCE, each ending in a refresh token the refresh_token grant honours.
extension SandboxTokenIssuer {
    /// A client that may start the device flow or the authorization code flow: public (no
    /// secret, as Entra ID's "allow public client flows") or confidential (Google's installed
    /// app clients have a secret, sent at the code exchange).
    public func registerInteractiveClient(clientID: String, clientSecret: String? = nil) {
        state.withLockedValue { $0.clientSecrets[clientID] = Self.normalised(clientSecret) }
    }

    /// What happens to device codes handed out from now on.
    public var deviceApproval: SandboxDeviceApproval {
        get { state.withLockedValue { $0.devices.approval } }
        set { state.withLockedValue { $0.devices.approval = newValue } }
    }

    /// The polling interval given with new device codes (Entra ID: 5 s).
    public var deviceCodeInterval: Duration {
        get { state.withLockedValue { $0.devices.interval } }
        set { state.withLockedValue { $0.devices.interval = newValue } }
    }

    /// How long new device codes are good for (Entra ID: 15 minutes).
    public var deviceCodeLifetime: Duration {
        get { state.withLockedValue { $0.devices.lifetime } }
        set { state.withLockedValue { $0.devices.lifetime = newValue } }
    }

    /// Signs in as `mailbox` for the outstanding code shown as `userCode`; false if there is none.
    @discardableResult
    public func approveDeviceCode(userCode: String, mailbox: String) -> Bool {
        state.withLockedValue { $0.devices.decide(userCode: userCode, .approved(mailbox: mailbox)) }
    }

    @discardableResult
    public func denyDeviceCode(userCode: String) -> Bool {
        state.withLockedValue { $0.devices.decide(userCode: userCode, .denied) }
    }

    /// What GET /authorize does from now on.
    public var browserApproval: SandboxBrowserApproval {
        get { state.withLockedValue { $0.authorizationCodes.approval } }
        set { state.withLockedValue { $0.authorizationCodes.approval = newValue } }
    }

    /// POST /devicecode.
    func answerDeviceAuthorization(form: [String: String]) -> SandboxHTTPResponse {
        let now = self.now()
        return state.withLockedValue { state in
            guard let clientID = form["client_id"], !clientID.isEmpty else {
                return .outcome(SandboxRefusal.microsoft(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.").outcome)
            }
            guard state.clientSecrets[clientID] != nil else {
                return .outcome(SandboxRefusal.microsoft(400, "unauthorized_client", 700016, "Application with identifier '\(clientID)' was not found in the directory.").outcome)
            }
            guard let scope = form["scope"], !scope.trimmingCharacters(in: .whitespaces).isEmpty else {
                return .outcome(SandboxRefusal.microsoft(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.").outcome)
            }
            let grant = state.devices.start(clientID: clientID, now: now, verificationURI: state.baseURL + "/device")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return .json(status: 200, (try? encoder.encode(grant)).map(Array.init) ?? [])
        }
    }

    /// GET /authorize.
    func answerAuthorization(query: [String: String]) -> SandboxHTTPResponse {
        let now = self.now()
        return state.withLockedValue { state in
            let known = state.clientSecrets
            switch state.authorizationCodes.authorize(query: query, knownClient: { known[$0] != nil }, now: now) {
            case .redirect(let location): return .redirect(location)
            case .page(let status, let text): return .text(status: status, text)
            }
        }
    }
}

extension SandboxTokenIssuer.State {
    mutating func answerDeviceCode(_ request: SandboxTokenIssuer.Request) -> SandboxTokenIssuer.Answer {
        guard let clientID = request.clientID, let deviceCode = request.form["device_code"] else {
            return .init(outcome: SandboxRefusal.microsoft(400, "invalid_request", 900144, "The request body must contain the following parameters: 'client_id' and 'device_code'.").outcome)
        }
        // A public client sends no secret; a confidential one that does must send the right one.
        if let presented = request.presentedSecret, (clientSecrets[clientID] ?? nil) != presented {
            return .init(outcome: SandboxRefusal.invalidClient(7000215, "Invalid client secret provided.").outcome, client: clientID)
        }
        switch devices.poll(deviceCode: deviceCode, clientID: clientID, now: request.now) {
        case .refused(let outcome):
            return .init(outcome: outcome, client: clientID)
        case .tokens(let mailbox):
            let (outcome, _) = issueWithRefreshToken(for: mailbox, clientID: clientID, now: request.now)
            return .init(outcome: outcome, client: clientID, subject: mailbox.lowercased())
        }
    }

    mutating func answerAuthorizationCode(_ request: SandboxTokenIssuer.Request, clientID: String) -> SandboxTokenIssuer.Answer {
        switch authorizationCodes.exchange(form: request.form, clientID: clientID, now: request.now) {
        case .refused(let outcome, let revoke):
            if let revoke { refreshGrants[revoke] = nil }
            return .init(outcome: outcome, client: clientID)
        case .tokens(let mailbox):
            let (outcome, refreshToken) = issueWithRefreshToken(for: mailbox, clientID: clientID, now: request.now)
            if let code = request.form["code"] { authorizationCodes.redeemed(code, refreshToken: refreshToken) }
            return .init(outcome: outcome, client: clientID, subject: mailbox.lowercased())
        }
    }
}
