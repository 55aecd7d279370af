import NIOCore

/// One unit of client input, as the server session consumes it.
public enum SMTPServerFrame: Sendable, Hashable {
    /// A command line without CR LF.
    case command(ByteBuffer)
    /// A command line over the limit, already discarded.
    case commandTooLong
    /// A SASL response line after a 334 challenge.
    case authResponse(ByteBuffer)
    /// Message body bytes as sent (dot-stuffed), to be relayed verbatim.
    case data(ByteBuffer)
    /// Body bytes that contain or follow a bare CR or LF: never to be forwarded. A provider
    /// that ends DATA on a bare line ending would read what follows as commands of a second
    /// transaction the proxy never saw (SMTP smuggling); the message will be refused.
    case dataAfterBareLineEnding(ByteBuffer)
    /// The `.` line: the body is complete.
    case endOfData(SMTPDataScanner.Summary)
}

/// Splits client bytes into frames, switching between command, SASL and DATA framing.
///
/// Command lines are 512 octets at most (RFC 5321), AUTH lines 12288 (RFC 4954: OAuth-sized
/// responses). After DATA, AUTH, STARTTLS or QUIT the framer stops until the session has
/// answered every line it was given: the reply decides what the following bytes are (body,
/// SASL response, TLS, or commands), so framing never runs ahead of the session.
public struct SMTPServerFramer: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var maxCommandLineLength = 512
        public var maxAuthLineLength = 12288
        public var maxDataLineLength = 1000
        public init() {}
    }

    /// What the connection must do after a reply was written.
    public enum ReplyEffect: Sendable, Hashable {
        case none
        /// STARTTLS was accepted: put TLS in front now. Bytes the client pipelined after
        /// STARTTLS were dropped (RFC 3207 section 6: never trust pre-TLS pipelined input).
        case startTLS
    }

    private enum Mode: Sendable {
        case command
        /// Stopped after a command whose reply changes the framing.
        case awaitingReply(PauseReason)
        case authResponse
        case data(SMTPDataScanner)
    }

    private enum PauseReason: Sendable {
        case data, auth, startTLS, quit, endOfData
    }

    public let configuration: Configuration
    private var buffer = ByteBuffer()
    private var splitter = SMTPLineSplitter()
    private var mode: Mode = .command
    /// Lines handed out that have not been answered yet.
    private var unanswered = 0

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Bytes held while waiting for a reply or a whole line. Bounded by one line plus one read
    /// while stopped, because the connection stops reading while `isStopped`.
    public var bufferedBytes: Int { buffer.readableBytes }

    /// True while the framer waits for the session's reply and wants no more input.
    public var isStopped: Bool {
        if case .awaitingReply = mode { return true }
        return false
    }

    /// True when every line handed out has been answered: the next move is the client's.
    public var isAwaitingClient: Bool { unanswered == 0 }

    /// Lines handed out and not answered yet (a pipelining client's group in progress).
    public var unansweredLines: Int { unanswered }

    public mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    public mutating func next() -> SMTPServerFrame? {
        defer { compactIfWorthwhile() }
        switch mode {
        case .awaitingReply:
            return nil
        case .command:
            guard let line = splitter.next(from: &buffer, maxLength: commandLimit()) else { return nil }
            unanswered += 1
            guard case .line(let bytes) = line else { return .commandTooLong }
            if let reason = Self.pauseReason(for: bytes) { mode = .awaitingReply(reason) }
            return .command(bytes)
        case .authResponse:
            guard let line = splitter.next(from: &buffer, maxLength: configuration.maxAuthLineLength) else { return nil }
            unanswered += 1
            mode = .awaitingReply(.auth)
            // An overlong SASL response is answered as a failed exchange by the session.
            guard case .line(let bytes) = line else { return .authResponse(ByteBuffer()) }
            return .authResponse(bytes)
        case .data(var scanner):
            let result = buffer.withUnsafeReadableBytes { scanner.scan($0) }
            switch result {
            case .body(let count):
                mode = .data(scanner)
                guard count > 0, let slice = buffer.readSlice(length: count) else { return nil }
                return Self.body(slice, scanner)
            case .end(let bodyCount, let consumed):
                if bodyCount > 0, let slice = buffer.readSlice(length: bodyCount) {
                    // Hand out the body first; the scanner, back at a line start, finds the
                    // terminator again on the next call without counting it as body.
                    mode = .data(scanner)
                    return Self.body(slice, scanner)
                }
                buffer.moveReaderIndex(forwardBy: consumed)
                unanswered += 1
                mode = .awaitingReply(.endOfData)
                return .endOfData(scanner.summary)
            }
        }
    }

    /// The scanner has seen every byte of `slice` (and at most a held-back `.` or `.\r` more),
    /// so a bare line ending anywhere up to the slice's end is already in its summary.
    private static func body(_ slice: ByteBuffer, _ scanner: SMTPDataScanner) -> SMTPServerFrame {
        scanner.summary.sawBareLineEnding ? .dataAfterBareLineEnding(slice) : .data(slice)
    }

    /// Tells the framer a reply went out; `code` decides the framing of what follows.
    public mutating func replyWritten(code: Int) -> ReplyEffect {
        unanswered = max(0, unanswered - 1)
        guard unanswered == 0, case .awaitingReply(let reason) = mode else { return .none }
        switch (reason, code) {
        case (.data, 354):
            mode = .data(SMTPDataScanner(maxLineLength: configuration.maxDataLineLength))
        case (.auth, 334):
            mode = .authResponse
        case (.startTLS, 220):
            buffer.clear()
            splitter = SMTPLineSplitter()
            mode = .command
            return .startTLS
        case (.quit, 200..<300):
            // Nothing after an accepted QUIT is read; the connection closes.
            buffer.clear()
        default:
            mode = .command
        }
        return .none
    }

    private func commandLimit() -> Int {
        // AUTH with an initial response may be long; peek at the verb before the line is whole.
        let isAuth = buffer.withUnsafeReadableBytes { bytes -> Bool in
            guard bytes.count >= 5 else { return false }
            return (bytes[0] | 0x20) == UInt8(ascii: "a") && (bytes[1] | 0x20) == UInt8(ascii: "u")
                && (bytes[2] | 0x20) == UInt8(ascii: "t") && (bytes[3] | 0x20) == UInt8(ascii: "h")
                && bytes[4] == UInt8(ascii: " ")
        }
        return isAuth ? configuration.maxAuthLineLength : configuration.maxCommandLineLength
    }

    private static func pauseReason(for line: ByteBuffer) -> PauseReason? {
        let verb = line.withUnsafeReadableBytes { bytes -> String in
            let end = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.count
            return String(decoding: bytes[0..<min(end, 9)], as: UTF8.self).uppercased()
        }
        switch verb {
        case "DATA": return .data
        case "AUTH": return .auth
        case "STARTTLS": return .startTLS
        case "QUIT": return .quit
        default: return nil
        }
    }

    private mutating func compactIfWorthwhile() {
        if buffer.readerIndex > 65536, buffer.readerIndex > buffer.readableBytes {
            buffer.discardReadBytes()
        }
    }
}
