import Foundation
import Testing
import TernBackend
import TernCore
import TernEngine
import TernModels
@testable import TernDisaggregation

@Suite struct WireFormatTests {
    @Test func registrationSurvivesTheWire() throws {
        let layout = KVCacheLayout(layers: 3, kvHeads: 2, keyDim: 8, valueDim: 8, dtype: .f32)
        let sent = Registration(room: 0xDEAD_BEEF_1234, promptTokens: 37, layout: layout, pageSize: 16, pages: [4, 9, 2])
        #expect(try Registration(sent.frame) == sent)
    }

    @Test func headerCarriesFirstTokenAndTopLogprobs() throws {
        let lp = TokenLogprob(token: 17, logprob: -0.25, topTokens: [17, 3], topLogprobs: [-0.25, -1.5])
        let sent = PrefillHeader(room: 7, promptTokens: 12, cachedTokens: 8, firstToken: 17, logprob: lp)
        #expect(try PrefillHeader(sent.frame) == sent)
        let bare = PrefillHeader(room: 7, promptTokens: 12, cachedTokens: 0, firstToken: 5, logprob: nil)
        #expect(try PrefillHeader(bare.frame) == bare)
    }

    @Test func truncatedFramesAreRefused() {
        var frame = Registration(room: 1, promptTokens: 2, layout: KVCacheLayout(layers: 1, kvHeads: 1, keyDim: 2, valueDim: 2, dtype: .f32),
                                 pageSize: 16, pages: [1]).frame
        frame.payload.removeLast(3)
        #expect(throws: KVTransferError.self) { try Registration(frame) }
        #expect(throws: KVTransferError.self) { try PrefillHeader(frame) }
    }

    @Test func peerMemoryFrameCarriesTheWholeDescriptor() throws {
        let layout = KVCacheLayout(layers: 2, kvHeads: 8, keyDim: 128, valueDim: 128, dtype: .bf16)
        let sent = KVMemoryDescriptor(handle: (0..<64).map { UInt8($0 * 3 & 0xFF) }, device: "0000:19:00.0", layout: layout, pageSize: 16,
                                      keyOffsets: [0, 1 << 33], valueOffsets: [4096, (1 << 33) + 4096], keyRowStride: 2048, valueRowStride: 2048)
        #expect(try PeerMemoryFrame.parse(PeerMemoryFrame.make(sent, writeBy: 99.25)) == (sent, 99.25))
        var cut = PeerMemoryFrame.make(sent, writeBy: 99.25)
        cut.payload.removeLast(5)
        #expect(throws: KVTransferError.self) { try PeerMemoryFrame.parse(cut) }
    }

    @Test func slotRunsMergeConsecutivePagesOnly() {
        let runs = kvSlotRuns(tokens: 37, pages: [4, 5, 9], pageSize: 16)
        #expect(runs.map(\.token) == [0, 32] && runs.map(\.slot) == [64, 144] && runs.map(\.count) == [32, 5])
        #expect(kvSlotRuns(tokens: 3, pages: [2], pageSize: 16).map(\.count) == [3])
    }

    @Test func cudaIPCTransferRefusesAHostKVCache() throws {
        let model = try ModelLoader.load(directory: modelDirectory, backend: CPUBackend())
        let engine = try Engine(model: model, config: EngineConfig(maxTotalTokens: 256, pageSize: 16))
        defer { engine.shutdown() }
        #expect(engine.kvDeviceTransfer == nil)
        let transfer = TCPKVTransfer(payload: .cudaIPC)
        #expect(transfer.name == "cuda-ipc")
        #expect(throws: KVTransferError.self) { try transfer.attach(engine: engine) }
        #expect(TransferBackendKind(rawValue: "cuda-ipc")?.make().name == "cuda-ipc")
        // The TCP transfer needs nothing of the engine.
        try TCPKVTransfer().attach(engine: engine)
    }

    @Test func layerFramesKeepKeysAndValuesApart() throws {
        let frame = LayerFrame.make(layer: 4, keys: [1, 2, 3], values: [9, 8])
        let parsed = try LayerFrame.parse(frame)
        #expect(parsed.layer == 4 && parsed.keys == [1, 2, 3] && parsed.values == [9, 8])
    }
}

@Suite struct RequestTextTests {
    @Test func bootstrapFieldsAreInsertedIntoTheObject() throws {
        let body = Array(#"  {"prompt": "hi", "max_tokens": 3}"#.utf8)
        let out = try #require(RequestText.injectBootstrap(body, host: "10.0.0.2", port: 8998, room: 42))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
        #expect(object["bootstrap_host"] as? String == "10.0.0.2")
        #expect(object["bootstrap_port"] as? Int == 8998)
        #expect(object["bootstrap_room"] as? Int == 42)
        #expect(object["prompt"] as? String == "hi")
        let empty = try #require(RequestText.injectBootstrap(Array("{}".utf8), host: "h", port: 1, room: 2))
        #expect((try JSONSerialization.jsonObject(with: Data(empty)) as? [String: Any])?.count == 3)
        #expect(RequestText.injectBootstrap(Array("[1]".utf8), host: "h", port: 1, room: 2) == nil)
    }

    @Test func routingKeyReadsPromptsMessagesAndIDs() {
        #expect(RequestText.routingKey(Array(#"{"prompt": "abc"}"#.utf8)) == Array("abc".utf8))
        #expect(RequestText.routingKey(Array(#"{"text": ["first", "second"]}"#.utf8)) == Array("first".utf8))
        #expect(RequestText.routingKey(Array(#"{"input_ids": [1, 22, 3]}"#.utf8)) == Array("1,22,3".utf8))
        let chat = RequestText.routingKey(Array(#"{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}"#.utf8))
        #expect(chat == Array("<system>S<user>U".utf8))
        #expect(RequestText.routingKey(Array("not json".utf8)).isEmpty)
    }

    @Test func workerHostComesFromItsURL() {
        #expect(WorkerSpec(url: "http://10.1.2.3:30000/", role: .prefill).host == "10.1.2.3")
        #expect(WorkerSpec(url: "http://[::1]:30000", role: .prefill).host == "::1")
        #expect(WorkerSpec(url: "http://node-7", role: .decode).host == "node-7")
    }
}

@Suite struct PrefixMatchTableTests {
    @Test func matchCountsLeadingBlocksEachWorkerWasSent() {
        let table = PrefixMatchTable(workers: 3)
        let shared = String(repeating: "system prompt ", count: 8)  // 112 bytes = 7 blocks
        table.insert(Array((shared + "question one").utf8), worker: 1)
        table.insert(Array("something else entirely, longer than a block".utf8), worker: 2)
        let matched = table.matchedBytes(Array((shared + "question two").utf8), workers: 3)
        #expect(matched[0] == 0)
        #expect(matched[1] == 112)
        #expect(matched[2] == 0)
        #expect(table.sizes()[1] == 8 && table.sizes()[0] == 0)
    }

    @Test func fullTableForgetsOldestPrefixes() {
        let table = PrefixMatchTable(workers: 1, capacity: 4)
        table.insert(Array(String(repeating: "a", count: 64).utf8), worker: 0)  // 4 blocks
        table.insert(Array(String(repeating: "b", count: 64).utf8), worker: 0)  // evicts the a-blocks
        #expect(table.matchedBytes(Array(String(repeating: "a", count: 64).utf8), workers: 1)[0] == 0)
        #expect(table.matchedBytes(Array(String(repeating: "b", count: 64).utf8), workers: 1)[0] == 64)
    }
}
