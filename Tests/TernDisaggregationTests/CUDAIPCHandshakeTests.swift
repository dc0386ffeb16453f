import Foundation
import Synchronization
import Testing
import TernBackend
import TernCore
@testable import TernDisaggregation
@testable import TernEngine
import TernServer

/// Stands in for the CUDA backend's device KV path: records what the prefill side asked it to write
/// into the decode side's pool, or fails on request.
final class RecordingDeviceTransfer: KVDeviceTransfer {
    struct Write: Sendable { var tokens: Int; var peer: KVMemoryDescriptor; var pages: [Int32] }
    let writes = Mutex<[Write]>([])
    let failWrites: Bool

    init(failWrites: Bool = false) { self.failWrites = failWrites }

    func gatherKV(_ cache: KVCache, tokens: Int, pages: [Int32]) throws -> DeviceKVRows { throw BackendError.unsupported("stand-in") }
    func scatterKV(_ rows: DeviceKVRows, into cache: KVCache, pages: [Int32]) throws { throw BackendError.unsupported("stand-in") }
    func downloadKV(_ rows: DeviceKVRows) throws -> (keys: [[UInt8]], values: [[UInt8]]) { throw BackendError.unsupported("stand-in") }
    func uploadKV(layout: KVCacheLayout, tokens: Int, keys: [[UInt8]], values: [[UInt8]]) throws -> DeviceKVRows {
        throw BackendError.unsupported("stand-in")
    }
    func exportKVMemory(_ cache: KVCache) throws -> KVMemoryDescriptor { throw BackendError.unsupported("stand-in") }
    func writeKV(_ rows: DeviceKVRows, toPeer peer: KVMemoryDescriptor, pages: [Int32]) throws {
        if failWrites { throw BackendError.invalidArgument("peer copy failed (stand-in)") }
        writes.withLock { $0.append(Write(tokens: rows.tokens, peer: peer, pages: pages)) }
    }
}

/// The cuda-ipc handshake over real sockets, without GPUs: the decode side registers its pages and
/// sends its pool's descriptor; the prefill side writes through its device path, then header, done, ack.
/// Timeouts are generous: the decode side's task may wait seconds for a cooperative thread while other
/// suites run long synchronous model steps on a 2-core machine; a success never waits for them.
@Suite(.serialized)
struct CUDAIPCHandshakeTests {
    static let layout = KVCacheLayout(layers: 2, kvHeads: 2, keyDim: 4, valueDim: 4, dtype: .bf16)
    static let memory = KVMemoryDescriptor(handle: Array(repeating: 7, count: 64), device: "0000:19:00.0", layout: layout,
                                           pageSize: 4, keyOffsets: [0, 4096], valueOffsets: [2048, 6144],
                                           keyRowStride: 16, valueRowStride: 16)

    func export(_ transfer: any KVDeviceTransfer, tokens: Int) -> PrefillExport {
        let rows = DeviceKVRows(layout: Self.layout, tokens: tokens,
                                buffer: Tensor(storage: TensorStorage(byteCount: 0, host: nil, deviceAddress: 0x1000), shape: [0], dtype: .u8))
        return PrefillExport(requestID: "r", promptTokens: tokens, cachedTokens: 4, firstToken: 42,
                             firstLogprob: TokenLogprob(token: 42, logprob: -0.5, topTokens: [], topLogprobs: []), kv: .device(rows, transfer))
    }

    func pair(failWrites: Bool = false) throws -> (prefill: TCPKVTransfer, decode: TCPKVTransfer, device: RecordingDeviceTransfer, port: Int) {
        let device = RecordingDeviceTransfer(failWrites: failWrites)
        let prefill = TCPKVTransfer(payload: .cudaIPC), decode = TCPKVTransfer(payload: .cudaIPC)
        prefill.attachDevice(device, memory: Self.memory)
        decode.attachDevice(RecordingDeviceTransfer(), memory: Self.memory)
        return (prefill, decode, device, try prefill.startBootstrap(host: "127.0.0.1", port: 0))
    }

    @Test func prefillWritesIntoTheRegisteredPagesAndTheDecodeSideGetsNoRows() async throws {
        let (prefill, decode, device, port) = try pair()
        defer { prefill.shutdown(); decode.shutdown() }
        let reservation = KVReservation(id: "r", tokens: 10, pageSize: 4, pages: [5, 2, 9])
        let received = Task { try await decode.receive(room: 77, from: BootstrapInfo(host: "127.0.0.1", port: port, room: 77),
                                            reservation: reservation, layout: Self.layout, timeout: 300, handle: TransferHandle()) }
        try await prefill.send(export(device, tokens: 10), room: 77, timeout: 300)
        let got = try await received.value
        #expect(got.kv == nil)
        #expect(got.firstToken == 42 && got.cachedTokens == 4 && got.promptTokens == 10 && got.firstLogprob?.logprob == -0.5)
        let writes = device.writes.withLock { $0 }
        #expect(writes.count == 1)
        #expect(writes.first?.pages == [5, 2, 9] && writes.first?.peer == Self.memory && writes.first?.tokens == 10)
    }

