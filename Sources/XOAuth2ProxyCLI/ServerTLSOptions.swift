import Accounts
import ArgumentParser
import NIOCore
import Relay

/// TLS for the apps' side: a certificate for the SMTP listener (STARTTLS, and implicit TLS on
/// its own port), and whether AUTH may go without it on a listener that is not loopback.
struct ServerTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("PEM certificate chain (leaf first) for the SMTP listener: STARTTLS on --port. Re-read when it changes (a renewed Secret), no restart.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key of --tls-cert (readable by the proxy's user; never logged).", valueName: "file"))
    var tlsKey: String?

    /// The `_FILE` spelling of the two above, so XOAUTH2_PROXY_TLS_CERT_FILE works as the
    /// accounts' `_FILE` variables do.
    @Option(help: .hidden) var tlsCertFile: String?
    @Option(help: .hidden) var tlsKeyFile: String?

    @Option(help: "Also listen for implicit TLS (SMTPS, the port 465 kind) on this port, same address; needs --tls-cert. 0 picks a free one.")
    var tlsPort: Int?

    @Option(help: "Seconds a client gets to finish the TLS handshake before it is disconnected.")
    var tlsHandshakeTimeout = 30

    @Flag(help: "Accept AUTH before TLS on a listener that is not loopback: passwords then cross the network in clear. Without it, AUTH there is offered only after STARTTLS (or on --tls-port) and refused with 538 5.7.11 before.")
    var allowPlaintextAuth = false

    func apply(to settings: inout RelayServer.Configuration) throws {
        settings.allowPlaintextAuth = allowPlaintextAuth
        let certificate = try Self.either("--tls-cert", tlsCert, "--tls-cert-file", tlsCertFile)
        let key = try Self.either("--tls-key", tlsKey, "--tls-key-file", tlsKeyFile)
        guard tlsHandshakeTimeout > 0 else { throw StartupFailure.configuration("--tls-handshake-timeout: must be positive") }
        switch (certificate, key) {
        case (nil, nil):
            if tlsPort != nil { throw StartupFailure.configuration("--tls-port needs --tls-cert and --tls-key") }
            return
        case (nil, _?):
            throw StartupFailure.configuration("--tls-key needs --tls-cert")
        case (_?, nil):
            throw StartupFailure.configuration("--tls-cert needs --tls-key")
        case (let certificate?, let key?):
            if let tlsPort {
                guard (0...65535).contains(tlsPort) else {
                    throw StartupFailure.configuration("--tls-port: \(tlsPort) is not a port number (0-65535)")
                }
                guard tlsPort == 0 || tlsPort != settings.port else {
                    throw StartupFailure.configuration("--tls-port: \(tlsPort) is --port too; implicit TLS needs a port of its own")
                }
            }
            var tls = RelayServer.Configuration.TLS(files: ServerTLSFiles(certificatePath: certificate, keyPath: key), implicitPort: tlsPort)
            tls.handshakeTimeout = .seconds(Int64(tlsHandshakeTimeout))
            settings.tls = tls
        }
    }

    private static func either(_ name: String, _ value: String?, _ fileName: String, _ fileValue: String?) throws -> String? {
        switch (value, fileValue) {
        case (let value?, let fileValue?) where value != fileValue:
            throw StartupFailure.configuration("\(name) and \(fileName) name different files")
        case (let value?, _): value
        case (nil, let fileValue): fileValue
        }
    }
}
