/// splitmix64 (Steele, Lea, Flood 2014): a tiny, fast generator whose streams from different
/// seeds are well decorrelated and whose sequence depends only on the seed, on every platform.
/// Tern uses it wherever reproducibility matters and cryptographic quality does not: dummy
/// weights, seeded sampling, benchmark datasets and arrival times, test inputs.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The splitmix64 output function: a bijective avalanche of 64 bits.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func unitDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
