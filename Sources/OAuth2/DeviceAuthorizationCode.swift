/// The device authorization endpoint's answer (RFC 8628 §3.2): what to show the user, and the
/// device code to poll with.
public struct DeviceAuthorizationCode: Sendable, Equatable, CustomStringConvertible {
    /// Polled with; as good as a token once approved, so never printed.
    var deviceCode: String
    public var userCode: String
    public var verificationURI: String
    /// The provider's own sentence for the user (Microsoft: "To sign in, use a web browser …").
    public var message: String?
    public var expiresIn: Duration
    public var interval: Duration

    /// RFC 8628 §3.2: 5 s when the provider names no interval.
    static let defaultInterval: Duration = .seconds(5)
    /// Bounds on what the provider may ask for: a zero interval would make us hammer it, and an
    /// hour-long one (or a day-long code) is a broken reply, not a policy.
    static let intervalRange: ClosedRange<Int64> = 1...300
    static let defaultExpiry: Duration = .seconds(900)
    static let expiryRange: ClosedRange<Int64> = 1...3600
    /// Printed to the terminal: long enough for any real message, short enough to bound junk.
    static let maxPrintedLength = 500

    public var description: String {
        "DeviceAuthorizationCode(user_code: \(userCode), verification_uri: \(verificationURI), device_code: <redacted>)"
    }

    /// Microsoft answers `verification_uri`, Google `verification_url`; `expires_in` and
    /// `interval` come as numbers or numeric strings.
    static func parse(status: Int, body: [UInt8], secrets: [String]) -> Result<DeviceAuthorizationCode, ConsentFailure> {
        guard (200..<300).contains(status) else {
            let fields = JSONObjectFields(body)
            guard let code = fields?.string("error").map(ReplyText.errorCode) else {
                return .failure(status >= 500 || status == 429 || status == 408
                    ? .unavailable("device authorization endpoint answered HTTP \(status)")
                    : .malformed("device authorization endpoint answered HTTP \(status)"))
            }
            let detail = fields?.string("error_description").map { ReplyText.description(ReplyText.redact($0, secrets: secrets)) }
            return .failure(.rejected(code: code, detail: detail))
        }
        guard let fields = JSONObjectFields(body) else { return .failure(.malformed("device authorization reply is not a JSON object")) }
        guard let deviceCode = fields.string("device_code"), !deviceCode.isEmpty else {
            return .failure(.malformed("device authorization reply has no device_code"))
        }
        guard let userCode = fields.string("user_code").map(printable), !userCode.isEmpty else {
            return .failure(.malformed("device authorization reply has no user_code"))
        }
        guard let uri = (fields.string("verification_uri") ?? fields.string("verification_url")).map(printable),
              uri.hasPrefix("https://") || uri.hasPrefix("http://") else {
            return .failure(.malformed("device authorization reply has no http(s) verification_uri"))
        }
        let message = fields.string("message").map { printable(ReplyText.redact($0, secrets: secrets + [deviceCode])) }
        return .success(DeviceAuthorizationCode(
            deviceCode: deviceCode, userCode: userCode, verificationURI: uri,
            message: message.flatMap { $0.isEmpty ? nil : $0 },
            expiresIn: seconds(fields["expires_in"], default: defaultExpiry, range: expiryRange),
            interval: seconds(fields["interval"], default: defaultInterval, range: intervalRange)))
    }

    private static func seconds(_ value: JSONObjectFields.Value?, default fallback: Duration, range: ClosedRange<Int64>) -> Duration {
        let number: Double? = switch value {
        case .number(let number)?: number
        case .string(let text)?: Double(text)
        default: nil
        }
        guard let number, number.isFinite, number >= 1 else { return fallback }
        return .seconds(min(max(Int64(min(number, 1e9)), range.lowerBound), range.upperBound))
    }

    /// What we print comes from the network: control characters (terminal escapes, newlines
    /// that forge extra lines) become spaces, and the length is capped.
    static func printable(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(maxPrintedLength) {
            out.append(scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format ? " " : scalar)
        }
        return String(out).trimmingSpaces()
    }
}

private extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }
}
