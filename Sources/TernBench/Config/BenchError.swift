/// Why a benchmark could not run.
public enum BenchError: Error, CustomStringConvertible, Equatable {
    case badDataset(String)
    case badOption(String)
    case server(String)

    public var description: String {
        switch self {
        case .badDataset(let m): "dataset: \(m)"
        case .badOption(let m): m
        case .server(let m): "server: \(m)"
        }
    }
}
