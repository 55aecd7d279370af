// The server framer driven like a session drives it: client bytes in arbitrary reads, frames
// taken as they come, replies (natural ones or any code, now or after the next read) chosen by
// the control tape. Checks the framing invariants in every mode, including DATA bodies.
//
// Input: control tape (first byte: limits; then read sizes and reply decisions, interleaved),
// then the client's byte stream after the greeting.
import FuzzSupport
import NIOCore
import SMTPCore
import SMTPFuzzSupport

/// Reply codes a session or a relayed upstream may answer with.
let anyCodes = [250, 354, 334, 220, 221, 235, 421, 451, 500, 501, 503, 535, 550, 554]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    var configuration = SMTPServerFramer.Configuration()
    if let limits = input.nextControl(), limits < 0x80 {
        // Small limits make long lines cheap to reach.
        configuration.maxCommandLineLength = 8 + Int(limits & 0x0F) * 4
        configuration.maxAuthLineLength = configuration.maxCommandLineLength + Int(limits >> 4) * 16
        configuration.maxDataLineLength = 3 + Int(limits) % 29
    }
    var session = Session(configuration: configuration)
    let stream = input.payload
    var offset = 0
    while offset < stream.count, !session.closed {
        let length = input.nextReadLength(remaining: stream.count - offset)
        session.read(stream[offset..<(offset + length)], input: &input, moreToCome: offset + length < stream.count)
        offset += length
    }
    session.finish()
    return 0
}

struct Session {
    let configuration: SMTPServerFramer.Configuration
    var framer: SMTPServerFramer
    /// Frames handed out that are owed a reply, oldest first.
    var owed: [FrameKind] = []
    var closed = false
    /// The body of the DATA transaction in progress, as framed, and where `.data` frames end in it.
    var body: [UInt8]?
    var dataFrameEnds: [Int] = []

    init(configuration: SMTPServerFramer.Configuration) {
        self.configuration = configuration
        self.framer = SMTPServerFramer(configuration: configuration)
    }

    mutating func read(_ bytes: ArraySlice<UInt8>, input: inout FuzzInput, moreToCome: Bool) {
        framer.append(ByteBuffer(bytes: bytes))
        while !closed {
            takeFrames()
            guard !owed.isEmpty else { return }
            // A session may still be waiting on its upstream when the next read arrives.
            if moreToCome, let decision = input.nextControl(), decision & 1 == 1 { return }
            answerAll(input: &input)
        }
    }

    mutating func finish() {
        var none = FuzzInput(UnsafeRawPointer(bitPattern: 1)!, 0)
        while !closed, !owed.isEmpty {
            answerAll(input: &none)
            takeFrames()
        }
        if let body { checkDataFrames(in: body, complete: false) }
    }

    mutating func takeFrames() {
        while let frame = framer.next() {
            let kind = FrameKind(frame)
            switch kind {
            case .command(let bytes):
                fuzzCheck(body == nil, "a command frame inside DATA: \(escaped(bytes))")
                fuzzCheck(!bytes.contains(0x0A), "LF inside a command line: \(escaped(bytes))")
                let isAuth = bytes.count >= 5 && Array(bytes[0..<5]).map { $0 | 0x20 } == Array("auth ".utf8)
                let limit = isAuth ? configuration.maxAuthLineLength : configuration.maxCommandLineLength
                fuzzCheck(bytes.count + 1 <= limit, "command line of \(bytes.count) bytes over the limit \(limit)")
                // Every command whose reply changes the framing must stop the framer, or the
                // bytes after it would be framed before the session decided what they are.
                switch SMTPCommandParser.parse(bytes) {
                case .success(.data), .success(.auth), .success(.starttls), .success(.quit):
                    fuzzCheck(framer.isStopped, "the framer ran on after \(escaped(bytes))")
                default:
                    break
                }
                owed.append(kind)
            case .commandTooLong:
                fuzzCheck(body == nil, "commandTooLong inside DATA")
                owed.append(kind)
            case .authResponse(let bytes):
                fuzzCheck(body == nil, "an AUTH response inside DATA")
                fuzzCheck(!bytes.contains(0x0A) && bytes.count + 1 <= configuration.maxAuthLineLength,
                          "AUTH response line: \(escaped(bytes))")
                owed.append(kind)
            case .data(let bytes):
                fuzzCheck(body != nil, "body outside DATA: \(escaped(bytes))")
                body! += bytes
                dataFrameEnds.append(body!.count)
            case .otherBody(let bytes):
                fuzzCheck(body != nil, "body outside DATA: \(escaped(bytes))")
                body! += bytes
            case .endOfData(let summary):
                guard let complete = body else { return fuzzCheck(false, "endOfData outside DATA") }
                checkEnd(complete, summary)
                body = nil
                dataFrameEnds = []
                owed.append(kind)
                fuzzCheck(framer.next() == nil, "a frame after endOfData before its reply")
            }
            fuzzCheck(framer.isAwaitingClient == owed.isEmpty, "isAwaitingClient \(framer.isAwaitingClient) with \(owed.count) owed")
        }
        if !framer.isStopped, body == nil {
            let bound = max(configuration.maxCommandLineLength, configuration.maxAuthLineLength)
            fuzzCheck(framer.bufferedBytes <= bound, "\(framer.bufferedBytes) bytes buffered with no whole line")
        }
    }

