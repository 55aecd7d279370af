import Crypto
import Foundation

/// What the sandbox's "user" does at GET /authorize (Google's loopback flow for installed apps).
public enum SandboxBrowserApproval: Sendable, Equatable {
    /// Consents at once as the request's `login_hint`, or as `defaultMailbox` without one.
    case approve(defaultMailbox: String)
    /// Declines: the redirect carries `error=access_denied`.
    case deny
    /// Shows a consent page and never redirects.
    case never
}

/// Authorization codes with PKCE (RFC 7636, S256 only, as Google requires for loopback
/// clients): redirect URIs must be loopback http; a code is good once, for a short time, for the
/// client and redirect URI it was issued to, and only with the verifier of its challenge.
struct SandboxAuthorizationCodes {
    static let lifetime: Duration = .seconds(300)

    struct Code {
        var clientID: String
        var redirectURI: String
        var challenge: String
        var mailbox: String
        var expiresAt: ContinuousClock.Instant
        /// Set once exchanged; kept so a second exchange also revokes what the first one got (RFC 6749 §4.1.2).
        var issuedRefreshToken: String?
    }

    /// What GET /authorize answers.
    enum Authorization: Equatable {
        case redirect(String)
        /// Before the redirect URI is trusted, errors are shown, not redirected (RFC 6749 §4.1.2.1).
        case page(status: Int, text: String)
    }

    var approval: SandboxBrowserApproval = .never
    private(set) var codes: [String: Code] = [:]

    mutating func authorize(query: [String: String], knownClient: (String) -> Bool, now: ContinuousClock.Instant) -> Authorization {
        guard let clientID = query["client_id"], knownClient(clientID) else {
            return .page(status: 401, text: "Error 401: invalid_client. The OAuth client was not found.")
        }
        guard let redirectURI = query["redirect_uri"], Self.isLoopback(redirectURI) else {
            return .page(status: 400, text: "Error 400: redirect_uri_mismatch. Installed applications must redirect to a loopback http URI (http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT).")
        }
        let state = query["state"]
        func redirect(_ fields: [(String, String)]) -> Authorization {
            .redirect(Self.append(fields + (state.map { [("state", $0)] } ?? []), to: redirectURI))
        }
        guard query["response_type"] == "code" else {
            return redirect([("error", "unsupported_response_type")])
        }
        guard let scope = query["scope"], !scope.trimmingCharacters(in: .whitespaces).isEmpty else {
            return redirect([("error", "invalid_request"), ("error_description", "Missing required parameter: scope")])
        }
        guard query["code_challenge_method"] == "S256", let challenge = query["code_challenge"], Self.isChallenge(challenge) else {
            return redirect([("error", "invalid_request"), ("error_description", "code_challenge_method must be S256 with a code_challenge of 43 base64url characters")])
        }
        switch approval {
        case .never:
            return .page(status: 200, text: "The sandbox is waiting for consent that will never come (auto-approve is off).")
        case .deny:
            return redirect([("error", "access_denied")])
        case .approve(let defaultMailbox):
            codes = codes.filter { now < $0.value.expiresAt }
            let code = SandboxRandomToken.make(prefix: "sbx_ac_")
            let mailbox = query["login_hint"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultMailbox
            codes[code] = Code(clientID: clientID, redirectURI: redirectURI, challenge: challenge, mailbox: mailbox,
                               expiresAt: now + Self.lifetime)
            return redirect([("code", code), ("scope", scope)])
        }
    }

    enum Exchange: Equatable {
        case tokens(mailbox: String)
        /// Refused; `revoke` is a refresh token issued from the same code before.
        case refused(SandboxTokenOutcome, revoke: String?)
    }

    mutating func exchange(form: [String: String], clientID: String, now: ContinuousClock.Instant) -> Exchange {
        let badCode = SandboxTokenOutcome.error(status: 400, code: "invalid_grant", description: "Malformed auth code.")
        guard let presented = form["code"], let code = codes[presented] else { return .refused(badCode, revoke: nil) }
        if let earlier = code.issuedRefreshToken {
            codes[presented] = nil
            return .refused(.error(status: 400, code: "invalid_grant", description: "Bad Request: the code was already redeemed."), revoke: earlier)
        }
        guard now < code.expiresAt else {
            codes[presented] = nil
            return .refused(.error(status: 400, code: "invalid_grant", description: "Bad Request: the code has expired."), revoke: nil)
        }
        guard code.clientID == clientID else { return .refused(badCode, revoke: nil) }
        guard form["redirect_uri"] == code.redirectURI else {
            return .refused(.error(status: 400, code: "redirect_uri_mismatch", description: "Bad Request"), revoke: nil)
        }
        guard let verifier = form["code_verifier"], Self.isVerifier(verifier) else {
            return .refused(.error(status: 400, code: "invalid_request", description: "code_verifier is missing or not 43-128 unreserved characters."), revoke: nil)
        }
        guard SandboxBase64URL.encode(Data(SHA256.hash(data: Array(verifier.utf8)))) == code.challenge else {
            return .refused(.error(status: 400, code: "invalid_grant", description: "Invalid code verifier."), revoke: nil)
        }
        return .tokens(mailbox: code.mailbox)
    }

    /// Marks `code` exchanged, remembering the refresh token it produced.
    mutating func redeemed(_ code: String, refreshToken: String) {
        codes[code]?.issuedRefreshToken = refreshToken
    }

    static func isLoopback(_ uri: String) -> Bool {
        guard let components = URLComponents(string: uri), components.scheme == "http", components.port != nil,
              components.user == nil, components.fragment == nil else { return false }
        return ["127.0.0.1", "[::1]", "::1", "localhost"].contains(components.host?.lowercased() ?? "")
    }

    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static func isVerifier(_ text: String) -> Bool {
        (43...128).contains(text.count) && text.allSatisfy(unreserved.contains)
    }

    /// base64url of a SHA-256: 43 characters.
    private static func isChallenge(_ text: String) -> Bool {
        text.count == 43 && SandboxBase64URL.decode(text)?.count == 32
    }

    private static func append(_ fields: [(String, String)], to uri: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let query = fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        return uri + (uri.contains("?") ? "&" : "?") + query
    }
}
