import TernCore
import TernEngine

/// Where a PD pair meets (SGLang's `bootstrap_host` / `bootstrap_port` / `bootstrap_room` request
/// fields, which the router adds): the prefill server's bootstrap address and a room id both
/// servers of the pair were given for this request.
public struct BootstrapInfo: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var room: UInt64

    public init(host: String, port: Int, room: UInt64) {
        self.host = host
        self.port = port
        self.room = room
    }

    /// The fields from a request body; nil when the request carries none (a unified server's request).
    init?(_ fields: RequestFields) throws(APIError) {
        guard fields.has("bootstrap_room") else { return nil }
        guard let room = fields.values["bootstrap_room"].flatMap(Self.roomValue) else {
            throw .invalid("'bootstrap_room' must be a non-negative integer.", param: "bootstrap_room")
        }
        guard let host = try fields.string("bootstrap_host"), let port = try fields.int("bootstrap_port", in: 1...65535) else {
            throw .invalid("'bootstrap_room' needs 'bootstrap_host' and 'bootstrap_port'.", param: "bootstrap_host")
        }
        self.init(host: host, port: port, room: room)
    }

    private static func roomValue(_ value: JSONValue) -> UInt64? {
        switch value {
        case .string(let s): return UInt64(s)
        default: return value.int.flatMap { $0 >= 0 ? UInt64($0) : nil }
        }
    }
}

/// Runs one engine request for the HTTP layer. A unified server runs it on its engine; a PD prefill
/// or decode server (TernDisaggregation) wraps the engine with the KV handshake and transfer.
public protocol PromptRunner: Sendable {
    /// Output goes to `sink` exactly as `Engine.submit(_:sink:)` delivers it.
    func submit(_ request: GenerateRequest, bootstrap: BootstrapInfo?, sink: @escaping @Sendable (StreamEvent) -> Void)
    func abort(_ id: String)
    /// Checks a request before it is accepted (a PD server refuses what it cannot split, such as n > 1).
    func check(_ requests: [GenerateRequest], bootstrap: BootstrapInfo?) throws(APIError)
}

/// The unified server: the engine itself.
public struct EngineRunner: PromptRunner {
    public let engine: Engine

    public init(engine: Engine) { self.engine = engine }

    public func submit(_ request: GenerateRequest, bootstrap: BootstrapInfo?, sink: @escaping @Sendable (StreamEvent) -> Void) {
        engine.submit(request, sink: sink)
    }

    public func abort(_ id: String) { engine.abort(id) }

    public func check(_ requests: [GenerateRequest], bootstrap: BootstrapInfo?) throws(APIError) {}
}

extension ModelService {
    /// Reads the bootstrap fields of a request body, lets the runner check the prompts, and attaches them.
    func attachBootstrap(_ fields: RequestFields, to prompts: [PreparedPrompt]) throws(APIError) -> [PreparedPrompt] {
        let bootstrap = try BootstrapInfo(fields)
        try runner.check(prompts.map { GenerateRequest(id: "", promptTokens: $0.ids, sampling: $0.params) }, bootstrap: bootstrap)
        return prompts.map { var p = $0; p.bootstrap = bootstrap; return p }
    }
}
