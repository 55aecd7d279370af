// TEMPORARY until the token issuer lands.
public final class SandboxTokenIssuer: Sendable {
    public init(tokenLifetime: Duration = .seconds(3600)) {}
    public func validate(token: String, email: String) -> Bool { token == "ok" }
}
import Logging
import NIOCore
extension SandboxTokenIssuer {
    public func register(email: String, clientID: String, clientSecret: String?, refreshToken: String) {}
    public func issuedTokenCount() -> Int { 0 }
}
public final class SandboxTokenEndpoint: Sendable {
    public static func start(issuer: SandboxTokenIssuer, host: String = "127.0.0.1", port: Int = 0, group: any EventLoopGroup, logger: Logger) async throws -> SandboxTokenEndpoint { fatalError() }
    public var port: Int { 0 }
    public var url: String { "" }
    public func shutdown() async throws {}
}
