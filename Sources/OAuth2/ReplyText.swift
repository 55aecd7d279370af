/// Makes provider-controlled strings fit for logs and error messages: short, printable, one line,
/// and with any known secret cut out (a provider may echo the refresh token it refused).
enum ReplyText {
    static let maxDescriptionLength = 200
    static let maxErrorCodeLength = 64

    /// OAuth error codes are `[\x20-\x21\x23-\x5B\x5D-\x7E]`; we keep the usual subset so a
    /// hostile value cannot inject log syntax.
    static func errorCode(_ raw: String) -> String {
        let kept = raw.unicodeScalars.filter { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".": true
            default: false
            }
        }
        let code = String(String.UnicodeScalarView(kept.prefix(maxErrorCodeLength)))
        return code.isEmpty ? "unrecognised_error" : code
    }

    static func description(_ raw: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in maskOpaqueWords(raw).unicodeScalars {
            if out.count >= maxDescriptionLength {
                out.append(contentsOf: "…".unicodeScalars)
                break
            }
            // Control characters (including newlines) would let a reply forge extra log lines.
            out.append(scalar.properties.generalCategory == .control ? " " : scalar)
        }
        return String(out)
    }

    /// Words at least this long made only of token characters are taken for tokens.
    static let opaqueWordLength = 24

    /// A provider may echo tokens we cannot name (an access token it issued, a JWT), so long opaque
    /// words are masked wholesale. UUIDs are kept: Microsoft's trace and correlation ids are what
    /// its support asks for, and they carry no authority.
    static func maskOpaqueWords(_ text: String) -> String {
        var result = ""
        var word = ""
        func flush() {
            result += (word.count >= opaqueWordLength && !isUUID(word)) ? "[redacted]" : word
            word = ""
        }
        for character in text {
            if isTokenCharacter(character) {
                word.append(character)
            } else {
                flush()
                result.append(character)
            }
        }
        flush()
        return result
    }

    private static func isTokenCharacter(_ character: Character) -> Bool {
        guard character.isASCII, let ascii = character.asciiValue else { return false }
        switch ascii {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "-._~+/=".utf8.contains(ascii)
        }
    }

    /// The value when it is a UUID (a trace or correlation id), else nil.
    static func uuid(_ value: String) -> String? {
        isUUID(value) ? value : nil
    }

    private static func isUUID(_ word: String) -> Bool {
        let groups = word.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    /// Secrets shorter than this are not searched for: replacing every "a" would make the
    /// text useless and a one-letter secret is not worth protecting from itself.
    static let minimumRedactableLength = 4

    /// Cuts every secret out, as sent and as an endpoint may echo it back: form-encoded (our
    /// request body, upper- or lower-case hex, `+` for a space) or JSON-escaped (`\/`). Run it on
    /// the whole text before `description` truncates it: a secret cut in two no longer matches.
    static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where secret.count >= minimumRedactableLength {
            for form in echoedForms(of: secret) {
                result = result.replacingOccurrences(of: form, with: "[redacted]")
            }
        }
        return result
    }

    /// The secret and the ways it reads once encoded, longest first so no longer form is left
    /// half replaced by a shorter one.
    static func echoedForms(of secret: String) -> [String] {
        let encoded = FormURLEncoding.percentEncode(secret)
        let forms: Set<String> = [
            secret,
            encoded,
            lowercasingPercentEscapes(encoded),
            encoded.replacingOccurrences(of: "%20", with: "+"),
            secret.replacingOccurrences(of: "/", with: "\\/"),
        ]
        return forms.sorted { $0.count > $1.count }
    }

    private static func lowercasingPercentEscapes(_ encoded: String) -> String {
        var out = ""
        var hexLeft = 0
        for character in encoded {
            if character == "%" {
                hexLeft = 2
                out.append(character)
            } else if hexLeft > 0 {
                hexLeft -= 1
                out += character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }
}
