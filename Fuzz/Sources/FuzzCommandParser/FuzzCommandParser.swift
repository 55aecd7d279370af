// The SMTP command parser on any line (the framer hands it lines without CR LF, of any bytes).
// Properties: what it accepts is safe to relay (no control characters, no brackets or spaces
// outside quotes in a path, a path of at most 256 octets) and stable (the command written
// back in canonical form parses to the same command).
import FuzzSupport
import SMTPCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let line = Array(UnsafeRawBufferPointer(start: start, count: count))
    let result = SMTPCommandParser.parse(line)
    guard case .success(let command) = result else {
        if case .failure(let error) = result {
            // The error reply is ours: it must never echo the line.
            let reply = error.reply
            fuzzCheck((500..<600).contains(reply.code), "error reply \(reply)")
        }
        return 0
    }
    fuzzCheck(line.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }, "accepted a line with control characters: \(escaped(line))")
    checkStrings(of: command, line: line)
    guard let wire = canonicalLine(command) else { return 0 }
    let again = SMTPCommandParser.parse(Array(wire.utf8))
    fuzzCheck(again == .success(command), "\(escaped(line)) parsed as \(command), written back as \(escaped(Array(wire.utf8))), which parses as \(again)")
    return 0
}

/// The command as the relay would write it upstream (MAIL/RCPT) or as a client might send it.
func canonicalLine(_ command: SMTPCommand) -> String? {
    switch command {
    case .ehlo(let domain): return "EHLO \(domain)"
    case .helo(let domain): return "HELO \(domain)"
    case .mail(let from, let parameters): return "MAIL FROM:<\(from)>" + parameters.map { " " + $0.wireForm }.joined()
    case .rcpt(let to, let parameters): return "RCPT TO:<\(to)>" + parameters.map { " " + $0.wireForm }.joined()
    case .data: return "DATA"
    case .rset: return "RSET"
    case .noop: return nil  // NOOP's argument is ignored, not kept
    case .quit: return "QUIT"
    case .help: return nil  // likewise
    case .vrfy(let argument): return "VRFY \(argument)"
    case .starttls: return "STARTTLS"
    case .auth(let mechanism, let initialResponse): return "AUTH \(mechanism)" + (initialResponse.map { " " + $0 } ?? "")
    }
}

func checkStrings(of command: SMTPCommand, line: [UInt8]) {
    func safe(_ text: String, _ what: String) {
        fuzzCheck(text.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }, "\(what) holds a control character: \(escaped(Array(text.utf8))) from \(escaped(line))")
    }
    switch command {
    case .mail(let path, let parameters), .rcpt(let path, let parameters):
        safe(path, "path")
        fuzzCheck(path.utf8.count <= SMTPCommandParser.maxPathLength, "path of \(path.utf8.count) octets")
        // Outside a quoted local part a path has no space, tab or angle bracket: it is written
        // upstream between < and > as it is.
        var inQuotes = false
        var escapedByte = false
        for byte in path.utf8 {
            if escapedByte { escapedByte = false; continue }
            if inQuotes, byte == UInt8(ascii: "\\") { escapedByte = true; continue }
            if byte == UInt8(ascii: "\"") { inQuotes.toggle(); continue }
            if !inQuotes {
                fuzzCheck(byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">"),
                          "path \(escaped(Array(path.utf8))) from \(escaped(line))")
            }
        }
        for parameter in parameters {
            fuzzCheck(!parameter.keyword.isEmpty && parameter.keyword.utf8.allSatisfy { byte in
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
            }, "parameter keyword \(escaped(Array(parameter.keyword.utf8)))")
            if let value = parameter.value {
                safe(value, "parameter value")
                fuzzCheck(!value.isEmpty && !value.contains(" "), "parameter value \(escaped(Array(value.utf8)))")
            }
        }
    case .ehlo(let domain), .helo(let domain):
        safe(domain, "domain")
        fuzzCheck(!domain.isEmpty && !domain.contains(" "), "domain \(escaped(Array(domain.utf8)))")
    case .vrfy(let argument):
        safe(argument, "VRFY argument")
    case .auth(let mechanism, let initialResponse):
        safe(mechanism, "mechanism")
        fuzzCheck(!mechanism.isEmpty && !mechanism.contains(" "), "mechanism \(escaped(Array(mechanism.utf8)))")
        if let initialResponse {
            safe(initialResponse, "initial response")
            fuzzCheck(!initialResponse.isEmpty && !initialResponse.contains(" "), "initial response")
        }
    default:
        break
    }
}

/// See runLibFuzzer: the entry point a debug build's `main` is linked to.
@_cdecl("FuzzCommandParser_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
