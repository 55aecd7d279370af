/// Sets a resource up, hands it to `body`, and tears it down whatever happens: when `body`
/// returns, throws, or the test is cancelled. The shape of every harness helper
/// (`withRelayHarness { harness in ... }`), so that a failing test never leaves servers,
/// listeners or temporary files behind for the tests after it.
public func withTeardown<Resource, Result>(
    setUp: () async throws -> Resource,
    tearDown: (Resource) async -> Void,
    _ body: (Resource) async throws -> Result
) async throws -> Result {
    let resource = try await setUp()
    let result: Result
    do {
        result = try await body(resource)
    } catch {
        await tearDown(resource)
        throw error
    }
    await tearDown(resource)
    return result
}
