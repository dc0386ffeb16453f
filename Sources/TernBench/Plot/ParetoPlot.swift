import Foundation

/// One line on the plot: a result file or a label within one.
public struct PlotSeries: Sendable, Equatable {
    public var label: String
    public var points: [PlotPoint]

    public init(label: String, points: [PlotPoint]) {
        self.label = label
        self.points = points
    }
}

/// An SVG scatter plot of throughput per GPU against interactivity, each series with its Pareto
/// frontier drawn as a line through its filled points; dominated points are hollow.
public struct ParetoPlot: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]

    public init(title: String, xLabel: String = "Interactivity, median (tok/s/user)",
                yLabel: String = "Output throughput per GPU (tok/s/GPU)", series: [PlotSeries]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    static let width = 960.0, height = 600.0
    static let left = 90.0, right = 230.0, top = 60.0, bottom = 70.0

    public func svg() -> String {
        let all = series.flatMap(\.points)
        let xAxis = Axis.nice(max: (all.map(\.x).max() ?? 1) * 1.05)  // headroom for the point labels
        let yAxis = Axis.nice(max: (all.map(\.y).max() ?? 1) * 1.05)
        let plotW = Self.width - Self.left - Self.right
        let plotH = Self.height - Self.top - Self.bottom
        func px(_ x: Double) -> Double { Self.left + x / xAxis.max * plotW }
        func py(_ y: Double) -> Double { Self.top + plotH - y / yAxis.max * plotH }

        var s = SVGText(width: Self.width, height: Self.height)
        s.add("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        s.text(title, x: Self.left + plotW / 2, y: 30, size: 18, anchor: "middle", weight: "bold")
        // Grid, ticks and tick labels.
        for tick in xAxis.ticks {
            let x = px(tick)
            s.line(x, Self.top, x, Self.top + plotH, stroke: "#e5e5e5")
            s.text(Axis.format(tick), x: x, y: Self.top + plotH + 18, size: 12, anchor: "middle")
        }
        for tick in yAxis.ticks {
            let y = py(tick)
            s.line(Self.left, y, Self.left + plotW, y, stroke: "#e5e5e5")
            s.text(Axis.format(tick), x: Self.left - 8, y: y + 4, size: 12, anchor: "end")
        }
        s.add("<rect x=\"\(f(Self.left))\" y=\"\(f(Self.top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>")
        s.text(xLabel, x: Self.left + plotW / 2, y: Self.height - 22, size: 14, anchor: "middle")
        s.add("<text x=\"22\" y=\"\(f(Self.top + plotH / 2))\" font-size=\"14\" text-anchor=\"middle\" "
              + "transform=\"rotate(-90 22 \(f(Self.top + plotH / 2)))\">\(SVGText.escape(yLabel))</text>")

        for (k, line) in series.enumerated() {
            let color = Self.palette[k % Self.palette.count]
            let frontier = ParetoFrontier.indices(of: line.points)
            let path = frontier.map { "\(f(px(line.points[$0].x))),\(f(py(line.points[$0].y)))" }.joined(separator: " ")
            s.add("<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>")
            for (i, p) in line.points.enumerated() {
                let onFrontier = frontier.contains(i)
                s.add("<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"5\" stroke=\"\(color)\" stroke-width=\"1.5\" "
                      + "fill=\"\(onFrontier ? color : "white")\"/>")
                if !p.note.isEmpty { s.text(p.note, x: px(p.x) + 7, y: py(p.y) - 7, size: 10, anchor: "start", fill: color) }
            }
            // Legend entry.
            let ly = Self.top + 12 + Double(k) * 22
            let lx = Self.width - Self.right + 20
            s.line(lx, ly, lx + 24, ly, stroke: color, width: 2)
            s.add("<circle cx=\"\(f(lx + 12))\" cy=\"\(f(ly))\" r=\"4\" fill=\"\(color)\"/>")
            s.text(line.label, x: lx + 32, y: ly + 4, size: 12, anchor: "start")
        }
        let noteY = Self.top + 12 + Double(series.count) * 22 + 10
        s.text("line, filled: Pareto frontier", x: Self.width - Self.right + 20, y: noteY, size: 11, anchor: "start", fill: "#555")
        s.text("hollow: dominated point", x: Self.width - Self.right + 20, y: noteY + 16, size: 11, anchor: "start", fill: "#555")
        return s.finish()
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
}

/// A linear axis from 0 with round tick steps (1, 2 or 5 × 10ⁿ).
struct Axis: Equatable {
    var max: Double
    var ticks: [Double]

    static func nice(max value: Double, targetTicks: Int = 6) -> Axis {
        let top = value > 0 && value.isFinite ? value : 1
        let rough = top / Double(targetTicks)
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let axisMax = (top / step).rounded(.up) * step
        let count = Int((axisMax / step).rounded())
        return Axis(max: axisMax, ticks: (0...count).map { Double($0) * step })
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int(v)) }
        return String(format: "%g", v)
    }
}

/// Accumulates SVG elements.
struct SVGText {
    private var body: [String] = []
    private let width: Double, height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    mutating func add(_ element: String) { body.append(element) }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1) {
        add(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"%.1f\"/>",
                   x1, y1, x2, y2, stroke, width))
    }

    mutating func text(_ content: String, x: Double, y: Double, size: Int, anchor: String, weight: String = "normal",
                       fill: String = "#222") {
        add(String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%@\" font-weight=\"%@\" fill=\"%@\">",
                   x, y, size, anchor, weight, fill) + Self.escape(content) + "</text>")
    }

    func finish() -> String {
        let open = String(format: "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                          + "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">", width, height, width, height)
        return ([open] + body + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
