import Logging
import Ops
import SMTPCore

/// The one log line and the metrics of a message's end, whatever the outcome.
enum MessageOutcome {
    static func record(_ reply: SMTPReply, size: Int, recipients: Int, startedAt: ContinuousClock.Instant?,
                       accountID: String?, metrics: any RelayMetrics, logger: Logger) {
        let duration = startedAt.map { ContinuousClock.now - $0 } ?? .zero
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        let metadata: Logger.Metadata = [
            "smtp_code": "\(reply.code)", "size": "\(size)", "recipients": "\(recipients)",
            "duration_ms": "\(Int(milliseconds.rounded()))",
        ]
        metrics.messageEnded(reply.isPositiveCompletion ? .relayed : reply.isPermanentFailure ? .rejected : .failed,
                             accountID: accountID, duration: duration, bytes: size)
        if reply.isPositiveCompletion {
            logger.info("message relayed", metadata: metadata)
        } else {
            logger.warning("message not relayed", metadata: metadata.merging(["smtp_reply": "\(reply)"]) { $1 })
        }
    }
}
