import Foundation
import TernBackend

/// Builds the cos/sin tables of a model's rotary embedding, the way transformers'
/// `modeling_rope_utils` computes them (inverse frequencies and products in fp32), with the
/// scaling variant's frequency adjustments and attention factor folded in.
public enum RotaryEmbedding {
    /// Inverse frequencies (rotaryDim / 2 of them) and the factor cos/sin are multiplied by.
    public static func inverseFrequencies(rotaryDim dim: Int, theta: Double, scaling: RopeScaling) -> (inv: [Float], attentionFactor: Float) {
        let base = Float(theta)
        let plain: [Float] = stride(from: 0, to: dim, by: 2).map { 1 / powf(base, Float($0) / Float(dim)) }
        switch scaling {
        case .none:
            return (plain, 1)
        case .linear(let factor):
            return (plain.map { $0 / Float(factor) }, 1)
        case let .llama3(factor, low, high, original):
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            let inv: [Float] = plain.map { f in
                let wavelength = 2 * Double.pi / Double(f)
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return f / Float(factor) }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return Float((1 - smooth) * Double(f) / factor + smooth * Double(f))
            }
            return (inv, 1)
        case let .yarn(factor, original, betaFast, betaSlow, mscale, mscaleAllDim, attentionFactor, truncate):
            func yarnMscale(_ scale: Double, _ m: Double) -> Double { scale <= 1 ? 1 : 0.1 * m * Foundation.log(scale) + 1 }
            let attention: Double
            if let attentionFactor { attention = attentionFactor }
            else if let mscale, let mscaleAllDim, mscale != 0, mscaleAllDim != 0 {
                attention = yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim)
            } else { attention = yarnMscale(factor, 1) }
            func correctionDim(_ rotations: Double) -> Double {
                Double(dim) * Foundation.log(Double(original) / (rotations * 2 * Double.pi)) / (2 * Foundation.log(theta))
            }
            var low = correctionDim(betaFast), high = correctionDim(betaSlow)
            if truncate { low = low.rounded(.down); high = high.rounded(.up) }
            low = max(low, 0); high = min(high, Double(dim - 1))
            if low == high { high += 0.001 }
            let inv: [Float] = plain.enumerated().map { i, f in
                let ramp = Float(min(max((Double(i) - low) / (high - low), 0), 1))
                let extrapolation = 1 - ramp
                let interpolated = 1 / (Float(factor) * (1 / f))
                return interpolated * (1 - extrapolation) + f * extrapolation
            }
            return (inv, Float(attention))
        }
    }

    /// Tables for positions `0..<maxPositions`, uploaded to `backend`.
    public static func table(rotaryDim: Int, theta: Double, scaling: RopeScaling, maxPositions: Int,
                             interleaved: Bool, backend: any Backend) throws -> RotaryTable {
        let (inv, factor) = inverseFrequencies(rotaryDim: rotaryDim, theta: theta, scaling: scaling)
        let half = rotaryDim / 2
        var cos = [Float](repeating: 0, count: maxPositions * half)
        var sin = cos
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Float(p) * inv[i]
                cos[p * half + i] = Foundation.cos(angle) * factor
                sin[p * half + i] = Foundation.sin(angle) * factor
            }
        }
        return RotaryTable(cos: try backend.upload(floats: cos, shape: [maxPositions, half], as: .f32),
                           sin: try backend.upload(floats: sin, shape: [maxPositions, half], as: .f32),
                           rotaryDim: rotaryDim, interleaved: interleaved)
    }
}
