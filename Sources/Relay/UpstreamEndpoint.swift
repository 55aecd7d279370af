import Accounts
import NIOConcurrencyHelpers
import NIOSSL
import SMTPNIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where and how an account's upstream is reached, resolved once per configuration so no file
/// is read and no TLS context is built on the hot path.
public struct UpstreamEndpoint: Sendable {
    public var host: String
    public var port: Int
    public var tls: SMTPClientConnection.TLSMode

    /// Whether both verify the provider with the same TLS context (the same trust anchors, as
    /// read): an endpoint whose context changed needs new connections.
    func usesSameTLS(as other: UpstreamEndpoint) -> Bool {
        switch (tls, other.tls) {
        case (.none, .none): true
        case (.startTLS(let mine), .startTLS(let theirs)), (.implicit(let mine), .implicit(let theirs)): mine === theirs
        default: false
        }
    }
}

/// TLS client contexts: one with the system roots, and one per extra trust anchor file
/// (`tls_ca_file`) as it read last. Building one loads the system roots, which is too slow to
/// do per connection, so contexts are built at configuration time and shared.
///
/// A CA file is read again at every configuration pass (start, each reload) and compared with
/// what its context was built from: the same bytes keep the same context; changed bytes (a
/// renewed or distrusted CA swapped in place, which changes no account field) build a new one.
/// The context is built from the bytes that were compared, so what is trusted is exactly what
/// was read. A file that cannot be read or holds no usable certificate is an error naming it,
/// and leaves the context last built from it in place.
public final class UpstreamTLSContexts: Sendable {
    /// A context and the file contents it was built from.
    private struct Built: Sendable {
        var contents: [UInt8]
        var context: NIOSSLContext
    }

    private struct State: Sendable {
        var systemRoots: NIOSSLContext?
        var caFiles: [String: Built] = [:]
    }

    /// One configuration pass: each CA file is read once however many accounts name it.
    struct Pass: Sendable {
        fileprivate var contexts: [String: NIOSSLContext] = [:]
        /// The CA files read in this pass.
        var caFiles: Set<String> { Set(contexts.keys) }
    }

    /// A CA bundle is a few hundred KiB at most; the cap keeps a mistaken path from eating memory.
    static let maxCAFileBytes = 16 * 1024 * 1024

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Builds the endpoint for an account. Reads files: call at configuration time only.
    public func endpoint(for account: Account) throws -> UpstreamEndpoint {
        var pass = Pass()
        return try endpoint(for: account, in: &pass)
    }

    /// Like `endpoint(for:)`, reading each CA file at most once per `pass`.
    func endpoint(for account: Account, in pass: inout Pass) throws -> UpstreamEndpoint {
        let tls: SMTPClientConnection.TLSMode
        switch account.smtpTLS {
        case .none: tls = .none
        case .starttls: tls = .startTLS(try context(caFile: account.tlsCAFile, in: &pass))
        case .tls: tls = .implicit(try context(caFile: account.tlsCAFile, in: &pass))
        }
        return UpstreamEndpoint(host: account.smtpHost, port: account.smtpPort, tls: tls)
    }

    /// Drops the contexts of CA files that `pass` did not read (no account names them now).
    func keepOnly(_ pass: Pass) {
        let inUse = pass.caFiles
        state.withLockedValue { state in
            state.caFiles = state.caFiles.filter { inUse.contains($0.key) }
        }
    }

    private func context(caFile: String?, in pass: inout Pass) throws -> NIOSSLContext {
        guard let caFile else { return try systemRootsContext() }
        if let context = pass.contexts[caFile] { return context }
        let contents: [UInt8]
        do throws(ReadFailure) {
            contents = try Self.readFile(caFile)
        } catch {
            throw UpstreamCAFileError(path: caFile, reason: error.reason)
        }
        let context: NIOSSLContext
        if let built = state.withLockedValue({ $0.caFiles[caFile] }), built.contents == contents {
            context = built.context
        } else {
            context = try Self.makeContext(trusting: contents, from: caFile)
            state.withLockedValue { $0.caFiles[caFile] = Built(contents: contents, context: context) }
        }
        pass.contexts[caFile] = context
        return context
    }

    private func systemRootsContext() throws -> NIOSSLContext {
        if let context = state.withLockedValue({ $0.systemRoots }) { return context }
        let context = try NIOSSLContext(configuration: Self.clientConfiguration())
        state.withLockedValue { $0.systemRoots = $0.systemRoots ?? context }
        return context
    }

    private static func clientConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// The system roots plus every certificate in the PEM `contents`.
    private static func makeContext(trusting contents: [UInt8], from path: String) throws -> NIOSSLContext {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(contents)
        } catch {
            throw UpstreamCAFileError(path: path, reason: "not valid PEM certificates (\(error))")
        }
        guard !certificates.isEmpty else {
            throw UpstreamCAFileError(path: path, reason: "holds no PEM certificate")
        }
        var configuration = clientConfiguration()
        configuration.additionalTrustRoots = [.certificates(certificates)]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw UpstreamCAFileError(path: path, reason: "cannot build a TLS context from it (\(error))")
        }
    }

    struct ReadFailure: Error {
        var reason: String
    }

    /// The whole file, read with plain POSIX calls: opened non-blocking and checked to be a
    /// regular file on the open descriptor, so a FIFO or device swapped in cannot block a reload.
    static func readFile(_ path: String, limit: Int = maxCAFileBytes) throws(ReadFailure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw ReadFailure(reason: errnoText()) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ReadFailure(reason: errnoText()) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ReadFailure(reason: "not a regular file") }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadFailure(reason: errnoText())
            }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[0..<count])
            guard contents.count <= limit else {
                throw ReadFailure(reason: "larger than \(limit / (1024 * 1024)) MiB")
            }
        }
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// A `tls_ca_file` that cannot be used, naming it.
public struct UpstreamCAFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String {
        "\"\(path)\": \(reason)"
    }
}
