import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// One message the sandbox accepted: who authenticated, the envelope, and the message as a
/// recipient would see it (dot-stuffing removed).
public struct SandboxMessage: Sendable, Hashable {
    public var authenticatedUser: String
    public var mailFrom: String
    public var recipients: [String]
    public var data: [UInt8]
    public var sequence: Int
}

/// Where accepted messages go: memory for tests, and optionally a directory for people
/// (`NNNNNN.eml` plus `NNNNNN.json` with the envelope).
public final class SandboxMailStore: Sendable {
    private struct State {
        /// A ring: dropping the oldest is O(1), so a long benchmark costs nothing extra per message.
        var messages = CircularBuffer<SandboxMessage>()
        var accepted = 0
    }

    private let state = NIOLockedValueBox(State())
    public let directory: String?
    /// Keeping every message of a long benchmark in memory would itself be the leak; keep the last N.
    public let memoryLimit: Int

    public init(directory: String? = nil, memoryLimit: Int = 10_000) throws {
        self.directory = directory
        self.memoryLimit = memoryLimit
        if let directory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    @discardableResult
    func add(authenticatedUser: String, mailFrom: String, recipients: [String], data: [UInt8]) -> SandboxMessage {
        let message = state.withLockedValue { state -> SandboxMessage in
            state.accepted += 1
            let message = SandboxMessage(authenticatedUser: authenticatedUser, mailFrom: mailFrom,
                                         recipients: recipients, data: data, sequence: state.accepted)
            state.messages.append(message)
            while state.messages.count > memoryLimit { state.messages.removeFirst() }
            return message
        }
        if let directory { write(message, to: directory) }
        return message
    }

    private func write(_ message: SandboxMessage, to directory: String) {
        let base = (directory as NSString).appendingPathComponent(String(format: "%06d", message.sequence))
        let envelope: [String: Any] = ["authenticated_user": message.authenticatedUser, "mail_from": message.mailFrom,
                                       "recipients": message.recipients, "size": message.data.count]
        _ = FileManager.default.createFile(atPath: base + ".eml", contents: Data(message.data))
        if let json = try? JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys, .prettyPrinted]) {
            _ = FileManager.default.createFile(atPath: base + ".json", contents: json)
        }
    }

    /// The stored messages, oldest first, each with its envelope and full data. Only the newest
    /// `memoryLimit` are kept: a test that must account for every message should set the limit
    /// (`SandboxProvider.Configuration.messagesInMemory`) above the number it sends, and can
    /// check that nothing was evicted with `messages.count == acceptedCount`.
    public var messages: [SandboxMessage] { state.withLockedValue { Array($0.messages) } }
    /// Every message ever accepted, including any evicted from `messages`.
    public var acceptedCount: Int { state.withLockedValue { $0.accepted } }

    /// Waits (polling, bounded) until at least `count` messages were accepted.
    public func waitForCount(_ count: Int, timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if acceptedCount >= count { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return acceptedCount >= count
    }
}
