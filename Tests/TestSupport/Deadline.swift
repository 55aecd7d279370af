/// How long a test waits for something a working build does at once. Only a broken build ever
/// reaches it, so it is generous on purpose: a busy 2-core CI machine must never get there.
public enum TestDeadline {
    public static let generous: Duration = .seconds(60)
}

/// `withDeadline`'s body did not finish in time.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let limit: Duration
    public var description: String { "not done within \(limit)" }
}

/// Runs `body`, throwing `DeadlineExceeded` if it has not finished after `limit` (and cancelling
/// it). A guard against a hang, never a measurement: keep `limit` generous.
public func withDeadline<T: Sendable>(
    _ limit: Duration = TestDeadline.generous,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded(limit: limit)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw DeadlineExceeded(limit: limit) }
        return first
    }
}
