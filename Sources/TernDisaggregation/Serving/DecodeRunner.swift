import Foundation
import Synchronization
import TernEngine
import TernServer

/// A PD decode server's requests: reserve KV pages for the prompt, register them with the prefill
/// server's bootstrap service for the request's room, wait for the KV and first token, then decode
/// here and stream. A transfer that fails or times out frees the pages and fails the request (503);
/// with cuda-ipc, pages the prefill server may still write into are freed only after its write deadline.
/// Requests without bootstrap fields run as on a unified server.
public final class DecodeRunner: PromptRunner {
    public let engine: Engine
    public let transfer: any KVTransferBackend
    /// Seconds to wait for KV room and for the transfer.
    public let timeout: Double
    private let inFlight = Mutex<[String: TransferHandle]>([:])

    public init(engine: Engine, transfer: any KVTransferBackend, timeout: Double) {
        self.engine = engine
        self.transfer = transfer
        self.timeout = timeout
    }

    public func submit(_ request: GenerateRequest, bootstrap: BootstrapInfo?, sink: @escaping @Sendable (StreamEvent) -> Void) {
        guard let bootstrap else { return engine.submit(request, sink: sink) }
        let handle = TransferHandle()
        inFlight.withLock { $0[request.id] = handle }
        Task { await self.run(request, bootstrap: bootstrap, handle: handle, sink: sink) }
    }

    private func run(_ request: GenerateRequest, bootstrap: BootstrapInfo, handle: TransferHandle,
                     sink: @escaping @Sendable (StreamEvent) -> Void) async {
        let id = request.id
        defer { inFlight.withLock { _ = $0.removeValue(forKey: id) } }
        let deadline = monotonicSeconds() + timeout
        // 1. Pages for the prompt; when the pool is full, wait for running requests to free some.
        var reservation: KVReservation?
        while reservation == nil {
            if handle.isCancelled { return sink(.failed(.transferFailed("cancelled"))) }
            switch await engine.reserveKV(id: id, tokens: request.promptTokens.count) {
            case .success(let r)?: reservation = r
            case .failure(let error)?:
                // Nothing is sent to the prefill side: its engine pages are already free and its send times out.
                return sink(.failed(error))
            case nil:
                guard monotonicSeconds() < deadline else {
                    return sink(.failed(.transferFailed("no KV room on the decode server within \(timeout) s")))
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        // 2. The transfer.
        do {
            let received = try await transfer.receive(room: bootstrap.room, from: bootstrap, reservation: reservation!,
                                                      layout: engine.kvLayout, timeout: max(0.1, deadline - monotonicSeconds()),
                                                      handle: handle)
            let start = PrefilledStart(reservation: reservation!, firstToken: received.firstToken, firstLogprob: received.firstLogprob,
                                       cachedTokens: received.cachedTokens, kv: received.kv)
            engine.submitPrefilled(request, start: start, sink: sink)
            // An abort that raced the hand-over reached the engine before the request did: repeat it.
            if handle.isCancelled { engine.abort(id) }
        } catch let held as KVPagesStillWritable {
            // cuda-ipc: the prefill server may still copy into the pages until `releaseAfter`; freeing them
            // now could hand them to another request before that copy lands. Fail now, free later.
            let engine = engine
            let wait = max(0, held.releaseAfter - monotonicSeconds())
            Task.detached {
                try? await Task.sleep(for: .seconds(wait))
                engine.releaseKV(id: id)
            }
            sink(.failed(.transferFailed("\(held)")))
        } catch {
            engine.releaseKV(id: id)
            sink(.failed(.transferFailed("\(error)")))
        }
    }

    public func abort(_ id: String) {
        inFlight.withLock { $0[id] }?.cancel()
        engine.abort(id)
    }

    public func check(_ requests: [GenerateRequest], bootstrap: BootstrapInfo?) throws(APIError) {
        try checkDisaggregated(requests, bootstrap: bootstrap)
    }
}
