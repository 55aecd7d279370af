import Foundation
import Logging
import ServiceLifecycle

/// Keeps a federated token file fresh as the kubelet does for AKS workload identity: written at
/// once, then replaced (atomically, mode 0600) every `refreshInterval` until shutdown.
public struct SandboxFederatedTokenFile: Service {
    public let issuer: SandboxTokenIssuer
    public let path: String
    public let subject: String
    public let lifetime: Duration
    public let refreshInterval: Duration
    private let logger: Logger

    public init(issuer: SandboxTokenIssuer, path: String, subject: String, lifetime: Duration = .seconds(3600),
                refreshInterval: Duration? = nil, logger: Logger) {
        self.issuer = issuer
        self.path = path
        self.subject = subject
        self.lifetime = lifetime
        // The kubelet refreshes at 80% of the lifetime; half leaves a reader more margin.
        self.refreshInterval = refreshInterval ?? lifetime / 2
        self.logger = logger
    }

    /// Writes one fresh token now.
    public func write() throws {
        let token = try issuer.issueFederatedToken(subject: subject, lifetime: lifetime)
        try SandboxFiles.writePrivate(Data(token.utf8), to: path)
    }

    public func run() async throws {
        try write()
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: refreshInterval)
                do {
                    try write()
                    logger.debug("federated token file refreshed", metadata: ["path": "\(path)"])
                } catch {
                    logger.error("cannot refresh the federated token file", metadata: ["path": "\(path)", "error": "\(error)"])
                }
            }
        }
    }
}
