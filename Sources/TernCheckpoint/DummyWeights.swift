import Dispatch
import TernCore

/// Deterministic random weights for `--load-format dummy`: any (name, shape, dtype) a model asks
/// for is generated on the spot, with no files.
///
/// The value of every element depends only on the global seed, the tensor name and the element's
/// index, never on request order or thread count: the tensor is cut into fixed chunks of
/// `chunkElements`, and each chunk draws from a splitmix64 stream seeded by (seed, name, chunk).
///
/// Values, chosen so a random model stays numerically tame:
/// - names ending `norm.weight` (RMSNorm/LayerNorm gains: `input_layernorm.weight`,
///   `model.norm.weight`, `q_norm.weight`, `kv_a_layernorm.weight`, ...) → 1;
/// - names ending `norm.bias` and `e_score_correction_bias` (MoE routing bias) → 0;
/// - quantization scales, names ending `scale`, `scale_inv` or `scale_2`
///   (`weight_scale_inv`, `weight_scale`, `weight_scale_2`, `input_scale`, `k_scale`, ...)
///   → positive: `scaleCenter` × uniform(0.75, 1.25) in float dtypes, uniform(0.75, 1.25) as fp8
///   (NVFP4 per-block scales);
/// - everything else → uniform(-amplitude, amplitude) (std = amplitude / √3 ≈ 0.02 by default).
///   FP8 tensors hold those values divided by `scaleCenter` (so codes use the fp8 range and,
///   times a dummy scale of ~1/448, dequantize back to about ±amplitude);
/// - integer dtypes (packed FP4/int4 weights, indices) → uniformly random bits.
public final class DummyWeights: WeightSource {
    public let seed: UInt64
    public let amplitude: Float
    /// Typical value of dummy scale tensors (1/448: the fp8 e4m3 maximum maps to 1).
    public let scaleCenter: Float
    /// Elements per independently seeded chunk; fixed so results do not depend on threads.
    public static let chunkElements = 1 << 16

    public init(seed: UInt64 = 0, amplitude: Float = 0.02 * 1.7320508, scaleCenter: Float = 1.0 / 448) {
        self.seed = seed
        self.amplitude = amplitude
        self.scaleCenter = scaleCenter
    }

    public var origin: String { "dummy" }

    public func contains(_ name: String) -> Bool { true }

    /// What kind of values a tensor named `name` gets.
    public enum ValueRule: Equatable, Sendable {
        case constant(Float)
        case positiveScale
        case uniform
    }

    public static func rule(for name: String) -> ValueRule {
        if name.hasSuffix("norm.weight") { return .constant(1) }
        if name.hasSuffix("norm.bias") || name.hasSuffix("e_score_correction_bias") { return .constant(0) }
        if name.hasSuffix("scale") || name.hasSuffix("scale_inv") || name.hasSuffix("scale_2") { return .positiveScale }
        return .uniform
    }

    public func tensor(_ name: String, shape: [Int], dtype: DType) throws -> HostTensor {
        let count = shape.reduce(1, *)
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape) for \(name)")
        let storage = OwnedBytes(count: count * dtype.byteSize)
        fill(storage.pointer, count: count, dtype: dtype, name: name)
        return HostTensor(name: name, dtype: dtype, shape: shape, data: storage.buffer, owner: storage)
    }

    // MARK: - Generation

    private func fill(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType, name: String) {
        let rule = Self.rule(for: name)
        let nameSeed = SplitMix64.mix(seed ^ stableHash(name))
        let chunks = (count + Self.chunkElements - 1) / Self.chunkElements
        // Affine map from a uniform u in [0, 1): value = offset + width × u.
        let (offset, width): (Float, Float)
        switch rule {
        case let .constant(value): (offset, width) = (value, 0)
        case .positiveScale:
            let center: Float = dtype == .f8e4m3 ? 1 : scaleCenter
            (offset, width) = (0.75 * center, 0.5 * center)
        case .uniform:
            let bound = dtype == .f8e4m3 ? amplitude / scaleCenter : amplitude
            (offset, width) = (-bound, 2 * bound)
        }
        let address = UInt(bitPattern: pointer)
        let work: @Sendable (Int) -> Void = { chunk in
            let start = chunk * Self.chunkElements
            let end = min(start + Self.chunkElements, count)
            var rng = SplitMix64(seed: nameSeed ^ SplitMix64.mix(UInt64(chunk) &+ 0x5851_F42D_4C95_7F2D))
            let base = UnsafeMutableRawPointer(bitPattern: address)!
            Self.fillChunk(base, start..<end, dtype: dtype, offset: offset, width: width, rng: &rng)
        }
        if chunks <= 1 {
            if chunks == 1 { work(0) }
        } else {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: work)
        }
    }

    /// Writes elements `range` of a `dtype` buffer. Each 64-bit draw supplies two 24-bit uniforms.
    private static func fillChunk(
        _ base: UnsafeMutableRawPointer, _ range: Range<Int>, dtype: DType, offset: Float, width: Float,
        rng: inout SplitMix64
    ) {
        let unit: Float = 1.0 / 16_777_216  // 2^-24
        @inline(__always) func uniforms(_ bits: UInt64) -> (Float, Float) {
            (offset + width * (Float(UInt32(truncatingIfNeeded: bits) >> 8) * unit),
             offset + width * (Float(UInt32(truncatingIfNeeded: bits >> 40)) * unit))
        }
        switch dtype {
        case .f32:
            let out = base.assumingMemoryBound(to: Float.self)
            fillPairs(range, rng: &rng) { index, bits in
                let (a, b) = uniforms(bits)
                out[index] = a
                if index + 1 < range.upperBound { out[index + 1] = b }
            }
        case .bf16, .f16:
            let out = base.assumingMemoryBound(to: UInt16.self)
            let isBF16 = dtype == .bf16
            fillPairs(range, rng: &rng) { index, bits in
                let (a, b) = uniforms(bits)
                out[index] = isBF16 ? floatToBF16(a) : floatToF16(a)
                if index + 1 < range.upperBound { out[index + 1] = isBF16 ? floatToBF16(b) : floatToF16(b) }
            }
        case .f8e4m3:
            let out = base.assumingMemoryBound(to: UInt8.self)
            fillPairs(range, rng: &rng) { index, bits in
                let (a, b) = uniforms(bits)
                out[index] = encodeE4M3Fast(a)
                if index + 1 < range.upperBound { out[index + 1] = encodeE4M3Fast(b) }
            }
        case .i8, .u8, .i32, .i64:
            // Random bits, 8 bytes per draw; the tail of the last draw is dropped.
            let size = dtype.byteSize
            let out = base.assumingMemoryBound(to: UInt8.self)
            var byte = range.lowerBound * size
            let endByte = range.upperBound * size
            while byte < endByte {
                var bits = rng.next()
                for _ in 0..<min(8, endByte - byte) {
                    out[byte] = UInt8(truncatingIfNeeded: bits)
                    bits >>= 8
                    byte += 1
                }
            }
        }
    }

    /// Calls `body(index, bits)` for every second index of `range`, one 64-bit draw per pair.
    @inline(__always)
    private static func fillPairs(_ range: Range<Int>, rng: inout SplitMix64, _ body: (Int, UInt64) -> Void) {
        var index = range.lowerBound
        while index < range.upperBound {
            body(index, rng.next())
            index += 2
        }
    }
}
