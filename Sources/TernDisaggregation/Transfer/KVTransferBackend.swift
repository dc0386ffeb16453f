import Foundation
import Synchronization
import TernBackend
import TernEngine
import TernServer

/// What the decode side got from the prefill side.
public struct ReceivedPrefill: Sendable {
    public var promptTokens: Int
    public var cachedTokens: Int
    public var firstToken: Int
    public var firstLogprob: TokenLogprob?
    /// Rows to write into the reserved pages; nil when the backend wrote them itself (RDMA, NCCL, CUDA IPC).
    public var kv: KVRows?
}

/// Lets the decode side give up on a transfer (the client went away): the backend closes its connection.
public final class TransferHandle: Sendable {
    private let state = Mutex<(cancelled: Bool, onCancel: (@Sendable () -> Void)?)>((false, nil))

    public init() {}

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    public func cancel() {
        let action = state.withLock { s -> (@Sendable () -> Void)? in
            s.cancelled = true
            defer { s.onCancel = nil }
            return s.onCancel
        }
        action?()
    }

    /// Runs `action` on cancellation (at once when already cancelled).
    func onCancel(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.cancelled { return true }
            s.onCancel = action
            return false
        }
        if now { action() }
    }
}

/// Moves one request's prompt KV from a prefill server to a decode server, SGLang style: the decode
/// server reserves pages and registers them for the request's bootstrap room with the prefill
/// server's bootstrap service; the prefill server, once it has computed the prompt, sends the KV
/// (and first token) to the registered destination and frees its side.
///
/// Conformers: `TCPKVTransfer` in two modes: `tcp` (framed binary protocol over TCP; any backend, any
/// network; the bytes go through host memory) and `cuda-ipc` (same handshake on TCP; the decode server
/// sends a CUDA IPC handle of its KV pool and the prefill server copies its pages GPU to GPU into the
/// reserved pages: one node, same or different GPUs). Room is left for NCCL send/recv and RDMA engines
/// (Mooncake, NIXL) writing into the page ids the registration carries. GPU paths return
/// `ReceivedPrefill.kv == nil`.
public protocol KVTransferBackend: Sendable {
    /// The `--disaggregation-transfer-backend` name.
    var name: String { get }

    // Prefill side.
    /// Starts the bootstrap service (decode servers register there); returns the bound port.
    func startBootstrap(host: String, port: Int) throws -> Int
    /// Sends `export` to the decode server registered (or registering within `timeout` seconds) for `room`.
    /// Returns once the decode side confirmed the KV is in place; throws `KVTransferError` otherwise.
    func send(_ export: PrefillExport, room: UInt64, timeout: Double) async throws
    /// Tells the decode server of `room` that no KV will come (the prefill failed or was aborted).
    func abandon(room: UInt64, reason: String)

    // Decode side.
    /// Registers `reservation` for `room` at the prefill server's bootstrap service and waits for the KV.
    func receive(room: UInt64, from bootstrap: BootstrapInfo, reservation: KVReservation, layout: KVCacheLayout,
                 timeout: Double, handle: TransferHandle) async throws -> ReceivedPrefill

    /// Stops the bootstrap service and closes every connection.
    func shutdown()

    /// Called once with the server's engine before any request (GPU transports read its device KV path).
    func attach(engine: Engine) throws
}

extension KVTransferBackend {
    public func attach(engine: Engine) throws {}
}

/// Runs blocking socket work on its own thread (never on the cooperative pool).
func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = name
        thread.start()
    }
}
