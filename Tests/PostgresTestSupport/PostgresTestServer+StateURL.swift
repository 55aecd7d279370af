import FleetState

extension PostgresTestServer {
    /// A new, empty database on this server, as the state URL a replica is given (password included).
    public func makeStateURL() async throws -> FleetStateURL {
        FleetStateURL(user: superuser, password: password, host: host, port: port, database: try await makeDatabase(),
                      sslMode: .disable)
    }
}
