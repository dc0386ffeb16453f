import Synchronization
import TernEngine
import TernServer

/// A PD prefill server's requests: the engine computes the prompt and samples the first token
/// (`max_new_tokens` forced to 1; its prefix cache works as usual), exports the prompt's KV, frees
/// its pages, and the transfer ships the KV to the decode server registered for the request's room.
/// The HTTP response finishes only once the decode side confirmed the KV arrived (or fails with 503).
/// Requests without bootstrap fields run as on a unified server.
public final class PrefillRunner: PromptRunner {
    public let engine: Engine
    public let transfer: any KVTransferBackend
    /// Seconds the prefill side waits for the decode side to register and take the KV.
    public let timeout: Double

    public init(engine: Engine, transfer: any KVTransferBackend, timeout: Double) {
        self.engine = engine
        self.transfer = transfer
        self.timeout = timeout
    }

    public func submit(_ request: GenerateRequest, bootstrap: BootstrapInfo?, sink: @escaping @Sendable (StreamEvent) -> Void) {
        guard let bootstrap else { return engine.submit(request, sink: sink) }
        let room = bootstrap.room
        let transfer = transfer, timeout = timeout
        let outcome = PrefillOutcome(sink: sink)
        var prefill = request
        prefill.sampling.maxNewTokens = 1
        prefill.kvExport = { result in
            switch result {
            case .success(let export):
                outcome.exported()
                Task {
                    do {
                        try await transfer.send(export, room: room, timeout: timeout)
                        outcome.transferEnded(nil)
                    } catch {
                        outcome.transferEnded(.transferFailed("\(error)"))
                    }
                }
            case .failure(let error):
                transfer.abandon(room: room, reason: error.description)
                outcome.transferEnded(error)
            }
        }
        engine.submit(prefill) { event in
            switch event {
            case .delta(let delta): sink(.delta(delta))
            case .finished:
                // Aborted or refused before the first token: the decode side must not wait for KV.
                if outcome.engineFinished() { transfer.abandon(room: room, reason: "the prefill request ended without output") }
            case .failed(let error):
                transfer.abandon(room: room, reason: error.description)
                outcome.engineFailed(error)
            }
        }
    }

    public func abort(_ id: String) { engine.abort(id) }

    public func check(_ requests: [GenerateRequest], bootstrap: BootstrapInfo?) throws(APIError) {
        try checkDisaggregated(requests, bootstrap: bootstrap)
    }
}

/// The end of a prefill request: its engine output and its transfer, whichever ends last decides.
private final class PrefillOutcome: Sendable {
    private struct State {
        var exported = false
        var engineDone = false
        var transferDone = false
        var error: EngineError?
        var reported = false
    }
    private let state = Mutex(State())
    private let sink: @Sendable (StreamEvent) -> Void

    init(sink: @escaping @Sendable (StreamEvent) -> Void) { self.sink = sink }

    func exported() { state.withLock { $0.exported = true } }

    /// Returns true when the request finished without ever exporting (nothing will be sent).
    func engineFinished() -> Bool {
        let neverExported = state.withLock { s -> Bool in
            s.engineDone = true
            if !s.exported { s.transferDone = true }
            return !s.exported
        }
        report()
        return neverExported
    }

    func engineFailed(_ error: EngineError) {
        state.withLock { s in
            s.engineDone = true
            s.transferDone = true
            if s.error == nil { s.error = error }
        }
        report()
    }

    func transferEnded(_ error: EngineError?) {
        state.withLock { s in
            s.transferDone = true
            if s.error == nil { s.error = error }
        }
        report()
    }

    private func report() {
        let event = state.withLock { s -> StreamEvent? in
            guard s.engineDone && s.transferDone && !s.reported else { return nil }
            s.reported = true
            return s.error.map { .failed($0) } ?? .finished
        }
        if let event { sink(event) }
    }
}

/// PD servers take one prompt with one choice per request: one room, one KV transfer.
func checkDisaggregated(_ requests: [GenerateRequest], bootstrap: BootstrapInfo?) throws(APIError) {
    guard bootstrap != nil else { return }
    guard requests.count == 1 else {
        throw .invalid("A disaggregated (prefill/decode) request carries one prompt; send batches as separate requests.",
                       param: "prompt")
    }
    guard requests[0].sampling.n == 1 else {
        throw .invalid("A disaggregated (prefill/decode) request needs n = 1.", param: "n")
    }
}
