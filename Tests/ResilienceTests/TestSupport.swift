import NIOConcurrencyHelpers
import Resilience

/// SplitMix64: a tiny seeded generator, so randomized tests replay the same sequence on failure.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
