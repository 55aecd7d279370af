import NIOConcurrencyHelpers
import Resilience

/// Collects values handed to a callback from any thread.
final class Recorder<Value: Sendable>: Sendable {
    private let values = NIOLockedValueBox([Value]())

    var all: [Value] { values.withLockedValue { $0 } }

    func append(_ value: Value) {
        values.withLockedValue { $0.append(value) }
    }
}

extension Duration {
    /// Whole nanoseconds, for the moderate durations tests use.
    var inNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    /// Seconds as a floating-point number, for approximate comparisons.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
