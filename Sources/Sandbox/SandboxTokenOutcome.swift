import Foundation

/// The issuer's answer to one token request, before it becomes HTTP.
enum SandboxTokenOutcome: Equatable {
    case issued(accessToken: String, expiresIn: Int, refreshToken: String?)
    case error(status: Int, code: String, description: String?)

    var status: Int {
        switch self {
        case .issued: 200
        case .error(let status, _, _): status
        }
    }

    /// The JSON body, shaped like Google's and Microsoft's replies.
    func jsonBody() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data: Data?
        switch self {
        case .issued(let accessToken, let expiresIn, let refreshToken):
            data = try? encoder.encode(IssuedBody(access_token: accessToken, expires_in: expiresIn, token_type: "Bearer", refresh_token: refreshToken))
        case .error(_, let code, let description):
            data = try? encoder.encode(ErrorBody(error: code, error_description: description))
        }
        // Encoding strings and ints cannot fail; the fallback only keeps this total.
        return data.map(Array.init) ?? Array(#"{"error":"server_error"}"#.utf8)
    }

    private struct IssuedBody: Encodable {
        var access_token: String
        var expires_in: Int
        var token_type: String
        var refresh_token: String?
    }

    private struct ErrorBody: Encodable {
        var error: String
        var error_description: String?
    }
}
