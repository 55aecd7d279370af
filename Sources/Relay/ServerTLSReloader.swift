import Accounts
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPNIO
import UnixSignals

/// Keeps the SMTP listener's certificate in step with its files (`--tls-cert`, `--tls-key`), as
/// cert-manager rotates them: inotify on their directories (a Secret's `..data` swap replaces
/// the files, so the directories are watched rather than the files), SIGHUP,
/// and a poll for filesystems without inotify. A changed pair is read and turned into a TLS
/// context off the event loops; new connections get it, established ones keep theirs. A pair
/// that does not work (unreadable, not PEM, key not the certificate's) changes nothing and is
/// logged once, naming the file; the key's content never appears anywhere.
public final class ServerTLSReloader: Sendable {
    public struct Configuration: Sendable {
        /// A certificate and its key are often written one after the other; a burst of file
        /// events is folded into one reload.
        public var debounce: Duration = .milliseconds(250)
        public var pollInterval: Duration = .seconds(60)
        public init() {}
    }

    public enum Outcome: Sendable, Hashable {
        /// The new pair is in use; the leaf's serial number (hex).
        case applied(serial: String)
        case unchanged
        case invalid(String)
    }

    public let files: ServerTLSFiles
    public let tls: ServerTLS
    private let configuration: Configuration
    private let logger: Logger
    /// The files' contents behind the context in use.
    private let inUse: NIOLockedValueBox<ServerTLSFiles.Contents>
    /// Contents last refused, so a broken pair is reported once, not at every poll.
    private let refused = NIOLockedValueBox<ServerTLSFiles.Contents?>(nil)

    private init(files: ServerTLSFiles, tls: ServerTLS, contents: ServerTLSFiles.Contents, configuration: Configuration, logger: Logger) {
        self.files = files
        self.tls = tls
        self.inUse = NIOLockedValueBox(contents)
        self.configuration = configuration
        self.logger = logger
    }

    /// Reads the files and builds the first context; a `ConfigError` naming the file when the
    /// pair is unusable, so start-up fails as for a bad accounts file.
    public static func load(_ files: ServerTLSFiles, handshakeTimeout: TimeAmount, configuration: Configuration = .init(),
                            logger: Logger) async throws -> ServerTLSReloader {
        let (contents, context) = try await NIOThreadPool.singleton.runIfActive { try Self.build(files) }
        let reloader = ServerTLSReloader(files: files, tls: ServerTLS(context: context, handshakeTimeout: handshakeTimeout),
                                         contents: contents, configuration: configuration, logger: logger)
        reloader.logLoaded(contents, message: "TLS certificate loaded")
        return reloader
    }

    /// Reads both files and makes a server context; errors name the file at fault. Blocking.
    static func build(_ files: ServerTLSFiles) throws -> (ServerTLSFiles.Contents, NIOSSLContext) {
        let contents = try files.read()
        return (contents, try makeContext(contents, files: files))
    }

    static func makeContext(_ contents: ServerTLSFiles.Contents, files: ServerTLSFiles) throws(ConfigError) -> NIOSSLContext {
        do {
            return try ServerTLS.makeContext(certificateChainPEM: contents.certificate, privateKeyPEM: contents.key)
        } catch ServerTLSError.unreadableKey {
            throw ConfigError(source: files.keyPath, message: "the TLS key is \(ServerTLSError.unreadableKey)")
        } catch ServerTLSError.keyDoesNotMatchCertificate {
            throw ConfigError(source: files.keyPath, message: "the TLS key does not match the certificate in \(files.certificatePath) (or its type is not supported)")
        } catch {
            // NIOSSL's parse errors say nothing useful; what matters is which file.
            throw ConfigError(source: files.certificatePath, message: "the TLS certificate is not a usable PEM certificate chain")
        }
    }

    /// Re-reads the files and applies them if they changed and work. Returns what happened.
    @discardableResult
    public func reload() async -> Outcome {
        let files = files
        let contents: ServerTLSFiles.Contents
        do {
            contents = try await NIOThreadPool.singleton.runIfActive { try files.read() }
        } catch {
            return refuse("\(error)", contents: nil)
        }
        if inUse.withLockedValue({ $0 }) == contents { return .unchanged }
        if let refused = refused.withLockedValue({ $0 }), refused == contents { return .invalid("unchanged since refused") }
        let context: NIOSSLContext
        do {
            context = try await NIOThreadPool.singleton.runIfActive { try Self.makeContext(contents, files: files) }
        } catch {
            return refuse("\(error)", contents: contents)
        }
        tls.replace(with: context)
        inUse.withLockedValue { $0 = contents }
        refused.withLockedValue { $0 = nil }
        lastError.withLockedValue { $0 = nil }
        let serial = logLoaded(contents, message: "TLS certificate reloaded; new connections use it")
        return .applied(serial: serial)
    }

    private let lastError = NIOLockedValueBox<String?>(nil)

    private func refuse(_ reason: String, contents: ServerTLSFiles.Contents?) -> Outcome {
        if let contents { refused.withLockedValue { $0 = contents } }
        let isNew = lastError.withLockedValue { last in
            defer { last = reason }
            return last != reason
        }
        if isNew {
            logger.error("TLS certificate not reloaded; still serving the previous one", metadata: ["error": "\(reason)"])
        }
        return .invalid(reason)
    }

    @discardableResult
    private func logLoaded(_ contents: ServerTLSFiles.Contents, message: Logger.Message) -> String {
        let leaf = ServerTLS.describeLeaf(certificateChainPEM: contents.certificate)
        var metadata: Logger.Metadata = ["certificate": "\(files.certificatePath)"]
        if let leaf {
            metadata["serial"] = "\(leaf.serial)"
            metadata["not_after"] = "\(Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)).ISO8601Format())"
        }
        logger.info(message, metadata: metadata)
        return leaf?.serial ?? ""
    }

    /// Watches until the task is cancelled.
    public func run() async {
        let (triggers, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let pollInterval = configuration.pollInterval
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { continuation.yield() }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    continuation.yield()
                }
            }
            let directories = Set([files.certificatePath, files.keyPath].map {
                URL(fileURLWithPath: $0).deletingLastPathComponent().path
            }).sorted()
            let watcher = DirectoryWatcher(directories: directories) { continuation.yield() }
            if watcher == nil {
                logger.notice("inotify unavailable; certificate changes are picked up by polling",
                              metadata: ["poll_interval_s": "\(pollInterval.components.seconds)"])
            }
            for await _ in triggers {
                try? await Task.sleep(for: configuration.debounce)
                if Task.isCancelled { break }
                await reload()
            }
            watcher?.stop()
            group.cancelAll()
        }
    }
}
