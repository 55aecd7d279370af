#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers
import TestSupport
import Testing
@testable import Ops

@Suite struct LogSinkTests {
    /// Reads what is in the pipe now (non-blocking).
    private static func readAvailable(_ fd: Int32) -> String {
        var collected: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            collected += chunk[..<count]
        }
        return String(decoding: collected, as: UTF8.self)
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        return (ends[0], ends[1])
    }

    @Test func linesArriveWholeAndInOrder() throws {
        let (readEnd, writeEnd) = try Self.makePipe()
        defer { close(readEnd); close(writeEnd) }
        let sink = LogSink(fileDescriptor: writeEnd)
        for index in 0..<500 { sink.write("line \(index)\n") }
        sink.drain()
        let lines = Self.readAvailable(readEnd).split(separator: "\n")
        #expect(lines == (0..<500).map { "line \($0)"[...] })
    }

    /// A reader that stops reading must not stop the loggers: lines beyond the buffer are
    /// dropped and counted, and the count is reported once the reader catches up.
    @Test func aStalledReaderCostsLinesNotTime() async throws {
        let (readEnd, writeEnd) = try Self.makePipe()
        defer { close(readEnd); close(writeEnd) }
        let sink = LogSink(fileDescriptor: writeEnd, capacity: 4096)
        sink.setDropNotice { "dropped \($0)\n" }
        let line = String(repeating: "x", count: 99) + "\n"
        let finished = NIOLockedValueBox(false)
        // 1 MB of lines: far more than the pipe (64 KB) and the buffer (4 KB) can hold.
        let thread = Thread {
            for _ in 0..<10_000 { sink.write(line) }
            finished.withLockedValue { $0 = true }
        }
        thread.start()
        // Nothing reads the pipe until the writer is done: a sink that blocked on the stalled
        // reader would never finish, however long this waited.
        #expect(await eventually { finished.withLockedValue { $0 } }, "write blocked behind a stalled reader")
        // Every line is either written or counted in a notice: none vanishes unreported.
        var output = ""
        func accounted() -> Int {
            let lines = output.split(separator: "\n")
            let dropped = lines.filter { $0.hasPrefix("dropped ") }.compactMap { Int($0.dropFirst("dropped ".count)) }.reduce(0, +)
            return lines.filter { $0 == line.dropLast() }.count + dropped
        }
        #expect(await eventually {
            output += Self.readAvailable(readEnd)
            return accounted() == 10_000
        })
        #expect(output.contains("dropped "))
    }
}
