#if canImport(Glibc)
import Glibc
#endif
import Logging
import Testing
@testable import Ops

@Suite struct JournaldLogHandlerTests {
    @Test func handlerSendsMergedMetadataAsFields() {
        let sent = SentFields()
        var handler = JournaldLogHandler(label: "relay", send: { sent.records.append($0); return 0 }, fallback: .standardError)
        handler[metadataKey: "account_id"] = "sales"
        handler.log(event: LogEvent(level: .error, message: "token refresh failed", metadata: ["attempt": "2"],
                                    source: "OAuth2", file: "f", function: "g", line: 1))
        let fields = sent.records.first ?? []
        #expect(fields.contains("MESSAGE=token refresh failed"))
        #expect(fields.contains("PRIORITY=3"))
        #expect(fields.contains("ACCOUNT_ID=sales"))
        #expect(fields.contains("ATTEMPT=2"))
    }

    @Test func refusedRecordsGoToTheFallbackAsJSON() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let sink = LogSink(fileDescriptor: ends[1])
        let handler = JournaldLogHandler(label: "relay", send: { _ in -90 }, fallback: sink)
        handler.log(event: LogEvent(level: .info, message: "hello", metadata: ["k": "v"], source: "s", file: "f", function: "g", line: 1))
        sink.drain()
        close(ends[1])
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
        let line = String(decoding: buffer[..<max(count, 0)], as: UTF8.self)
        #expect(line.hasPrefix("{\"ts\":"))
        #expect(line.contains("\"msg\":\"hello\""))
        #expect(line.contains("\"k\":\"v\""))
    }

    @Test func missingLibraryIsNil() {
        #expect(SystemdLibrary.load(path: "libsystemd-does-not-exist.so.0") == nil)
    }

    /// Sends one real record; only meaningful where journald runs (not in this container).
    @Test(.enabled(if: SystemdLibrary.shared != nil && access(JournaldLogHandler.socketPath, F_OK) == 0,
                   "needs libsystemd.so.0 and a running journald (/run/systemd/journal/socket)"))
    func sendsOneRecordToTheJournal() throws {
        let library = try #require(SystemdLibrary.shared)
        let fields = JournaldFields.fields(level: .info, message: "xoauth2-proxy journald test", label: "OpsTests",
                                           metadata: [("test_run", "\(getpid())")], file: #fileID, function: #function, line: #line)
        #expect(JournaldLogHandler.sendv(fields, library: library) == 0)
    }

    /// Where libsystemd loads but journald is absent, the real sd_journal_sendv still runs through the
    /// dlsym'd pointer and iovecs; it reports success and drops the record, which is why bootstrap checks the socket.
    @Test(.enabled(if: SystemdLibrary.shared != nil && access(JournaldLogHandler.socketPath, F_OK) != 0,
                   "needs libsystemd.so.0 without a running journald"))
    func libsystemdDropsRecordsSilentlyWithoutJournald() throws {
        let library = try #require(SystemdLibrary.shared)
        #expect(JournaldLogHandler.sendv(["MESSAGE=dropped", "PRIORITY=6"], library: library) == 0)
    }
}

/// Records what the handler sent. Unchecked: `log` calls `send` synchronously on the test's own
/// thread, so nothing reads or writes it concurrently.
private final class SentFields: @unchecked Sendable {
    var records: [[String]] = []
}
