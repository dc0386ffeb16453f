import Foundation

/// Builds plot series from JSON-lines result records: one series per file, or per `label` when a
/// file holds several labels.
public enum PlotSeriesLoader {
    public static func series(records: [[String: Any]], fileLabel: String, xField: String, yField: String) -> [PlotSeries] {
        var order: [String] = []
        var byLabel: [String: [PlotPoint]] = [:]
        for record in records {
            guard let x = number(record[xField]), let y = number(record[yField]) else { continue }
            let label = record["label"] as? String ?? fileLabel
            let note = (record["max_concurrency"] as? Int).map { "c\($0)" } ?? ""
            if byLabel[label] == nil { order.append(label) }
            byLabel[label, default: []].append(PlotPoint(x: x, y: y, note: note))
        }
        return order.map { PlotSeries(label: $0, points: byLabel[$0]!) }
    }

    public static func series(files: [String], xField: String, yField: String) throws -> [PlotSeries] {
        try files.flatMap { path in
            let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            return series(records: try RunRecord.read(path), fileLabel: stem, xField: xField, yField: yField)
        }
    }

    private static func number(_ value: Any?) -> Double? {
        switch value {
        case let v as Double: return v.isFinite ? v : nil
        case let v as Int: return Double(v)
        case let v as NSNumber: return v.doubleValue
        default: return nil
        }
    }
}
