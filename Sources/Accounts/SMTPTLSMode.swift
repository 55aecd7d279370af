/// How the upstream SMTP connection is secured.
public enum SMTPTLSMode: String, Sendable, Hashable, CaseIterable {
    /// Plain connect, then upgrade with STARTTLS (port 587).
    case starttls
    /// TLS from the first byte, a.k.a. implicit TLS / SMTPS (port 465).
    case tls
    /// No TLS at all; the loader allows this only towards loopback hosts.
    case none

    /// 465 is the registered submissions port for implicit TLS (RFC 8314); everything else
    /// submits on 587.
    public var defaultPort: Int {
        self == .tls ? 465 : 587
    }
}
