/// The SMTP listener's certificate chain and private key (`--tls-cert`, `--tls-key`), read the
/// way account files are: regular files only (a FIFO planted in a Secret's directory is
/// refused, never waited on), size-capped, errors naming the file and never quoting it.
public struct ServerTLSFiles: Sendable, Hashable {
    public var certificatePath: String
    public var keyPath: String

    /// Far above any certificate chain or key; the cap keeps a wrong path from eating memory.
    static let limit = 1024 * 1024

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    public struct Contents: Sendable, Equatable {
        public var certificate: [UInt8]
        public var key: [UInt8]

        public init(certificate: [UInt8], key: [UInt8]) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// Reads both files. Blocking: call it off the event loop.
    public func read() throws(ConfigError) -> Contents {
        Contents(certificate: try Self.read(certificatePath, what: "TLS certificate"),
                 key: try Self.read(keyPath, what: "TLS key"))
    }

    private static func read(_ path: String, what: String) throws(ConfigError) -> [UInt8] {
        do throws(FileReading.Failure) {
            return try FileReading.readAll(path: path, limit: limit)
        } catch {
            throw ConfigError(source: path, message: "cannot read the \(what): \(error.reason)")
        }
    }
}
