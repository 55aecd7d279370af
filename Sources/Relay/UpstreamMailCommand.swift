import SMTPCore

/// The MAIL command a client's MAIL becomes upstream.
enum UpstreamMailCommand {
    /// Carries over what the upstream understands; the state machine already refused the rest.
    static func line(from: String, parameters: [SMTPParameter], upstream: EHLOCapabilities) -> String {
        var line = "MAIL FROM:<\(from)>"
        for parameter in parameters {
            let supported = switch parameter.keyword {
            case "SIZE": upstream.maxMessageSize != nil
            case "BODY": upstream.eightBitMIME
            case "SMTPUTF8": upstream.smtpUTF8
            default: false
            }
            if supported { line += " " + parameter.wireForm }
        }
        return line
    }
}
