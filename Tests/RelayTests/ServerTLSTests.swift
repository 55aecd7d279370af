import Accounts
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Relay
import Sandbox
import SMTPCore
import SMTPNIO
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// TLS for apps, in process against the sandbox: STARTTLS and implicit TLS with our own client
/// trusting a sandbox-made CA, AUTH refused before TLS on a listener that is not loopback, the
/// handshake deadline, and a certificate swapped under a running relay.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ServerTLSTests {
    /// A CA, and a server certificate it signed, written where `--tls-cert`/`--tls-key` read
    /// them: a directory laid out as the kubelet mounts a cert-manager Secret.
    final class CertificateFiles: @unchecked Sendable {
        let authority: SandboxCertificateAuthority
        let work: URL
        let ipAddresses: [String]
        private var mount: SecretMount
        private(set) var serial = ""

        init(ipAddresses: [String] = ["127.0.0.1", "::1"]) throws {
            authority = try SandboxCertificateAuthority.generate()
            work = FileManager.default.temporaryDirectory.appendingPathComponent("server-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: work.appendingPathComponent("tls"), withIntermediateDirectories: true)
            self.ipAddresses = ipAddresses
            mount = SecretMount(root: work.appendingPathComponent("tls"))
            try rotate()
        }

        var files: ServerTLSFiles {
            ServerTLSFiles(certificatePath: mount.path + "/tls.crt", keyPath: mount.path + "/tls.key")
        }

        /// A new leaf from the same CA, swapped in as cert-manager's renewal reaches the pod.
        @discardableResult
        func rotate() throws -> String {
            let issued = try authority.issue(ipAddresses: ipAddresses)
            try mount.update(["tls.crt": issued.certificatePEM, "tls.key": issued.privateKeyPEM, "ca.crt": authority.certificatePEM])
            serial = issued.serialNumber
            return issued.serialNumber
        }

        func update(_ files: [String: String]) throws {
            try mount.update(files)
        }

        func clientContext() throws -> NIOSSLContext {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(authority.certificatePEM.utf8), format: .pem)])
            return try NIOSSLContext(configuration: configuration)
        }

        deinit { try? FileManager.default.removeItem(at: work) }
    }

    static func connect(host: String = "127.0.0.1", port: Int, tls: SMTPClientConnection.TLSMode) async throws -> TestSMTPClient {
        var timeouts = SMTPClientConnection.Timeouts()
        timeouts.command = .seconds(60)
        timeouts.dataEnd = .seconds(60)
        let connection = try await SMTPClientConnection.connect(
            .init(host: host, port: port, tls: tls, heloName: "tls.client", timeouts: timeouts), group: MultiThreadedEventLoopGroup.singleton)
        return TestSMTPClient(connection: connection)
    }

    /// The serial number of the certificate the server showed this connection (as OpenSSL prints it).
    static func peerSerial(_ client: TestSMTPClient) async throws -> String? {
        guard let certificate = try await client.connection.channel.nioSSL_peerCertificate().get() else { return nil }
        let significant = certificate.serialNumber.drop { $0 == 0 }
        return significant.map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    static func login(_ client: TestSMTPClient, _ account: RelayHarness.TestAccount) async throws -> SMTPReply {
        try await client.login(account.email, account.password)
    }

    /// The first IPv4 address of this machine that is not loopback, or nil.
    static func nonLoopbackIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  entry.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ip = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet -> String? in
                var raw = inet.pointee.sin_addr
                guard inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)) != nil else { return nil }
                return String(cString: text)
            }
            if let ip, !LoopbackHost.isLoopback(ip) { return ip }
        }
        return nil
    }

    // MARK: STARTTLS and implicit TLS on loopback

    @Test func startTLSWithTheSandboxCAThenAuthAndAMessage() async throws {
        let certificates = try CertificateFiles()
        try await withRelayHarness(configure: { $0.server.tls = .init(files: certificates.files) }, upstreamTLS: .none) { harness in
            let client = try await Self.connect(port: harness.port, tls: .startTLS(try certificates.clientContext()))
            // After TLS the EHLO is asked again; AUTH is there, STARTTLS no longer.
            #expect(client.connection.capabilities.authMechanisms == ["PLAIN", "LOGIN"])
            #expect(!client.connection.capabilities.startTLS)
            #expect(try await Self.peerSerial(client) == certificates.serial)
            #expect(try await Self.login(client, harness.accounts[0]).code == 235)
            let replies = try await client.send(to: ["rcpt@example.net"], message: "Subject: over STARTTLS\r\n\r\nhello\r\n")
            #expect(replies.map(\.code) == [250, 250, 354, 250])
            await client.quit()
            #expect(harness.sandbox.store.messages.first?.data == Array("Subject: over STARTTLS\r\n\r\nhello\r\n".utf8))

            // On loopback nothing changes for plaintext clients: AUTH is offered and works.
            let plain = try await harness.client(login: false)
            #expect(plain.connection.capabilities.authMechanisms == ["PLAIN", "LOGIN"])
            #expect(plain.connection.capabilities.startTLS)
            #expect(try await Self.login(plain, harness.accounts[0]).code == 235)
            await plain.quit()
        }
    }

    @Test func implicitTLSListenerServesTheSameRelay() async throws {
        let certificates = try CertificateFiles()
        try await withRelayHarness(configure: { $0.server.tls = .init(files: certificates.files, implicitPort: 0) },
                                   upstreamTLS: .none) { harness in
            let tlsPort = try #require(harness.runtime.server.tlsPort)
            #expect(tlsPort != harness.port)
            let client = try await Self.connect(port: tlsPort, tls: .implicit(try certificates.clientContext()))
            #expect(!client.connection.capabilities.startTLS)
            #expect(try await Self.peerSerial(client) == certificates.serial)
            #expect(try await client.command("STARTTLS").code == 503)
            #expect(try await Self.login(client, harness.accounts[0]).code == 235)
            #expect(try await client.send(to: ["rcpt@example.net"], message: "Subject: implicit\r\n\r\nx\r\n").last?.code == 250)
            await client.quit()
            // STARTTLS stays on the main port.
            let starttls = try await Self.connect(port: harness.port, tls: .startTLS(try certificates.clientContext()))
            #expect(try await Self.login(starttls, harness.accounts[0]).code == 235)
            await starttls.quit()
            #expect(harness.sandbox.store.messages.count == 1)
        }
    }

    // MARK: AUTH before TLS on a listener that is not loopback

    /// Bound to this machine's own non-loopback address, as the standalone relay's pod is.
    @Test func plaintextAuthOnANonLoopbackListenerIsRefusedWith538() async throws {
        guard let address = Self.nonLoopbackIPv4() else {
            print("ServerTLSTests: this machine has no non-loopback IPv4 address; the 0.0.0.0 test below covers the rule")
            return
        }
        try await refusesPlaintextAuth(bind: address, connectTo: address)
    }

    /// The wildcard address takes connections from the network: not loopback, even for a client
    /// that comes in over 127.0.0.1. What the socket is bound to decides.
    @Test func theWildcardAddressIsNotLoopback() async throws {
        try await refusesPlaintextAuth(bind: "0.0.0.0", connectTo: "127.0.0.1")
    }

    private func refusesPlaintextAuth(bind host: String, connectTo target: String) async throws {
        let certificates = try CertificateFiles(ipAddresses: ["127.0.0.1", "::1"] + (target == "127.0.0.1" ? [] : [target]))
        try await withRelayHarness(configure: {
            $0.server.host = host
            $0.server.tls = .init(files: certificates.files)
        }, upstreamTLS: .none) { harness in
            let plain = try await Self.connect(host: target, port: harness.port, tls: .none)
            #expect(plain.connection.capabilities.authMechanisms.isEmpty, "AUTH advertised before TLS")
            #expect(plain.connection.capabilities.startTLS)
            let refused = try await Self.login(plain, harness.accounts[0])
            #expect(refused.code == 538)
            #expect(refused.enhancedStatus == "5.7.11")
            #expect(try await plain.command("MAIL FROM:<sender@example.com>").code == 530)
            await plain.quit()

            let secure = try await Self.connect(host: target, port: harness.port, tls: .startTLS(try certificates.clientContext()))
            #expect(secure.connection.capabilities.authMechanisms == ["PLAIN", "LOGIN"])
            #expect(try await Self.login(secure, harness.accounts[0]).code == 235)
            #expect(try await secure.send(to: ["rcpt@example.net"], message: "Subject: x\r\n\r\nx\r\n").last?.code == 250)
            await secure.quit()
            #expect(harness.sandbox.store.messages.count == 1)
        }
    }

    @Test func allowPlaintextAuthKeepsTheOldBehaviourAndWithoutItOrTLSTheRelayDoesNotStart() async throws {
        try await withRelayHarness(configure: {
            $0.server.host = "0.0.0.0"
            $0.server.allowPlaintextAuth = true
        }, upstreamTLS: .none) { harness in
            let plain = try await Self.connect(port: harness.port, tls: .none)
            #expect(plain.connection.capabilities.authMechanisms == ["PLAIN", "LOGIN"])
            #expect(try await Self.login(plain, harness.accounts[0]).code == 235)
            await plain.quit()
        }
        // A relay nobody could log in to is a configuration error, said at start.
        let error = await #expect(throws: ConfigError.self) {
            try await withRelayHarness(configure: { $0.server.host = "0.0.0.0" }, upstreamTLS: .none) { _ in }
        }
        #expect(error?.source == "--host")
        #expect(error?.message.contains("--tls-cert") == true && error?.message.contains("--allow-plaintext-auth") == true)
    }

    // MARK: Handshake deadline

    /// A client that asks for TLS and never sends a handshake byte must not keep its connection
    /// slot until the idle timeout (an hour here).
    @Test func aStalledHandshakeIsCutAtTheDeadline() async throws {
        let certificates = try CertificateFiles()
        try await withRelayHarness(configure: {
            var tls = RelayServer.Configuration.TLS(files: certificates.files, implicitPort: 0)
            tls.handshakeTimeout = .milliseconds(300)
            $0.server.tls = tls
            $0.server.idleTimeout = .hours(1)
        }, upstreamTLS: .none) { harness in
            let starttls = try await RawClient.connect(port: harness.port)
            defer { starttls.close() }
            #expect(await eventually { starttls.received.hasPrefix("220 ") })
            starttls.send("EHLO stalled.example\r\n")
            #expect(await eventually { starttls.received.contains("250 ") })
            starttls.send("STARTTLS\r\n")
            #expect(await eventually { starttls.received.contains("220 2.0.0 Ready to start TLS") })
            #expect(await eventually { starttls.isClosed }, "the connection outlived its handshake deadline")

            let implicit = try await RawClient.connect(port: try #require(harness.runtime.server.tlsPort))
            defer { implicit.close() }
            #expect(await eventually { implicit.isClosed }, "the implicit TLS connection outlived its handshake deadline")
            #expect(await eventually { harness.runtime.server.activeSessions == 0 })

            // A client that completes its handshake is not cut.
            let client = try await Self.connect(port: harness.port, tls: .startTLS(try certificates.clientContext()))
            #expect(try await Self.login(client, harness.accounts[0]).code == 235)
            #expect(try await client.send(to: ["a@example.net"], message: "Subject: x\r\n\r\nx\r\n").last?.code == 250)
            await client.quit()
        }
    }

    // MARK: Certificate swap

    @Test func aCertificateSwapIsPickedUpWithoutRestartAndSparesOpenConnections() async throws {
        let certificates = try CertificateFiles()
        try await withRelayHarness(configure: { $0.server.tls = .init(files: certificates.files, implicitPort: 0) },
                                   upstreamTLS: .none) { harness in
            let tlsPort = try #require(harness.runtime.server.tlsPort)
            let first = certificates.serial
            let established = try await Self.connect(port: harness.port, tls: .startTLS(try certificates.clientContext()))
            #expect(try await Self.peerSerial(established) == first)
            #expect(try await Self.login(established, harness.accounts[0]).code == 235)

            let second = try certificates.rotate()
            #expect(second != first)
            // The kubelet's ..data swap reaches the relay through inotify; polled, never slept on.
            let seen = await eventually {
                guard let probe = try? await Self.connect(port: harness.port, tls: .startTLS(try certificates.clientContext())) else { return false }
                let serial = try? await Self.peerSerial(probe)
                await probe.quit()
                return serial == second
            }
            #expect(seen, "new STARTTLS connections never got the new certificate")
            let implicit = try await Self.connect(port: tlsPort, tls: .implicit(try certificates.clientContext()))
            #expect(try await Self.peerSerial(implicit) == second)
            await implicit.quit()

            // The connection from before the swap keeps its TLS session and relays.
            #expect(try await established.send(to: ["a@example.net"], message: "Subject: after swap\r\n\r\nx\r\n").last?.code == 250)
            await established.quit()
            #expect(harness.sandbox.store.messages.count == 1)
        }
    }

    /// A pair that does not work changes nothing; the error names the file; the key never shows.
    @Test func aBrokenPairKeepsTheCertificateInUseAndNamesTheFile() async throws {
        let certificates = try CertificateFiles()
        let capture = LogLines()
        let reloader = try await ServerTLSReloader.load(certificates.files, handshakeTimeout: .seconds(5), logger: capture.logger())
        let inUse = reloader.tls.current
        #expect(capture.lines.contains { $0.contains("TLS certificate loaded") && $0.contains("serial=\(certificates.serial)") })

        let other = try SandboxCertificateAuthority.generate().issue()
        let good = try certificates.authority.issue()
        let cases: [(files: [String: String], blamed: String)] = [
            (["tls.crt": "not a certificate\n", "tls.key": good.privateKeyPEM], certificates.files.certificatePath),
            (["tls.crt": good.certificatePEM, "tls.key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"],
             certificates.files.keyPath),
            // cert-manager writing the new certificate before the new key is this, for a moment.
            (["tls.crt": good.certificatePEM, "tls.key": other.privateKeyPEM], certificates.files.keyPath),
            (["tls.crt": good.certificatePEM], certificates.files.keyPath),
        ]
        for (files, blamed) in cases {
            try certificates.update(files)
            guard case .invalid(let reason) = await reloader.reload() else {
                Issue.record("accepted a broken pair: \(files.keys.sorted())")
                continue
            }
            #expect(reason.hasPrefix(blamed), "\(reason)")
            #expect(reloader.tls.current === inUse)
            #expect(capture.lines.last?.hasPrefix("error TLS certificate not reloaded; still serving the previous one") == true)
            #expect(capture.lines.last?.contains(blamed) == true, "\(capture.lines.last ?? "")")
        }
        let errors = capture.lines.filter { $0.hasPrefix("error") }.count
        #expect(await reloader.reload() != .unchanged, "still broken")
        #expect(capture.lines.filter { $0.hasPrefix("error") }.count == errors, "the same broken pair is reported once")

        try certificates.update(["tls.crt": good.certificatePEM, "tls.key": good.privateKeyPEM])
        #expect(await reloader.reload() == .applied(serial: good.serialNumber))
        #expect(reloader.tls.current !== inUse)
        #expect(await reloader.reload() == .unchanged)
        for key in [good.privateKeyPEM, other.privateKeyPEM] {
            let body = key.split(separator: "\n").dropFirst().first.map(String.init) ?? key
            #expect(!capture.lines.joined().contains(body), "key material in the log")
        }
    }
}

