import FleetState
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The wall clock a `FleetQuota` reads, moved by the test: windows and leases without sleeping.
final class WallClock: Sendable {
    private let date: NIOLockedValueBox<Date>

    init(_ start: Date) {
        date = NIOLockedValueBox(start)
    }

    var now: Date { date.withLockedValue { $0 } }

    func advance(_ seconds: TimeInterval) {
        date.withLockedValue { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// Keeps what was logged at warning level and above, to count transitions.
final class CapturedLog: Sendable {
    let messages = NIOLockedValueBox([String]())

    var logger: Logger {
        Logger(label: "fleet-quota-tests") { _ in Handler(log: self) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .notice

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            self.log.messages.withLockedValue { $0.append("\(level): \(message) \(metadata ?? [:])") }
        }
    }
}
