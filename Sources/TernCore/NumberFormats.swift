// Conversions between the storage formats of checkpoints and fp32, the CPU's compute type.

/// bf16 is the top half of an fp32 bit pattern.
@inlinable @inline(__always)
public func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Round-to-nearest-even, as torch does when casting fp32 to bf16. NaN stays NaN.
@inlinable @inline(__always)
public func floatToBF16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
    let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

@inlinable @inline(__always)
public func f16ToFloat(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

@inlinable @inline(__always)
public func floatToF16(_ value: Float) -> UInt16 {
    Float16(value).bitPattern
}

/// FP8 e4m3fn (OCP): 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities, 0x7F/0xFF are NaN.
public let fp8E4M3Table: [Float] = (0..<256).map { decodeE4M3(UInt8($0)) }

@inlinable
public func decodeE4M3(_ byte: UInt8) -> Float {
    let sign: Float = (byte & 0x80) != 0 ? -1 : 1
    let exponent = Int((byte >> 3) & 0x0F)
    let mantissa = Float(byte & 0x07)
    if exponent == 0x0F && (byte & 0x07) == 0x07 { return .nan }
    if exponent == 0 { return sign * mantissa / 8 * Float(sign: .plus, exponent: -6, significand: 1) }
    return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
}

/// Nearest e4m3fn value (round to nearest even), saturating at ±448.
public func encodeE4M3(_ value: Float) -> UInt8 {
    if value.isNaN { return 0x7F }
    let sign: UInt8 = value.sign == .minus ? 0x80 : 0
    let magnitude = min(abs(value), 448)
    // Search the 127 non-negative finite codes; the table is monotonic in the code.
    var best: UInt8 = 0
    var bestError = Float.infinity
    for code in 0..<0x7F {
        let candidate = fp8E4M3Table[code]
        let error = abs(candidate - magnitude)
        if error < bestError || (error == bestError && code & 1 == 0) {
            best = UInt8(code)
            bestError = error
        }
    }
    return sign | best
}

/// Reads element `index` of a raw buffer of `dtype` as fp32.
@inlinable
public func loadAsFloat(_ base: UnsafeRawPointer, _ dtype: DType, _ index: Int) -> Float {
    switch dtype {
    case .f32: return base.load(fromByteOffset: index * 4, as: Float.self)
    case .bf16: return bf16ToFloat(base.load(fromByteOffset: index * 2, as: UInt16.self))
    case .f16: return f16ToFloat(base.load(fromByteOffset: index * 2, as: UInt16.self))
    case .f8e4m3: return decodeE4M3(base.load(fromByteOffset: index, as: UInt8.self))
    case .i8: return Float(base.load(fromByteOffset: index, as: Int8.self))
    case .u8: return Float(base.load(fromByteOffset: index, as: UInt8.self))
    case .i32: return Float(base.load(fromByteOffset: index * 4, as: Int32.self))
    case .i64: return Float(base.load(fromByteOffset: index * 8, as: Int64.self))
    }
}
