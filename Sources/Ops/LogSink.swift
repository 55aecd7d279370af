#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOConcurrencyHelpers

/// Where log lines go: a bounded buffer that one writer thread empties.
///
/// Loggers are called on event loops, and a write to a pipe whose reader stalls (a container
/// runtime under pressure, a paused `kubectl logs`) would block them. So `write` only copies
/// the line into the buffer, and the writer thread writes whatever has gathered in one call:
/// under load that is one system call for many lines. When the buffer is full the line is
/// dropped and counted, and the writer says how many were dropped once it catches up.
/// Lines still buffered are written before the process exits (`exit` or the end of `main`).
public final class LogSink: @unchecked Sendable {
    /// Buffered bytes beyond which lines are dropped.
    public static let defaultCapacity = 8 * 1024 * 1024

    /// After each write the writer lets lines gather this long before it looks again: at a few
    /// thousand lines a second, waking it per line cost two futex calls and a write per line.
    /// Lines wait at most this long longer than they did.
    static let gatherInterval: useconds_t = 2_000

    private enum Phase {
        /// Nothing buffered; the writer waits to be signalled.
        case idle
        /// Lines buffered; the writer has been signalled (or will look without it).
        case pending
        /// The writer is writing a batch or gathering the next; nobody needs to signal it.
        case writing
    }

    private let fd: Int32
    private let capacity: Int
    // Everything below is guarded by `condition`'s lock.
    private let condition = NSCondition()
    private var phase = Phase.idle
    private var buffer: [UInt8] = []
    private var dropped = 0
    private var writerStarted = false
    private var dropNotice: @Sendable (Int) -> String = { "log lines dropped: \($0) (the log reader is too slow)\n" }

    public init(fileDescriptor: Int32, capacity: Int = LogSink.defaultCapacity) {
        self.fd = fileDescriptor
        self.capacity = capacity
    }

    public static let standardOutput = LogSink(fileDescriptor: 1)
    public static let standardError = LogSink(fileDescriptor: 2)

    /// How the "lines dropped" notice is worded (the handler's format).
    func setDropNotice(_ notice: @escaping @Sendable (Int) -> String) {
        condition.lock()
        dropNotice = notice
        condition.unlock()
    }

    func write(_ line: String) {
        var line = line
        line.withUTF8 { append($0) }
    }

    func write(bytes line: [UInt8]) {
        line.withUnsafeBufferPointer { append($0) }
    }

    private func append(_ line: UnsafeBufferPointer<UInt8>) {
        condition.lock()
        let startWriter = !writerStarted
        writerStarted = true
        if buffer.count + line.count > capacity {
            dropped += 1
        } else {
            buffer.append(contentsOf: line)
        }
        // Only an idle writer sleeps on the condition; a busy one finds these lines itself.
        let wake = phase == .idle
        if wake { phase = .pending }
        condition.unlock()
        if wake { condition.broadcast() }
        if startWriter { startWriterThread() }
    }

    /// Waits (bounded) until everything buffered has been written.
    public func drain(timeout: Double = 2) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        while phase != .idle, condition.wait(until: deadline) {}
        condition.unlock()
    }

    private func startWriterThread() {
        let thread = Thread { [self] in runWriter() }
        thread.name = "log-writer"
        thread.start()
        LogSink.registerExitDrain()
    }

    private func runWriter() {
        var batch: [UInt8] = []
        condition.lock()
        while true {
            while phase == .idle { condition.wait() }
            swap(&batch, &buffer)
            let droppedNow = dropped
            dropped = 0
            let notice = dropNotice
            phase = .writing
            condition.unlock()
            writeAll(batch)
            batch.removeAll(keepingCapacity: batch.capacity <= 1 << 20)
            if droppedNow > 0 { writeAll(Array(notice(droppedNow).utf8)) }
            usleep(Self.gatherInterval)
            condition.lock()
            if buffer.isEmpty && dropped == 0 {
                phase = .idle
                // For `drain`.
                condition.broadcast()
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, base + offset, raw.count - offset)
                if written < 0, errno == EINTR { continue }
                // A closed or broken output: nothing more can be done with these lines.
                if written <= 0 { return }
                offset += written
            }
        }
    }

    private static let exitDrainRegistered = NIOLockedValueBox(false)

    /// Lines logged just before `exit` (a configuration error, the end of a drain) must not
    /// be lost with the writer thread.
    private static func registerExitDrain() {
        let first = exitDrainRegistered.withLockedValue { registered in
            defer { registered = true }
            return !registered
        }
        guard first else { return }
        atexit {
            LogSink.standardOutput.drain()
            LogSink.standardError.drain()
        }
    }
}
