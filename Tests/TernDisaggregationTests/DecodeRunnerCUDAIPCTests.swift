import Foundation
import Testing
import TernBackend
import TernCore
@testable import TernDisaggregation
@testable import TernEngine
import TernModels
import TernServer

/// The decode server's side of the cuda-ipc write deadline with a real engine (CPU) and a prefill
/// server that takes registrations but never answers: the reserved pages must not go back to the
/// pool while the prefill server may still copy into them, and must go back afterwards.
@Suite(.serialized)
struct DecodeRunnerCUDAIPCTests {
    func freePages(_ engine: Engine) async -> Int {
        await withCheckedContinuation { continuation in
            let posted = engine.perform { core in continuation.resume(returning: core.freePages) }
            if !posted { continuation.resume(returning: -1) }
        }
    }

    @Test func pagesOfAFailedCUDAIPCReceiveStayReservedUntilTheWriteDeadlinePassed() async throws {
        let model = try ModelLoader.load(directory: modelDirectory, backend: CPUBackend())
        let engine = try Engine(model: model, config: EngineConfig(maxTotalTokens: 256, pageSize: 16))
        let prefill = TCPKVTransfer(payload: .cudaIPC), decode = TCPKVTransfer(payload: .cudaIPC)
        decode.attachDevice(RecordingDeviceTransfer(), memory: CUDAIPCHandshakeTests.memory)
        let port = try prefill.startBootstrap(host: "127.0.0.1", port: 0)  // registers, never sends
        defer { prefill.shutdown(); decode.shutdown(); engine.shutdown() }
        let before = await freePages(engine)
        let timeout = 0.4
        let runner = DecodeRunner(engine: engine, transfer: decode, timeout: timeout)
        let (events, continuation) = AsyncStream.makeStream(of: StreamEvent.self)
        let submitted = monotonicSeconds()
        runner.submit(GenerateRequest(id: "held", promptTokens: Array(1...40)),
                      bootstrap: BootstrapInfo(host: "127.0.0.1", port: port, room: 3)) { continuation.yield($0) }
        var failed = false
        for await event in events { if case .failed = event { failed = true; break } }
        #expect(failed)
        // writeBy ≥ submitted + timeout, and the pages are freed no earlier than writeBy + margin.
        let earliestRelease = submitted + timeout + TCPKVTransfer.writeMargin
        if monotonicSeconds() < earliestRelease {
            #expect(await freePages(engine) == before - 3, "the pages went back while the prefill side could still write")
        }
        var now = before - 3
        let giveUp = monotonicSeconds() + 20
        while now != before && monotonicSeconds() < giveUp {
            try await Task.sleep(for: .milliseconds(50))
            now = await freePages(engine)
        }
        #expect(now == before, "the held pages were never released")
        #expect(monotonicSeconds() >= earliestRelease)
    }
}
