/// Polls a condition until it holds: the one way tests wait for something another thread or
/// process does. The deadline is only how long a broken build may hang before the test fails;
/// it is generous on purpose (a busy 2-core CI machine), and a passing run never reaches it.
///
/// Returns whether the condition held, so a test states its expectation itself:
/// `#expect(await eventually { harness.sessions == 0 })`.
public func eventually(
    within deadline: Duration = .seconds(60),
    every interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + deadline
    while true {
        if try await condition() { return true }
        if clock.now >= end { return false }
        do { try await Task.sleep(for: interval) } catch { return false }  // cancelled: the test is over
    }
}
