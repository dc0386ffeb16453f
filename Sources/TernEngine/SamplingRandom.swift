/// Per-request random stream (SplitMix64): seeded from the request's seed and advanced exactly
/// once per sampled token, so a seeded request draws the same numbers alone or batched.
public struct SamplingRandom: Sendable, Hashable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The stream of choice `index` of a request with `seed` (choices must differ, yet reproduce).
    public init(seed: UInt64, choice index: Int) {
        var mixer = SamplingRandom(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        for _ in 0...index { _ = mixer.next() }
        state = index == 0 ? seed : mixer.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
