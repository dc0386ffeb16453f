import TernCore

/// Per-request random stream (SplitMix64): seeded from the request's seed and advanced exactly
/// once per sampled token, so a seeded request draws the same numbers alone or batched.
public struct SamplingRandom: Sendable, Hashable {
    private var generator: SplitMix64

    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// The stream of choice `index` of a request with `seed` (choices must differ, yet reproduce).
    public init(seed: UInt64, choice index: Int) {
        var mixer = SamplingRandom(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        for _ in 0...index { _ = mixer.next() }
        generator = SplitMix64(seed: index == 0 ? seed : mixer.next())
    }

    public mutating func next() -> UInt64 { generator.next() }

    /// Uniform in [0, 1), 53 bits.
    public mutating func nextUnit() -> Double { generator.unitDouble() }
}
