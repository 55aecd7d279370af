#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain-text traffic (http token endpoints, `smtp_tls: none`) is tolerated only when it
/// cannot leave the machine. The check is deliberately literal: no DNS, and only canonical
/// spellings count, because resolvers accept odd forms ("127.1", "0x7f.0.0.1", octal
/// "0177.0.0.1") whose meaning differs between libraries. Anything unusual is treated as
/// not loopback, which errs on the side of refusing plain text.
public enum LoopbackHost {
    /// `host` may be a bracketed IPv6 literal as it appears in URLs.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = unbracketed(host)
        if bare.lowercased() == "localhost" { return true }
        if let octets = ipv4Octets(bare) { return octets[0] == 127 }
        if let bytes = ipv6Bytes(bare) { return isIPv6Loopback(bytes) }
        return false
    }

    /// "[::1]" -> "::1"; anything else unchanged.
    static func unbracketed(_ host: String) -> String {
        if host.hasPrefix("["), host.hasSuffix("]"), host.count >= 2 {
            return String(host.dropFirst().dropLast())
        }
        return host
    }

    /// Strict dotted quad: four decimal octets 0...255 without leading zeros.
    static func ipv4Octets(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3,
                  part.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  part == "0" || !part.hasPrefix("0"),
                  let value = UInt8(part)
            else { return nil }
            octets.append(value)
        }
        return octets
    }

    /// Parsed with the C library so every legal compression form is understood.
    static func ipv6Bytes(_ text: String) -> [UInt8]? {
        guard text.contains(":"), !text.contains("%") else { return nil }
        var address = in6_addr()
        let parsed = text.withCString { inet_pton(AF_INET6, $0, &address) }
        guard parsed == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// `::1`, or an IPv4-mapped `::ffff:127.x.y.z` (which reaches the IPv4 loopback).
    private static func isIPv6Loopback(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return false }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
        return Array(bytes[0..<12]) == mappedPrefix && bytes[12] == 127
    }
}
