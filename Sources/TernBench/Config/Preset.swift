/// InferenceMAX's fixed-length workloads: input/output lengths with lengths drawn from [0.8·L, L].
public struct Preset: Sendable, Equatable {
    public var name: String
    public var inputLength: Int
    public var outputLength: Int
    public var rangeRatio: Double { 0.8 }

    public static let all: [Preset] = [
        Preset(name: "1k1k", inputLength: 1024, outputLength: 1024),
        Preset(name: "1k8k", inputLength: 1024, outputLength: 8192),
        Preset(name: "8k1k", inputLength: 8192, outputLength: 1024),
    ]

    public static func named(_ name: String) -> Preset? { all.first { $0.name == name } }

    /// InferenceMAX's sizing: ten requests per unit of concurrency, two warm-ups per unit.
    public static func numPrompts(concurrency: Int) -> Int { 10 * concurrency }
    public static func warmupRequests(concurrency: Int) -> Int { 2 * concurrency }
}
