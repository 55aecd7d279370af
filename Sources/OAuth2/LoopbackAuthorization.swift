import Foundation

/// The authorization code grant with a loopback redirect and PKCE (RFC 8252 §7.3, RFC 7636),
/// which is how Google hands out a refresh token for the `https://mail.google.com/` scope: its
/// device flow does not allow that scope. The browser (here, or on the operator's laptop through
/// an `ssh -L` tunnel) is redirected to `http://127.0.0.1:PORT/callback` with the code.
///
/// Everything here is pure apart from `exchange`, which goes through `TokenHTTPTransport`; the
/// listener lives with the command.
public struct LoopbackAuthorization: Sendable {
    public struct Configuration: Sendable {
        public var authorizeURL: String
        public var tokenURL: String
        public var clientID: String
        public var clientSecret: String?
        public var scope: String
        /// Pre-selects the mailbox on the consent screen.
        public var loginHint: String?
        /// Where the listener is, e.g. `http://127.0.0.1:8400/callback`.
        public var redirectURI: String
        public var requestTimeout: Duration = .seconds(30)

        public init(authorizeURL: String, tokenURL: String, clientID: String, clientSecret: String?, scope: String,
                    loginHint: String?, redirectURI: String) {
            self.authorizeURL = authorizeURL
            self.tokenURL = tokenURL
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.scope = scope
            self.loginHint = loginHint
            self.redirectURI = redirectURI
        }
    }

    /// The path the listener answers; anything else is not our redirect.
    public static let callbackPath = "/callback"

    public static func redirectURI(port: Int) -> String {
        "http://127.0.0.1:\(port)\(callbackPath)"
    }

    public let configuration: Configuration
    public let pkce: PKCE
    /// Binds the redirect to this run: a redirect carrying another state is refused.
    public let state: String

    public init(configuration: Configuration, pkce: PKCE = .random(), state: String = LoopbackAuthorization.randomState()) {
        self.configuration = configuration
        self.pkce = pkce
        self.state = state
    }

    /// 128 bits from the CSPRNG, base64url, so it needs no escaping in a URL.
    public static func randomState() -> String {
        PKCE.base64URL(PKCE.randomBytes(16))
    }

    /// What the operator opens. `access_type=offline` and `prompt=consent` make Google return a
    /// refresh token even when this client was approved before.
    public var authorizationURL: String {
        var fields: [(name: String, value: String)] = [
            ("response_type", "code"),
            ("client_id", configuration.clientID),
            ("redirect_uri", configuration.redirectURI),
            ("scope", configuration.scope),
            ("state", state),
            ("code_challenge", pkce.challenge),
            ("code_challenge_method", PKCE.method),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ]
        if let hint = configuration.loginHint { fields.append(("login_hint", hint)) }
        let separator = configuration.authorizeURL.contains("?") ? "&" : "?"
        return configuration.authorizeURL + separator + FormURLEncoding.encode(fields)
    }

    /// What a request to the listener means for this run.
    public enum RedirectOutcome: Sendable, Equatable {
        /// The redirect with the code: exchange it.
        case code(String)
        /// The redirect, but the provider reports an error (`error=access_denied`).
        case providerError(ConsentFailure)
        /// The redirect with someone else's state (or none).
        case stateMismatch
        /// Not the redirect (a favicon, a stray probe): answer 404 and keep waiting.
        case notTheRedirect
    }

    /// Decides from the request target (`/callback?code=…&state=…`) alone.
    public func outcome(forTarget target: String) -> RedirectOutcome {
        let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
        guard target[..<pathEnd] == Self.callbackPath else { return .notTheRedirect }
        let query = pathEnd < target.endIndex ? String(target[target.index(after: pathEnd)...]) : ""
        let parameters = Self.queryParameters(query)
        // The state is checked first, also for errors: a forged error must not end the run with
        // a misleading message any more than a forged code may be exchanged.
        guard let received = parameters["state"], Self.constantTimeEqual(received, state) else { return .stateMismatch }
        if let error = parameters["error"] {
            let code = ReplyText.errorCode(error)
            let detail = parameters["error_description"].map { ReplyText.description($0) }
            return .providerError(code == "access_denied" ? .denied(detail) : .rejected(code: code, detail: detail))
        }
        guard let code = parameters["code"], !code.isEmpty else {
            return .providerError(.malformed("the redirect carried neither a code nor an error"))
        }
        return .code(code)
    }

    /// Query parameters, `+` as space; a name given twice is dropped (ambiguous, so not trusted).
    static func queryParameters(_ query: String) -> [String: String] {
        var values: [String: String] = [:]
        var repeated: Set<String> = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { continue }
            if values[name] != nil { repeated.insert(name) }
            values[name] = value
        }
        for name in repeated { values[name] = nil }
        return values
    }

    /// Trades the code for tokens. Throws `ConsentFailure` (or `CancellationError`).
    public func exchange(code: String, transport: any TokenHTTPTransport) async throws -> ConsentTokens {
        var fields: [(name: String, value: String)] = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", configuration.redirectURI),
            ("code_verifier", pkce.verifier),
            ("client_id", configuration.clientID),
        ]
        if let secret = configuration.clientSecret { fields.append(("client_secret", secret)) }
        let secrets = [code, pkce.verifier] + [configuration.clientSecret].compactMap { $0 }
        let reply: (status: Int, body: [UInt8])
        do {
            reply = try await transport.postForm(url: configuration.tokenURL, body: FormURLEncoding.encode(fields),
                                                 timeout: configuration.requestTimeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ConsentFailure.unavailable("token request failed: \(DeviceAuthorization.transportReason(error, secrets: secrets))")
        }
        switch ConsentTokenReply.classify(status: reply.status, body: reply.body, secrets: secrets) {
        case .tokens(let tokens):
            return tokens
        case .oauthError(let code, let detail):
            throw code == "access_denied" ? ConsentFailure.denied(detail) : ConsentFailure.rejected(code: code, detail: detail)
        case .transient(let reason):
            // A code is single-use and short-lived: a retry after a 5xx would most likely be
            // refused as invalid_grant, so the operator is told to start again instead.
            throw ConsentFailure.unavailable(reason)
        case .failure(let failure):
            throw failure
        }
    }
}

extension LoopbackAuthorization {
    /// Comparison whose time does not depend on where two strings first differ.
    static func constantTimeEqual(_ left: String, _ right: String) -> Bool {
        let a = Array(left.utf8), b = Array(right.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
