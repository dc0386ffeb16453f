import Foundation
import TernBackend
import TernModels

/// The serving engine: an `EngineCore` driven by its own thread, fed through a thread-safe inbox.
/// The model step never waits on callers; callers never touch engine state.
///
///     let engine = try Engine(model: model, config: EngineConfig())
///     for try await delta in engine.submit(GenerateRequest(id: "a", promptTokens: ids)) { ... }
public final class Engine: Sendable {
    private let inbox = Inbox()
    private let published = PublishedMetrics()
    private let done = DispatchSemaphore(value: 0)
    /// The shape of this engine's KV cache (what transferred KV must match).
    public let kvLayout: KVCacheLayout
    /// The KV memory and the backend's device KV path, for GPU transfers (PD disaggregation).
    let kvCache: KVCache
    let deviceKV: (any KVDeviceTransfer)?

    /// How the KV pool was sized.
    public let memoryPlan: KVMemoryPlan

    /// - Parameter executor: runs the model and samples (default: plain forward, host sampling);
    ///   a GPU executor captures its CUDA graphs here, before the first request.
    public init(model: any LanguageModel, config: EngineConfig, eosTokenIDs: [Int]? = nil,
                textDecoder: (any TextDecoderFactory)? = nil, executor: (any StepExecutor)? = nil) throws {
        let core = try EngineCore(model: model, config: config, eosTokenIDs: eosTokenIDs, textDecoder: textDecoder,
                                  executor: executor)
        kvLayout = core.kvCache.layout
        memoryPlan = core.memoryPlan
        kvCache = core.kvCache
        deviceKV = core.deviceKVTransfer
        published.store(core.metrics())
        // The core moves to the loop thread and is only touched there.
        let handoff = CoreHandoff(core: core)
        let inbox = inbox, published = published, done = done
        let thread = Thread {
            Engine.loop(handoff.core, inbox: inbox, published: published)
            done.signal()
        }
        thread.name = "tern-engine"
        thread.start()
    }

    /// Queues a request. The stream yields one delta per generated token per choice and ends when all
    /// choices finished; it throws `EngineError` when the request is refused or fails. Cancelling the
    /// consuming task aborts the request.
    public func submit(_ request: GenerateRequest) -> AsyncThrowingStream<OutputDelta, Error> {
        let (stream, continuation) = AsyncThrowingStream<OutputDelta, Error>.makeStream()
        let id = request.id
        let inbox = inbox
        continuation.onTermination = { termination in
            if case .cancelled = termination { inbox.post(.abort(id)) }
        }
        inbox.post(.submit(request, { event in
            switch event {
            case .delta(let delta): continuation.yield(delta)
            case .finished: continuation.finish()
            case .failed(let error): continuation.finish(throwing: error)
            }
        }))
        return stream
    }

    /// Queues a request with a callback instead of a stream (called on the engine thread; keep it short).
    public func submit(_ request: GenerateRequest, sink: @escaping @Sendable (StreamEvent) -> Void) {
        inbox.post(.submit(request, sink))
    }

    /// Ends a request; its choices finish with reason `abort`.
    public func abort(_ id: String) { inbox.post(.abort(id)) }

    /// Runs `body` on the loop thread between steps (engine extensions such as the KV transfer hooks).
    /// Returns false once the engine has shut down (`body` never runs).
    @discardableResult
    func perform(_ body: @escaping @Sendable (EngineCore) -> Void) -> Bool { inbox.post(.perform(body)) }

    /// The metrics as of the last step.
    public func metrics() -> EngineMetrics { published.load() }

    /// Aborts everything still running and stops the loop thread; waits for it to exit.
    public func shutdown() {
        guard inbox.post(.shutdown) else { return }
        done.wait()
    }

    private static func loop(_ core: EngineCore, inbox: Inbox, published: PublishedMetrics) {
        while true {
            let commands = inbox.take(wait: !core.hasWork)
            for command in commands {
                switch command {
                case let .submit(request, sink): core.add(request, sink: sink)
                case let .abort(id): core.abort(id)
                case let .perform(body):
                    core.flushOutput()
                    body(core)
                case .shutdown:
                    core.abortAll()
                    published.store(core.metrics())
                    inbox.close()
                    return
                }
            }
            core.step()
            published.store(core.metrics())
        }
    }
}

private struct CoreHandoff: @unchecked Sendable {
    let core: EngineCore
}

private enum Command: Sendable {
    case submit(GenerateRequest, @Sendable (StreamEvent) -> Void)
    case abort(String)
    case perform(@Sendable (EngineCore) -> Void)
    case shutdown
}

/// Commands from any thread to the loop; the loop sleeps here when it has no work.
private final class Inbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var commands: [Command] = []
    private var closed = false

    /// Returns false once the engine has shut down (the command is dropped; a submit fails).
    @discardableResult
    func post(_ command: Command) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else {
            if case let .submit(_, sink) = command { sink(.failed(.shutDown)) }
            return false
        }
        commands.append(command)
        condition.signal()
        return true
    }

    func take(wait: Bool) -> [Command] {
        condition.lock()
        defer { condition.unlock() }
        while wait && commands.isEmpty { condition.wait() }
        let taken = commands
        commands.removeAll()
        return taken
    }

    func close() {
        condition.lock()
        closed = true
        let leftover = commands
        commands.removeAll()
        condition.unlock()
        for case let .submit(_, sink) in leftover { sink(.failed(.shutDown)) }
    }
}

private final class PublishedMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var value = EngineMetrics()

    func store(_ metrics: EngineMetrics) { lock.withLock { value = metrics } }
    func load() -> EngineMetrics { lock.withLock { value } }
}
