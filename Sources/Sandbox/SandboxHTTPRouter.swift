import Foundation
import NIOHTTP1

/// One HTTP answer of the sandbox's endpoint, before it is written.
struct SandboxHTTPResponse: Equatable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    static func == (lhs: SandboxHTTPResponse, rhs: SandboxHTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body && lhs.headers.map { "\($0.0):\($0.1)" } == rhs.headers.map { "\($0.0):\($0.1)" }
    }

    static func json(status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> SandboxHTTPResponse {
        SandboxHTTPResponse(status: status, headers: [("content-type", "application/json; charset=utf-8")] + headers, body: body)
    }

    static func outcome(_ outcome: SandboxTokenOutcome, headers: [(String, String)] = []) -> SandboxHTTPResponse {
        // RFC 6749 §5.1: token responses must not be cached.
        .json(status: outcome.status, outcome.jsonBody(), headers: [("cache-control", "no-store"), ("pragma", "no-cache")] + headers)
    }

    static func text(status: Int, _ text: String) -> SandboxHTTPResponse {
        SandboxHTTPResponse(status: status, headers: [("content-type", "text/plain; charset=utf-8")], body: Array((text + "\n").utf8))
    }

    static func redirect(_ location: String) -> SandboxHTTPResponse {
        SandboxHTTPResponse(status: 302, headers: [("location", location), ("cache-control", "no-store")], body: [])
    }

    /// Google Cloud APIs' error shape: {"error": {"code", "message", "status"}}.
    static func googleError(_ code: Int, _ status: String, _ message: String) -> SandboxHTTPResponse {
        let object: [String: Any] = ["error": ["code": code, "message": message, "status": status]]
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map(Array.init) ?? []
        return .json(status: code, body)
    }
}

/// Which of the sandbox's endpoints a request is for, and the checks common to each (method,
/// content type, required headers). Pure: the handler only reads and writes.
enum SandboxHTTPRouter {
    static let tokenPath = "/token"
    static let deviceCodePath = "/devicecode"
    static let authorizePath = "/authorize"
    static let devicePath = "/device"
    static let metadataTokenPath = "/computeMetadata/v1/instance/service-accounts/default/token"
    static let signJWTPrefix = "/v1/projects/-/serviceAccounts/"
    static let signJWTSuffix = ":signJwt"

    static func route(_ head: HTTPRequestHead, body: [UInt8], issuer: SandboxTokenIssuer) -> SandboxHTTPResponse {
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? head.uri
        let query = parts.count > 1 ? String(parts[1]) : ""
        switch path {
        case tokenPath:
            return post(head) ?? form(head, body) { form in
                let basic = head.headers.first(name: "authorization").flatMap(basicCredentials)
                let served = head.headers.first(name: "host").map { "http://\($0)\(tokenPath)" }
                return .outcome(issuer.answer(form: form, basicAuth: basic, servedTokenURL: served))
            }
        case deviceCodePath:
            return post(head) ?? form(head, body) { issuer.answerDeviceAuthorization(form: $0) }
        case authorizePath:
            guard head.method == .GET else { return methodNotAllowed("GET") }
            guard let fields = try? SandboxFormBody.decode(Array(query.utf8)) else {
                return .text(status: 400, "Error 400: invalid_request. Malformed query.")
            }
            return issuer.answerAuthorization(query: fields)
        case devicePath:
            // The verification page, for a person running the sandbox by hand:
            // /device?user_code=CODE&mailbox=EMAIL approves, /device?user_code=CODE&deny=1 declines.
            guard head.method == .GET else { return methodNotAllowed("GET") }
            let fields = (try? SandboxFormBody.decode(Array(query.utf8))) ?? [:]
            guard let userCode = fields["user_code"] else {
                return .text(status: 200, "Sandbox device sign-in: open \(devicePath)?user_code=CODE&mailbox=EMAIL to approve, or \(devicePath)?user_code=CODE&deny=1 to decline.")
            }
            if fields["deny"] != nil {
                return issuer.denyDeviceCode(userCode: userCode) ? .text(status: 200, "Declined.") : .text(status: 404, "No such code.")
            }
            guard let mailbox = fields["mailbox"], mailbox.contains("@") else { return .text(status: 400, "Say which mailbox signs in: &mailbox=EMAIL.") }
            return issuer.approveDeviceCode(userCode: userCode, mailbox: mailbox) ? .text(status: 200, "Signed in as \(mailbox).") : .text(status: 404, "No such code.")
        case metadataTokenPath:
            guard head.method == .GET else { return methodNotAllowed("GET") }
            // The metadata server's guard against requests forwarded from elsewhere (SSRF).
            guard head.headers.first(name: "metadata-flavor") == "Google" else {
                return .text(status: 403, "Missing required header: Metadata-Flavor: Google")
            }
            return issuer.answerMetadataToken()
        default:
            if path.hasPrefix(signJWTPrefix), path.hasSuffix(signJWTSuffix) {
                guard head.method == .POST else { return methodNotAllowed("POST") }
                let encoded = path.dropFirst(signJWTPrefix.count).dropLast(signJWTSuffix.count)
                guard let email = String(encoded).removingPercentEncoding, !email.isEmpty else {
                    return .googleError(400, "INVALID_ARGUMENT", "Malformed service account name.")
                }
                return issuer.answerSignJWT(email: email, authorization: head.headers.first(name: "authorization"), body: body)
            }
            return .outcome(.error(status: 404, code: "not_found", description: "Only \(tokenPath), \(deviceCodePath), \(authorizePath), the metadata token and signJwt are served."))
        }
    }

    /// The same, from plain values (tests, and callers without NIOHTTP1 at hand).
    static func route(method: String, uri: String, headers: [(String, String)] = [], body: String = "",
                      issuer: SandboxTokenIssuer) -> SandboxHTTPResponse {
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: uri, headers: HTTPHeaders(headers))
        return route(head, body: Array(body.utf8), issuer: issuer)
    }

    private static func post(_ head: HTTPRequestHead) -> SandboxHTTPResponse? {
        head.method == .POST ? nil : methodNotAllowed("POST")
    }

    private static func methodNotAllowed(_ allowed: String) -> SandboxHTTPResponse {
        .outcome(.error(status: 405, code: "invalid_request", description: "Use \(allowed)."), headers: [("allow", allowed)])
    }

    private static func form(_ head: HTTPRequestHead, _ body: [UInt8], _ answer: ([String: String]) -> SandboxHTTPResponse) -> SandboxHTTPResponse {
        let contentType = head.headers.first(name: "content-type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return .outcome(.error(status: 400, code: "invalid_request", description: "Expected an application/x-www-form-urlencoded body."))
        }
        guard let form = try? SandboxFormBody.decode(body) else {
            return .outcome(.error(status: 400, code: "invalid_request", description: "Malformed form body."))
        }
        return answer(form)
    }

    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, per RFC 6749 §2.3.1.
    static func basicCredentials(_ header: String) -> (clientID: String, clientSecret: String)? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let decoded = String(data: data, encoding: .utf8),
              let colon = decoded.firstIndex(of: ":"),
              let id = decoded[..<colon].removingPercentEncoding,
              let secret = decoded[decoded.index(after: colon)...].removingPercentEncoding else { return nil }
        return (id, secret)
    }
}
