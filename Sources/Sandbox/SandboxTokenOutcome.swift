import Foundation

/// The issuer's answer to one token request, before it becomes HTTP.
enum SandboxTokenOutcome: Equatable {
    case issued(accessToken: String, expiresIn: Int, refreshToken: String?)
    case error(status: Int, code: String, description: String?)
    /// Entra ID's shape: the description starts with "AADSTS<first code>: " and `error_codes`
    /// lists the numbers (what clients log and match on).
    case microsoftError(status: Int, code: String, description: String, errorCodes: [Int])

    var status: Int {
        switch self {
        case .issued: 200
        case .error(let status, _, _): status
        case .microsoftError(let status, _, _, _): status
        }
    }

    /// The `error` field, nil for a token.
    var errorCode: String? {
        switch self {
        case .issued: nil
        case .error(_, let code, _), .microsoftError(_, let code, _, _): code
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
        case .microsoftError(_, let code, let description, let errorCodes):
            let prefix = errorCodes.first.map { "AADSTS\($0): " } ?? ""
            data = try? encoder.encode(ErrorBody(error: code, error_description: prefix + description,
                                                 error_codes: errorCodes.isEmpty ? nil : errorCodes))
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
        var error_codes: [Int]? = nil
    }
}
