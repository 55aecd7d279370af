/// 128-bit FNV-1a (http://www.isthe.com/chongo/tech/comp/fnv/), for opaque, stable names and
/// fingerprints. Not a cryptographic hash: do not use it where an adversary picks the input.
enum FNV1a128 {
    /// The 128-bit offset basis 0x6c62272e07bb014262b821756295c58d.
    static let offsetBasis = (high: UInt64(0x6c62_272e_07bb_0142), low: UInt64(0x62b8_2175_6295_c58d))

    static func hash(_ bytes: some Sequence<UInt8>) -> (high: UInt64, low: UInt64) {
        var (high, low) = offsetBasis
        for byte in bytes {
            low ^= UInt64(byte)
            // Multiply by the prime 2^88 + 0x13b, modulo 2^128.
            let (carry, product) = low.multipliedFullWidth(by: 0x13b)
            high = high &* 0x13b &+ carry &+ (low << 24)
            low = product
        }
        return (high, low)
    }

    /// The hash as 32 lower-case hex digits, high half first.
    static func hex(of bytes: some Sequence<UInt8>) -> String {
        let (high, low) = hash(bytes)
        return paddedHex(high) + paddedHex(low)
    }

    private static func paddedHex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
