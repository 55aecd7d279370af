import NIOCore
import NIOPosix

/// Where a listener binds, from what an operator writes in `--host` or `--admin-host`: an IPv4
/// or IPv6 literal (`127.0.0.1`, `::`, `::1`, `[::1]`) or a host name.
public enum ListenAddress {
    /// The address to bind. A literal is parsed in place; only a name is looked up, on NIO's
    /// thread pool, because getaddrinfo may wait on DNS and this runs on an event loop thread.
    public static func resolve(host: String, port: Int) async throws -> SocketAddress {
        let name = unbracketed(host)
        if let literal = try? SocketAddress(ipAddress: name, port: port) {
            return literal
        }
        return try await NIOThreadPool.singleton.runIfActive {
            try SocketAddress.makeAddressResolvingHost(name, port: port)
        }
    }

    /// `[::1]` is how people write an IPv6 address next to a port; the brackets are not part of it.
    static func unbracketed(_ host: String) -> String {
        guard host.hasPrefix("["), host.hasSuffix("]"), host.count > 2 else { return host }
        return String(host.dropFirst().dropLast())
    }

    /// How the address reads in a log line: IPv6 in brackets, so the port stays unambiguous.
    public static func describe(_ address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress, let port = address.port else { return "unbound" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

extension ServerBootstrap {
    /// An IPv6 listener also takes IPv4 (as v4-mapped addresses) whatever the host's
    /// `net.ipv6.bindv6only` says, so `::` answers probes on IPv4-only, IPv6-only and
    /// dual-stack clusters alike. IPv4 sockets have no such option: setting it there fails.
    public func acceptingIPv4(ifIPv6 address: SocketAddress) -> ServerBootstrap {
        guard address.protocol == .inet6 else { return self }
        return serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 0)
    }
}
