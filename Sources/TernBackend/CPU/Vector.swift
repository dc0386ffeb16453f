import TernCore

// Small SIMD helpers shared by the CPU kernels.

/// Widens 8 bf16 values to fp32 (bf16 is the top half of an fp32 pattern).
@inline(__always)
func widenBF16(_ bits: SIMD8<UInt16>) -> SIMD8<Float> {
    let wide = SIMD8<UInt32>(truncatingIfNeeded: bits) &<< 16
    return unsafeBitCast(wide, to: SIMD8<Float>.self)
}

/// Converts `count` elements of `dtype` at `source` into fp32 at `destination`.
@inline(__always)
/// Every e4m3fn code's value (FP8 KV caches decode through it).
let e4m3Values: [Float] = (0..<256).map { decodeE4M3(UInt8($0)) }

func convertToFloat(_ source: UnsafeRawPointer, _ dtype: DType, count: Int, into destination: UnsafeMutablePointer<Float>) {
    switch dtype {
    case .f32:
        destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
    case .bf16:
        let src = source.assumingMemoryBound(to: UInt16.self)
        var i = 0
        while i + 8 <= count {
            let bits = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<UInt16>.self)
            UnsafeMutableRawPointer(destination + i).storeBytes(of: widenBF16(bits), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { destination[i] = bf16ToFloat(src[i]); i += 1 }
    case .f16:
        let src = source.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { destination[i] = f16ToFloat(src[i]) }
    case .f8e4m3:
        let src = source.assumingMemoryBound(to: UInt8.self)
        e4m3Values.withUnsafeBufferPointer { table in
            for i in 0..<count { destination[i] = table[Int(src[i])] }
        }
    default:
        for i in 0..<count { destination[i] = loadAsFloat(source, dtype, i) }
    }
}

/// Dot product of two fp32 vectors.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= count {
        acc0.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                        UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
        acc1.addProduct(UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self),
                        UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self))
        i += 16
    }
    var sum = (acc0 + acc1).sum()
    while i < count { sum += a[i] * b[i]; i += 1 }
    return sum
}

/// y += alpha * x
@inline(__always)
func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    let a = SIMD8<Float>(repeating: alpha)
    var i = 0
    while i + 8 <= count {
        var v = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        v.addProduct(a, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
        UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { y[i] += alpha * x[i]; i += 1 }
}
