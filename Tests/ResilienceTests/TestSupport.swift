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

/// Yields until `condition` holds; for waiting on other tasks to reach a state without sleeping.
/// Gives up after `limit` rounds so that a broken test fails instead of hanging.
func eventually(_ limit: Int = 1_000_000, _ condition: () -> Bool) async -> Bool {
    for _ in 0..<limit {
        if condition() { return true }
        await Task.yield()
    }
    return condition()
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
