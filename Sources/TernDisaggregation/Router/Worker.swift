import Synchronization

/// A worker as the router tracks it: health from periodic checks and failed requests, load as the
/// requests in flight through this router, and counters for /metrics.
public final class Worker: Sendable {
    public let spec: WorkerSpec
    /// Position in the router's list (the prefix table's bit).
    public let index: Int
    private struct State {
        var healthy = true
        var failedChecks = 0
        var inFlight = 0
        var requests = 0
        var failures = 0
    }
    private let state = Mutex(State())

    init(spec: WorkerSpec, index: Int) {
        self.spec = spec
        self.index = index
    }

    public var url: String { spec.url }
    public var isHealthy: Bool { state.withLock { $0.healthy } }
    public var inFlight: Int { state.withLock { $0.inFlight } }
    public var requestCount: Int { state.withLock { $0.requests } }
    public var failureCount: Int { state.withLock { $0.failures } }

    func began() { state.withLock { $0.inFlight += 1; $0.requests += 1 } }
    func ended() { state.withLock { $0.inFlight -= 1 } }

    /// A request could not reach the worker: out of rotation until a health check passes.
    func connectionFailed() { state.withLock { $0.healthy = false; $0.failures += 1 } }
    func requestFailed() { state.withLock { $0.failures += 1 } }

    /// Returns true when the health changed.
    @discardableResult
    func checked(ok: Bool, threshold: Int) -> Bool {
        state.withLock { s in
            let was = s.healthy
            if ok {
                s.failedChecks = 0
                s.healthy = true
            } else {
                s.failedChecks += 1
                if s.failedChecks >= threshold { s.healthy = false }
            }
            return was != s.healthy
        }
    }
}