/// Log lines as `level message key=value …`.
final class LogLines: Sendable {
    private let stored = NIOLockedValueBox<[String]>([])
    var lines: [String] { stored.withLockedValue { $0 } }

    func logger() -> Logger {
        Logger(label: "test") { [self] _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.stored.withLockedValue { $0.append("\(event.level) \(event.message) \(rendered)") }
        }
    }
}

/// A TCP client that sends what it is told and keeps what it receives: for peers that do not
/// follow the protocol (a TLS handshake that never starts).
final class RawClient: Sendable {
    private let channel: any Channel
    private let state: NIOLockedValueBox<(text: String, closed: Bool)>

    private init(channel: any Channel, state: NIOLockedValueBox<(text: String, closed: Bool)>) {
        self.channel = channel
        self.state = state
    }

    var received: String { state.withLockedValue { $0.text } }
    var isClosed: Bool { state.withLockedValue { $0.closed } }

    static func connect(host: String = "127.0.0.1", port: Int) async throws -> RawClient {
        let state = NIOLockedValueBox<(text: String, closed: Bool)>(("", false))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Recorder(state: state)) }
            }
            .connect(host: host, port: port).get()
        return RawClient(channel: channel, state: state)
    }

    func send(_ text: String) {
        channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
    }

    func close() {
        channel.close(promise: nil)
    }

    private final class Recorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<(text: String, closed: Bool)>
        init(state: NIOLockedValueBox<(text: String, closed: Bool)>) { self.state = state }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            state.withLockedValue { $0.text += text }
        }
        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.closed = true }
            context.fireChannelInactive()
        }
    }
}
