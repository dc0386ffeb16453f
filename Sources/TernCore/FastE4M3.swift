/// fp32 → FP8 e4m3fn by bit manipulation, round to nearest even, saturating at ±448; NaN → 0x7F.
/// Gives the same codes as TernCore's table-search `encodeE4M3` but is fast enough for
/// generating hundreds of millions of values.
@inlinable @inline(__always)
public func encodeE4M3Fast(_ value: Float) -> UInt8 {
    let bits = value.bitPattern
    let sign = UInt8(truncatingIfNeeded: (bits >> 24) & 0x80)
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude > 0x7F80_0000 { return 0x7F }  // NaN
    if magnitude >= 0x43E0_0000 { return sign | 0x7E }  // >= 448 (and infinity) saturates
    if magnitude < 0x3C80_0000 {
        // Below 2^-6, the smallest normal: subnormal codes are multiples of 2^-9. Scaling by 2^9
        // and rounding to nearest even gives the code directly (8 rounds up to the first normal, 0x08).
        let scaled = Float(bitPattern: magnitude) * 512
        return sign | UInt8(scaled.rounded(.toNearestOrEven))
    }
    // Rebias the exponent from 127 to 7 and keep 3 mantissa bits, rounding the 20 dropped bits to
    // nearest even; a carry out of the mantissa correctly bumps the exponent.
    let rebased = magnitude &- (120 << 23)
    let rounded = (rebased &+ 0x7_FFFF &+ ((rebased >> 20) & 1)) >> 20
    return sign | UInt8(min(rounded, 0x7E))
}