    mutating func answerAll(input: inout FuzzInput) {
        while !owed.isEmpty, !closed {
            let frame = owed.removeFirst()
            var code = naturalCode(for: frame)
            if let choice = input.nextControl(), choice >= 0xA0 {
                code = anyCodes[Int(choice) % anyCodes.count]
                // The codes that change the framing are given only to their commands, as the
                // session does: 354 to DATA, 334 to AUTH or a SASL step, 220 to STARTTLS.
                let command: SMTPCommand? = if case .command(let bytes) = frame, case .success(let parsed) = SMTPCommandParser.parse(bytes) { parsed } else { nil }
                switch (code, command) {
                case (354, .data?), (220, .starttls?), (334, .auth?): break
                case (334, nil) where { if case .authResponse = frame { true } else { false } }(): break
                case (354, _), (220, _), (334, _): code = 250
                default: break
                }
            }
            var openedData = false
            if case .command(let bytes) = frame, code == 354, owed.isEmpty,
               case .success(.data) = SMTPCommandParser.parse(bytes) {
                openedData = true
            }
            let quit: Bool
            if case .command(let bytes) = frame, (200..<300).contains(code), case .success(.quit) = SMTPCommandParser.parse(bytes) {
                quit = true
            } else {
                quit = false
            }
            let effect = framer.replyWritten(code: code)
            if effect == .startTLS {
                // RFC 3207 section 6: nothing pipelined after STARTTLS survives the upgrade.
                fuzzCheck(framer.bufferedBytes == 0, "\(framer.bufferedBytes) plaintext bytes kept across STARTTLS")
            }
            if openedData {
                body = []
                dataFrameEnds = []
            }
            if quit { closed = true }
        }
    }

    func naturalCode(for frame: FrameKind) -> Int {
        switch frame {
        case .command(let bytes):
            switch SMTPCommandParser.parse(bytes) {
            case .success(.data): return 354
            case .success(.auth): return 334
            case .success(.starttls): return 220
            case .success(.quit): return 221
            case .success: return 250
            case .failure: return 500
            }
        case .commandTooLong: return 500
        case .authResponse: return 235
        default: return 250
        }
    }

    func checkEnd(_ body: [UInt8], _ summary: SMTPDataScanner.Summary) {
        fuzzCheck(summary.size == body.count, "endOfData size \(summary.size), body frames \(body.count)")
        fuzzCheck(DataReference.terminator(in: body + Array(".\r\n".utf8)) == body.count,
                  "the body handed out holds a terminator: \(escaped(body))")
        let bare = !DataReference.bareLineEndings(in: body, end: body.count).isEmpty
        fuzzCheck(summary.sawBareLineEnding == bare, "sawBareLineEnding \(summary.sawBareLineEnding) for \(escaped(body))")
        let long = DataReference.hasLongLine(body, end: body.count, maxLineLength: configuration.maxDataLineLength)
        fuzzCheck(summary.sawLongLine == long, "sawLongLine \(summary.sawLongLine) for \(escaped(body))")
        checkDataFrames(in: body, complete: true)
    }

    /// No `.data` frame holds or follows a bare CR or LF. A CR that is the last byte framed
    /// of an unfinished body is not judged.
    func checkDataFrames(in body: [UInt8], complete: Bool) {
        if !complete {
            fuzzCheck(DataReference.terminator(in: body) == nil, "an unfinished body holds a terminator: \(escaped(body))")
        }
        let firstBare = DataReference.bareLineEndings(in: body, end: body.count).first
        for end in dataFrameEnds {
            fuzzCheck(dataFrameIsClean(body: body, dataEnd: end, firstBare: firstBare),
                      "a .data frame ending at \(end) holds or follows the bare line ending at \(firstBare!) in \(escaped(body))")
        }
    }
}

/// See runLibFuzzer: the entry point a debug build's `main` is linked to.
@_cdecl("FuzzServerFramer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
