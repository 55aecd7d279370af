import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOTLS

/// The listener's certificate as a TLS server context that can be replaced while serving.
///
/// Each TLS connection takes the context that is current when TLS goes in front of it (at
/// STARTTLS, or at accept for implicit TLS) and keeps it for its whole life, so replacing the
/// certificate never touches an established connection.
public final class ServerTLS: Sendable {
    private let context: NIOLockedValueBox<NIOSSLContext>
    /// How long a client gets to finish the TLS handshake; then the connection is closed, so a
    /// client that starts TLS and goes quiet cannot hold a connection slot. The idle timeout
    /// does not see handshake bytes, and a stalled handshake has no SMTP reply to wait for.
    public let handshakeTimeout: TimeAmount

    public init(context: NIOSSLContext, handshakeTimeout: TimeAmount = .seconds(30)) {
        self.context = NIOLockedValueBox(context)
        self.handshakeTimeout = handshakeTimeout
    }

    public var current: NIOSSLContext { context.withLockedValue { $0 } }

    /// New connections get `newContext`; established ones keep the one they started with.
    public func replace(with newContext: NIOSSLContext) {
        context.withLockedValue { $0 = newContext }
    }

    /// Puts TLS at the front of `pipeline`, with the handshake deadline behind it. On the event loop.
    public func addHandlers(to pipeline: ChannelPipeline.SynchronousOperations) throws {
        // Added front first: TLS ends up ahead of the deadline, which must see its handshake event.
        try pipeline.addHandler(TLSHandshakeDeadlineHandler(timeout: handshakeTimeout), position: .first)
        try pipeline.addHandler(NIOSSLServerHandler(context: current), position: .first)
    }

    /// For `SMTPListener.Configuration.startTLS`: TLS in front after the 220 to STARTTLS.
    public var startTLS: SMTPServerFramingHandler.StartTLS {
        { [self] context in try addHandlers(to: context.pipeline.syncOperations) }
    }

    /// A server context from PEM text: the certificate chain (leaf first) and its private key.
    /// Throws when either does not parse or the key is not the certificate's.
    public static func makeContext(certificateChainPEM: [UInt8], privateKeyPEM: [UInt8]) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(certificateChainPEM)
        guard !chain.isEmpty else { throw ServerTLSError.noCertificate }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: privateKeyPEM, format: .pem)
        } catch {
            // NIOSSL's error says nothing about the key's content; keep it that way.
            throw ServerTLSError.unreadableKey
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ServerTLSError.keyDoesNotMatchCertificate
        }
    }

    /// Serial number (upper-case hex, no leading zero bytes, as OpenSSL prints it) and expiry of the leaf certificate in PEM text, for logs.
    public static func describeLeaf(certificateChainPEM: [UInt8]) -> (serial: String, notValidAfter: Int)? {
        guard let leaf = try? NIOSSLCertificate.fromPEMBytes(certificateChainPEM).first else { return nil }
        let significant = leaf.serialNumber.drop { $0 == 0 }
        let serial = (significant.isEmpty ? [0] : Array(significant)).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        return (serial, Int(leaf.notValidAfter))
    }
}

public enum ServerTLSError: Error, Sendable, Hashable, CustomStringConvertible {
    case noCertificate
    case unreadableKey
    case keyDoesNotMatchCertificate

    public var description: String {
        switch self {
        case .noCertificate: "no PEM certificate found"
        case .unreadableKey: "not a PEM private key"
        case .keyDoesNotMatchCertificate: "the private key does not match the certificate (or the key type is not supported)"
        }
    }
}

/// Closes the connection when the TLS handshake has not completed within the timeout; removes
/// itself once it has. Sits right behind the TLS handler, whose handshake event it waits for.
final class TLSHandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent {
            deadline?.cancel()
            deadline = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func arm(context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let context = bound.value
            // The TLS handler ahead of us tries a close_notify and gives up after its own short
            // timeout; the socket goes either way.
            context.fireErrorCaught(SMTPNIOError.timeout("the TLS handshake"))
            context.close(promise: nil)
        }
    }
}
