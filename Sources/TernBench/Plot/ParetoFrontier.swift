/// A point on a throughput–interactivity plot.
public struct PlotPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double
    /// Short annotation drawn beside the point (the concurrency, "c64").
    public var note: String

    public init(x: Double, y: Double, note: String = "") {
        self.x = x
        self.y = y
        self.note = note
    }
}

public enum ParetoFrontier {
    /// Indices of the points no other point beats on both axes (more is better on each), by ascending x.
    /// A point equal to another on both axes is kept once (the first).
    public static func indices(of points: [PlotPoint]) -> [Int] {
        let order = points.indices.sorted { (points[$0].x, -points[$0].y, $0) < (points[$1].x, -points[$1].y, $1) }
        // Walk from the largest x down; a point is on the frontier if its y beats every point to its right.
        var frontier: [Int] = []
        var bestY = -Double.infinity
        for i in order.reversed() {
            let p = points[i]
            if p.y > bestY {
                frontier.append(i)
                bestY = p.y
            } else if p.y == bestY, let last = frontier.last, points[last].x == p.x, i < last {
                frontier[frontier.count - 1] = i  // exact duplicate: keep the first
            }
        }
        return frontier.reversed()
    }
}
