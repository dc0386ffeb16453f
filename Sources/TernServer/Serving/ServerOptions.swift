/// Settings of the HTTP layer (the engine's are `EngineConfig`).
public struct ServerOptions: Sendable {
    public var host: String
    /// 0: any free port (tests); the bound port is reported by `TernServer.run(onListening:)`.
    public var port: Int
    /// Name clients put in `model`; nil: the model directory's last path component.
    public var servedModelName: String?
    /// Larger request bodies are refused with 413.
    public var maxRequestBodyBytes: Int
    /// Default `max_tokens` of /v1/completions when a request gives none (OpenAI's legacy default).
    public var defaultCompletionTokens: Int
    /// Default `max_new_tokens` of /generate (SGLang's default).
    public var defaultGenerateTokens: Int
    /// How long in-flight requests may run after SIGTERM/SIGINT before they are aborted.
    public var gracefulShutdownSeconds: Double
    /// SGLang's `--skip-tokenizer-init`: no tokenizer.json is read; requests carry token ids and
    /// responses carry ids (their text is empty).
    public var skipTokenizerInit: Bool

    public init(host: String = "127.0.0.1", port: Int = 30000, servedModelName: String? = nil,
                maxRequestBodyBytes: Int = 32 << 20, defaultCompletionTokens: Int = 16, defaultGenerateTokens: Int = 128,
                gracefulShutdownSeconds: Double = 30, skipTokenizerInit: Bool = false) {
        self.host = host
        self.port = port
        self.servedModelName = servedModelName
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.defaultCompletionTokens = defaultCompletionTokens
        self.defaultGenerateTokens = defaultGenerateTokens
        self.gracefulShutdownSeconds = gracefulShutdownSeconds
        self.skipTokenizerInit = skipTokenizerInit
    }
}
