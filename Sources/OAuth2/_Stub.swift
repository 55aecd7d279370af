// TEMPORARY until the OAuth2 module lands.
import Logging
public struct OAuth2Credentials: Sendable, Hashable {
    public var tokenURL: String; public var clientID: String; public var clientSecret: String?; public var refreshToken: String; public var scope: String?
    public init(tokenURL: String, clientID: String, clientSecret: String?, refreshToken: String, scope: String?) {
        self.tokenURL = tokenURL; self.clientID = clientID; self.clientSecret = clientSecret; self.refreshToken = refreshToken; self.scope = scope
    }
}
public struct AccessToken: Sendable, Hashable { public var value: String; public var expiresAt: ContinuousClock.Instant }
public enum TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    case credentialsRejected(String), unavailable(String)
    public var description: String { "" }
}
public final class TokenCache: Sendable {
    init() {}
    public func setCredentials(_ credentials: OAuth2Credentials, forKey key: String) {}
    public func accessToken(forKey key: String, forceRefresh: Bool = false) async throws(TokenError) -> AccessToken { throw .unavailable("") }
}
import AsyncHTTPClient
public protocol TokenHTTPTransport: Sendable {}
public struct AsyncHTTPClientTransport: TokenHTTPTransport { public init(client: HTTPClient) {} }
public struct RefreshTokenGrant: Sendable { public init(transport: any TokenHTTPTransport) {} }
extension TokenCache {
    public struct Configuration: Sendable { public var expiryMargin: Duration = .seconds(600); public init() {} }
    public convenience init(grant: RefreshTokenGrant, configuration: Configuration = .init(), logger: Logger) { self.init() }
}
