/// Constant-time comparison for the SMTP password check.
///
/// Compares UTF-8 bytes, not `String ==` (which applies Unicode canonical equivalence and
/// exits early): the password is whatever bytes the app sends, and timing must not reveal
/// how long a matching prefix is. The loop always runs over the longer input, so the only
/// thing timing can reveal is the larger of the two lengths, which is unavoidable without a
/// fixed-size digest and harmless here because the attacker controls one of them.
@inline(never)
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let left = Array(a.utf8)
    let right = Array(b.utf8)
    let length = max(left.count, right.count)
    // A length mismatch is folded into the accumulator instead of returning early.
    var difference = UInt(bitPattern: left.count ^ right.count)
    for position in 0..<length {
        // Past the end of the shorter input compare against 0; the lengths already differ,
        // so the result is false either way, and the loop keeps the same shape.
        let x: UInt8 = position < left.count ? left[position] : 0
        let y: UInt8 = position < right.count ? right[position] : 0
        difference |= UInt(x ^ y)
    }
    return difference == 0
}
