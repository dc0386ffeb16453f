import Foundation
import TernCore

/// Datasets and arrival times repeat exactly across runs and platforms: they draw from splitmix64.
public typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    /// Uniform integer in `range` (multiply-shift; the bias is below 2⁻³² for the ranges used here).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next().multipliedFullWidth(by: span).high)
    }

    /// Exponential with the given rate: gaps between Poisson arrivals.
    public mutating func exponential(rate: Double) -> Double { -log1p(-unitDouble()) / rate }
}