    @Test func aFailedPeerCopyFailsBothSides() async throws {
        let (prefill, decode, device, port) = try pair(failWrites: true)
        defer { prefill.shutdown(); decode.shutdown() }
        let reservation = KVReservation(id: "r", tokens: 6, pageSize: 4, pages: [1, 3])
        let received = Task { try await decode.receive(room: 5, from: BootstrapInfo(host: "127.0.0.1", port: port, room: 5),
                                            reservation: reservation, layout: Self.layout, timeout: 300, handle: TransferHandle()) }
        await #expect(throws: KVTransferError.self) { try await prefill.send(export(device, tokens: 6), room: 5, timeout: 300) }
        await #expect(throws: KVTransferError.self) { _ = try await received.value }
    }

    @Test func hostRowsCannotGoByCUDAIPC() async throws {
        let (prefill, decode, _, port) = try pair()
        defer { prefill.shutdown(); decode.shutdown() }
        let rows = KVRows(layout: Self.layout, tokens: 3, keys: [], values: [])
        let hostExport = PrefillExport(requestID: "r", promptTokens: 3, cachedTokens: 0, firstToken: 1, firstLogprob: nil, kv: .host(rows))
        let received = Task { try await decode.receive(room: 9, from: BootstrapInfo(host: "127.0.0.1", port: port, room: 9),
                                            reservation: KVReservation(id: "r", tokens: 3, pageSize: 4, pages: [0]),
                                            layout: Self.layout, timeout: 300, handle: TransferHandle()) }
        await #expect(throws: KVTransferError.self) { try await prefill.send(hostExport, room: 9, timeout: 300) }
        await #expect(throws: KVTransferError.self) { _ = try await received.value }
    }

    @Test func aPrefillSideThatComesAfterTheDecodeSideGaveUpDoesNotWrite() async throws {
        let (prefill, decode, device, port) = try pair()
        defer { prefill.shutdown(); decode.shutdown() }
        let reservation = KVReservation(id: "r", tokens: 10, pageSize: 4, pages: [5, 2, 9])
        let start = monotonicSeconds()
        do {
            _ = try await decode.receive(room: 31, from: BootstrapInfo(host: "127.0.0.1", port: port, room: 31),
                                         reservation: reservation, layout: Self.layout, timeout: 0.3, handle: TransferHandle())
            Issue.record("the receive should have timed out")
        } catch let held as KVPagesStillWritable {
            // The prefill side was told where the pages are and never answered: they stay reserved past writeBy.
            #expect(held.releaseAfter >= start + 0.3 + TCPKVTransfer.writeMargin)
        }
        // The registration and peerMemory frame are still buffered on the prefill side; it must refuse to copy.
        await #expect(throws: KVTransferError.self) { try await prefill.send(export(device, tokens: 10), room: 31, timeout: 10) }
        #expect(device.writes.withLock { $0.isEmpty })
    }

    @Test func anErrorFromThePrefillSideFreesThePagesAtOnce() async throws {
        let (prefill, decode, device, port) = try pair(failWrites: true)
        defer { prefill.shutdown(); decode.shutdown() }
        let received = Task { try await decode.receive(room: 6, from: BootstrapInfo(host: "127.0.0.1", port: port, room: 6),
                                            reservation: KVReservation(id: "r", tokens: 6, pageSize: 4, pages: [1, 3]),
                                            layout: Self.layout, timeout: 300, handle: TransferHandle()) }
        await #expect(throws: KVTransferError.self) { try await prefill.send(export(device, tokens: 6), room: 6, timeout: 300) }
        do { _ = try await received.value; Issue.record("the receive should fail") } catch {
            #expect(error is KVTransferError, "\(error)")
        }
    }

    @Test func thePeerMemoryFrameCarriesTheWriteDeadlineAndIsRefusedWithout() throws {
        let frame = PeerMemoryFrame.make(Self.memory, writeBy: 1234.5)
        let (memory, writeBy) = try PeerMemoryFrame.parse(frame)
        #expect(memory == Self.memory && writeBy == 1234.5)
        #expect(throws: KVTransferError.self) { try PeerMemoryFrame.parse(Frame(kind: .peerMemory, payload: Array(frame.payload.dropLast(8)))) }
    }
}
