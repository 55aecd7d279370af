import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import Sockets
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the kernel says about the sockets the proxy opens. Read back with getsockopt: an option
/// set at the wrong level (SOL_SOCKET's 1 is SO_DEBUG, not TCP_NODELAY) succeeds silently as
/// root and fails every connection without CAP_NET_ADMIN.
@Suite struct SocketOptionsTests {
    static let noDelay = ChannelOptions.Types.SocketOption(level: .tcp, name: .tcp_nodelay)
    static let debug = ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_DEBUG))

    /// A peer that greets and answers EHLO, enough for `SMTPClientConnection.connect`, and
    /// hands back each accepted channel's options.
    static func greetingListener(host: String, accepted: AsyncStream<(Int, Int)>.Continuation) async throws -> SMTPListener {
        let listener = try await SMTPListener.bind(.init(host: host, port: 0), group: MultiThreadedEventLoopGroup.singleton)
        Task {
            try await listener.run { connection in
                let channel = connection.channel
                let options = try? await (channel.getOption(noDelay).get(), channel.getOption(debug).get())
                accepted.yield(options ?? (-1, -1))
                try? await connection.executeThenClose { inbound, outbound in
                    try await outbound.write(SMTPReply(220, "2.0.0", "ready"))
                    for try await frames in inbound {
                        for case .command in frames { try await outbound.write(SMTPReply(250, "2.0.0", "hello")) }
                    }
                }
            }
        }
        return listener
    }

    @Test func acceptedAndConnectedSocketsHaveNoDelayAndNoDebug() async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: (Int, Int).self)
        let listener = try await Self.greetingListener(host: "127.0.0.1", accepted: continuation)
        let client = try await SMTPClientConnection.connect(
            .init(host: "127.0.0.1", port: listener.port, tls: .none), group: MultiThreadedEventLoopGroup.singleton)
        var iterator = stream.makeAsyncIterator()
        let server = await iterator.next()
        #expect(server?.0 != 0, "TCP_NODELAY off on the accepted socket")
        #expect(server?.1 == 0, "SO_DEBUG on the accepted socket")
        #expect(try await client.channel.getOption(Self.noDelay).get() != 0, "TCP_NODELAY off on the connected socket")
        #expect(try await client.channel.getOption(Self.debug).get() == 0, "SO_DEBUG on the connected socket")
        client.close()
        await listener.close()
    }

    static let hasIPv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        } == 0
    }()

    /// `::` is what the manifests use for the admin port: kubelet probes come over IPv4 on some
    /// clusters and IPv6 on others.
    @Test(.enabled(if: hasIPv6Loopback, "this machine has no IPv6 loopback"))
    func theUnspecifiedIPv6AddressTakesIPv4AndIPv6() async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: (Int, Int).self)
        let listener = try await Self.greetingListener(host: "::", accepted: continuation)
        for peer in ["127.0.0.1", "::1"] {
            let client = try await SMTPClientConnection.connect(
                .init(host: peer, port: listener.port, tls: .none), group: MultiThreadedEventLoopGroup.singleton)
            #expect(client.isActive, "greeting and EHLO over \(peer), then closed")
            client.close()
        }
        var accepted = 0
        for await _ in stream {
            accepted += 1
            if accepted == 2 { break }
        }
        #expect(accepted == 2)
        await listener.close()
    }

    @Test(.enabled(if: hasIPv6Loopback, "this machine has no IPv6 loopback"))
    func bracketedIPv6BindsThatAddressOnly() async throws {
        let (_, continuation) = AsyncStream.makeStream(of: (Int, Int).self)
        let listener = try await Self.greetingListener(host: "[::1]", accepted: continuation)
        #expect(listener.localAddress?.ipAddress == "::1")
        let client = try await SMTPClientConnection.connect(
            .init(host: "::1", port: listener.port, tls: .none), group: MultiThreadedEventLoopGroup.singleton)
        client.close()
        await #expect(throws: (any Error).self) {
            try await SMTPClientConnection.connect(.init(host: "127.0.0.1", port: listener.port, tls: .none),
                                                   group: MultiThreadedEventLoopGroup.singleton)
        }
        await listener.close()
    }

    @Test(arguments: [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::", "::"), ("0.0.0.0", "0.0.0.0")])
    func literalsAreParsedWithoutALookup(host: String, expected: String) async throws {
        let address = try await ListenAddress.resolve(host: host, port: 2525)
        #expect(address.ipAddress == expected)
        #expect(address.port == 2525)
    }

    @Test func namesAreLookedUp() async throws {
        let address = try await ListenAddress.resolve(host: "localhost", port: 25)
        #expect(["127.0.0.1", "::1"].contains(address.ipAddress ?? ""))
    }

    @Test func addressesReadWithTheirPort() throws {
        #expect(ListenAddress.describe(try SocketAddress(ipAddress: "::", port: 9090)) == "[::]:9090")
        #expect(ListenAddress.describe(try SocketAddress(ipAddress: "127.0.0.1", port: 2525)) == "127.0.0.1:2525")
        #expect(ListenAddress.describe(nil) == "unbound")
    }
}
