import Foundation

/// Summary statistics of a sample, in the sample's unit. Percentiles interpolate linearly between
/// order statistics (numpy's default), so p50 of [1, 2, 3, 4] is 2.5.
public struct Distribution: Sendable, Equatable {
    public var count: Int
    public var mean: Double
    public var median: Double
    /// Population standard deviation (numpy's `std`).
    public var std: Double
    public var p90: Double
    public var p95: Double
    public var p99: Double
    public var max: Double

    public static let empty = Distribution(count: 0, mean: 0, median: 0, std: 0, p90: 0, p95: 0, p99: 0, max: 0)

    public init(count: Int, mean: Double, median: Double, std: Double, p90: Double, p95: Double, p99: Double, max: Double) {
        self.count = count
        self.mean = mean
        self.median = median
        self.std = std
        self.p90 = p90
        self.p95 = p95
        self.p99 = p99
        self.max = max
    }

    public init(_ values: [Double]) {
        guard !values.isEmpty else { self = .empty; return }
        let sorted = values.sorted()
        let n = Double(sorted.count)
        let mean = sorted.reduce(0, +) / n
        let variance = sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        self.init(count: sorted.count, mean: mean, median: Self.percentile(sorted, 50), std: variance.squareRoot(),
                  p90: Self.percentile(sorted, 90), p95: Self.percentile(sorted, 95), p99: Self.percentile(sorted, 99),
                  max: sorted[sorted.count - 1])
    }

    /// The p-th percentile of ascending `sorted` values.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? 0 }
        let rank = p / 100 * Double(sorted.count - 1)
        let low = Int(rank.rounded(.down))
        let high = Swift.min(low + 1, sorted.count - 1)
        let fraction = rank - Double(low)
        return sorted[low] + (sorted[high] - sorted[low]) * fraction
    }

    /// The same statistics scaled (seconds → milliseconds).
    public func scaled(by factor: Double) -> Distribution {
        Distribution(count: count, mean: mean * factor, median: median * factor, std: std * factor, p90: p90 * factor,
                     p95: p95 * factor, p99: p99 * factor, max: max * factor)
    }
}
