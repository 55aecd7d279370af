import Foundation

/// What one reply from a token endpoint means, decided from status and body alone.
/// Pure, so every provider quirk can be tested without sockets.
enum TokenReply: Equatable {
    case token(value: String, expiresIn: Duration, refreshToken: String?)
    /// The provider refused the client or the grant; asking again cannot help.
    case rejected(TokenReplyProblem)
    /// Worth another attempt after a pause.
    case retryable(TokenReplyProblem)
    /// Not worth another attempt right now, but nothing to remember either.
    case failed(TokenReplyProblem)

    /// Error codes that mean the configured credentials themselves are bad (RFC 6749 §5.2).
    static let rejectingErrorCodes: Set<String> = ["invalid_grant", "invalid_client", "unauthorized_client"]

    /// Providers answer `expires_in` in whole seconds; anything outside these bounds is a bug
    /// or an attack, and clamping keeps the cache's arithmetic sane either way.
    static let defaultLifetime: Duration = .seconds(3600)
    static let minimumLifetime: Duration = .seconds(1)
    static let maximumLifetime: Duration = .seconds(2 * 24 * 3600)

    /// Only the error's parsed fields are kept, never the raw body; `secrets` (what the request
    /// carried) are cut out of the description before it is shortened.
    static func classify(status: Int, body: [UInt8], secrets: [String] = []) -> TokenReply {
        if (200..<300).contains(status) {
            return parseSuccess(status: status, body: body)
        }
        let fields = JSONObjectFields(body)
        let problem = TokenReplyProblem(
            status: status,
            oauthError: fields?.string("error").map(ReplyText.errorCode),
            errorDescription: fields?.string("error_description").map { ReplyText.description(ReplyText.redact($0, secrets: secrets)) },
            reason: "HTTP \(status)",
            traceID: fields?.string("trace_id").flatMap(ReplyText.uuid),
            correlationID: fields?.string("correlation_id").flatMap(ReplyText.uuid),
            errorCodes: errorCodes(fields?["error_codes"]))
        if (status == 400 || status == 401), let code = problem.oauthError, rejectingErrorCodes.contains(code) {
            return .rejected(problem)
        }
        // 408 and 429 are the only 4xx that promise a different answer later.
        if status >= 500 || status == 429 || status == 408 {
            return .retryable(problem)
        }
        return .failed(problem)
    }

    /// Microsoft's AADSTS numbers (e.g. 7000215, invalid client secret): only whole numbers in
    /// range, at most eight, so a hostile endpoint cannot make the log line long.
    static func errorCodes(_ value: JSONObjectFields.Value?) -> [Int]? {
        guard case .numbers(let numbers)? = value else { return nil }
        let codes = numbers.prefix(8).compactMap { $0 >= 0 && $0 < 100_000_000 && $0.rounded() == $0 ? Int($0) : nil }
        return codes.isEmpty ? nil : codes
    }

    private static func parseSuccess(status: Int, body: [UInt8]) -> TokenReply {
        func malformed(_ why: String) -> TokenReply {
            .retryable(TokenReplyProblem(status: status, oauthError: nil, errorDescription: nil,
                                         reason: "malformed token response (HTTP \(status)): \(why)"))
        }
        guard let fields = JSONObjectFields(body) else { return malformed("not a JSON object") }
        guard case .string(let accessToken)? = fields["access_token"], !accessToken.isEmpty else {
            return malformed("no access_token")
        }
        switch fields["token_type"] {
        case nil, .null?: break
        case .string(let type)? where type.lowercased() == "bearer": break
        // The value itself is not echoed: a confused server could put anything there.
        default: return malformed("token_type is not Bearer")
        }
        let lifetime: Duration
        switch fields["expires_in"] {
        case nil, .null?:
            lifetime = defaultLifetime
        case .number(let seconds)?:
            guard let clamped = clampedLifetime(seconds) else { return malformed("expires_in is not finite") }
            lifetime = clamped
        case .string(let text)?:
            guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), let clamped = clampedLifetime(seconds) else {
                return malformed("expires_in is not a number")
            }
            lifetime = clamped
        default:
            return malformed("expires_in is not a number")
        }
        var refreshToken: String?
        if case .string(let value)? = fields["refresh_token"], !value.isEmpty { refreshToken = value }
        return .token(value: accessToken, expiresIn: lifetime, refreshToken: refreshToken)
    }

    private static func clampedLifetime(_ seconds: Double) -> Duration? {
        guard seconds.isFinite else { return nil }
        let bounded = min(max(seconds, Double(minimumLifetime.components.seconds)), Double(maximumLifetime.components.seconds))
        return .milliseconds(Int64(bounded * 1000))
    }
}

/// The parts of a non-token reply that may be logged, each already short, printable and (the
/// description) redacted.
struct TokenReplyProblem: Equatable {
    var status: Int
    var oauthError: String?
    var errorDescription: String?
    /// Short, fixed wording chosen by us; never contains response bytes.
    var reason: String
    /// Microsoft's ids for its support, kept only when they are UUIDs.
    var traceID: String? = nil
    var correlationID: String? = nil
    var errorCodes: [Int]? = nil
    /// For the steps before the token request (Google workload identity): which one and its host.
    var step: String? = nil
    var host: String? = nil
}
