import Testing
import TernCheckpoint
import TernCore

@Test func fastFP8EncoderAgreesWithTheReferenceEncoderEverywhere() {
    // Every code's value, the midpoints between neighbours (ties to even), and a dense sweep.
    var samples: [Float] = []
    let finite = (0..<0x7F).map { fp8E4M3Table[$0] }
    samples += finite
    samples += zip(finite, finite.dropFirst()).map { ($0 + $1) / 2 }
    samples += stride(from: Float(0), through: 520, by: 0.0371)
    samples += stride(from: Float(0), through: 0.02, by: 0.00001)
    samples += [Float.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 464, 463.99, 480]
    for magnitude in samples {
        for value in [magnitude, -magnitude] {
            #expect(encodeE4M3Fast(value) == encodeE4M3(value), "value \(value)")
        }
    }
    #expect(encodeE4M3Fast(.nan) == 0x7F)
}
