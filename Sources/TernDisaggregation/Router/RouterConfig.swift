/// `--policy`: how the router picks a worker.
public enum RoutingPolicyKind: String, Sendable, CaseIterable {
    /// The worker most likely to hold the request's prefix in its radix cache (approximate prefix
    /// table of what each worker was sent), unless load is badly unbalanced.
    case cacheAware = "cache_aware"
    case roundRobin = "round_robin"
    /// Fewest requests in flight through this router.
    case leastLoad = "least_load"
}

/// One upstream server.
public struct WorkerSpec: Sendable, Hashable {
    public enum Role: String, Sendable { case regular, prefill, decode }
    public var url: String
    public var role: Role
    /// Prefill workers: the bootstrap service's port (SGLang's default 8998).
    public var bootstrapPort: Int?

    public init(url: String, role: Role, bootstrapPort: Int? = nil) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.role = role
        self.bootstrapPort = bootstrapPort
    }

    /// The host part of `url` (where a prefill worker's bootstrap service is reached).
    public var host: String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<close]) }
        if let colon = rest.lastIndex(of: ":") { rest = rest[..<colon] }
        return String(rest)
    }
}

/// `tern router` settings (SGLang router's names).
public struct RouterConfig: Sendable {
    public var host: String
    /// 0: any free port (tests).
    public var port: Int
    public var workers: [WorkerSpec]
    public var policy: RoutingPolicyKind
    /// Cache-aware: route by prefix when the best match covers at least this fraction of the request.
    public var cacheThreshold: Double
    /// Cache-aware: treat load as unbalanced (and route by load) when max - min in-flight exceeds this...
    public var balanceAbsThreshold: Int
    /// ...and max exceeds min times this.
    public var balanceRelThreshold: Double
    public var healthCheckInterval: Double
    /// Consecutive failed checks before a worker is taken out of rotation.
    public var healthFailureThreshold: Int
    /// Seconds a health check may take before it counts as failed (`--health-check-timeout-secs`).
    public var healthCheckTimeout: Double
    /// Extra attempts on another worker (pair) for a request whose worker failed before answering.
    public var maxRetries: Int
    public var requestTimeout: Double
    public var maxRequestBodyBytes: Int
    /// Connections the router may hold open to one worker: one per request in flight to it.
    public var maxConnectionsPerWorker: Int

    public init(host: String = "127.0.0.1", port: Int = 30000, workers: [WorkerSpec], policy: RoutingPolicyKind = .cacheAware,
                cacheThreshold: Double = 0.5, balanceAbsThreshold: Int = 32, balanceRelThreshold: Double = 1.5,
                healthCheckInterval: Double = 5, healthFailureThreshold: Int = 2, healthCheckTimeout: Double = 5, maxRetries: Int = 2,
                requestTimeout: Double = 3600, maxRequestBodyBytes: Int = 32 << 20, maxConnectionsPerWorker: Int = 4096) {
        self.host = host
        self.port = port
        self.workers = workers
        self.policy = policy
        self.cacheThreshold = cacheThreshold
        self.balanceAbsThreshold = balanceAbsThreshold
        self.balanceRelThreshold = balanceRelThreshold
        self.healthCheckInterval = healthCheckInterval
        self.healthFailureThreshold = healthFailureThreshold
        self.healthCheckTimeout = healthCheckTimeout
        self.maxRetries = maxRetries
        self.requestTimeout = requestTimeout
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxConnectionsPerWorker = maxConnectionsPerWorker
    }

    /// Whether prefill and decode workers are given (PD mode).
    public var isDisaggregated: Bool { workers.contains { $0.role == .prefill } }
}
