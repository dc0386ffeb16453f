import Foundation
import Synchronization
import TernBackend
import TernEngine
import TernServer

/// Failures the TCP backend can be told to simulate (tests of the failure handling).
public struct TransferFaults: Sendable {
    /// Prefill side: close the connection after sending this many layers (a prefill server dying mid-transfer).
    public var senderDropsAfterLayers: Int?
    /// Prefill side: stop sending, connection open, after this many layers (a stalled prefill server).
    public var senderStallsAfterLayers: Int?
    /// Decode side: close the connection once the header arrived (a decode server dying mid-transfer).
    public var receiverDropsAfterHeader = false

    public init(senderDropsAfterLayers: Int? = nil, senderStallsAfterLayers: Int? = nil, receiverDropsAfterHeader: Bool = false) {
        self.senderDropsAfterLayers = senderDropsAfterLayers
        self.senderStallsAfterLayers = senderStallsAfterLayers
        self.receiverDropsAfterHeader = receiverDropsAfterHeader
    }
}

/// KV transfer over TCP: the bootstrap connection the decode side opens to register its pages is
/// also the one the KV comes back on (see `KVWireFormat.swift` for the frames). Works between any
/// two backends and machines; the bytes go through host memory.
///
/// In `cudaIPC` mode the handshake is the same, but the KV bytes never touch the host: the decode
/// side follows its registration with a `peerMemory` frame (a CUDA IPC handle of its KV pool and
/// where each layer sits in it); the prefill side opens that pool once, copies the prompt's rows
/// from its device export straight into the reserved pages (cuMemcpyDtoDAsync, peer copies across
/// GPUs), then sends the header and `done`; the decode side acks as before.
///
/// cuda-ipc write deadline: the `peerMemory` frame carries the decode side's receive deadline
/// ("write-by", CLOCK_MONOTONIC, common to both servers on the node). The prefill side starts a
/// copy only before writeBy − `writeMargin`; a decode side whose receive fails before it heard back
/// (header or error) keeps the pages reserved until writeBy + `writeMargin` (`KVPagesStillWritable`),
/// so no copy can land in pages that were given to another request.
public final class TCPKVTransfer: KVTransferBackend {
    /// Seconds kept free on both sides of the cuda-ipc write-by time: covers the copy itself (a device
    /// to device copy of one prompt's KV, milliseconds) and scheduling delays between the deadline
    /// check and the copy's start; a copy begun before writeBy − margin ends long before writeBy + margin.
    public static let writeMargin: Double = 2
    /// How the KV bytes travel.
    public enum Payload: Sendable {
        /// Layer frames on the TCP connection (host memory on both sides).
        case tcp
        /// GPU to GPU through CUDA IPC (both servers on one node, KV caches on GPUs).
        case cudaIPC
    }

    public let payload: Payload
    public var name: String { payload == .tcp ? "tcp" : "cuda-ipc" }
    private let faultState = Mutex(TransferFaults())
    private let rendezvous: Rendezvous
    private let listener = Mutex<TCPListener?>(nil)
    /// cuda-ipc: this server's device KV path and (decode side) its pool's descriptor.
    private let device = Mutex<(transfer: (any KVDeviceTransfer)?, memory: KVMemoryDescriptor?)>((nil, nil))

    /// - Parameter registrationTTL: how long an unclaimed registration or failure notice is kept.
    public init(payload: Payload = .tcp, registrationTTL: Double = 600) {
        self.payload = payload
        rendezvous = Rendezvous(ttl: registrationTTL)
    }

    public func attach(engine: Engine) throws {
        guard payload == .cudaIPC else { return }
        guard let transfer = engine.kvDeviceTransfer else {
            throw KVTransferError.protocolViolation("--disaggregation-transfer-backend cuda-ipc needs the KV cache on a GPU (--device cuda)")
        }
        attachDevice(transfer, memory: try engine.kvMemoryDescriptor())
    }

    /// The device KV path without an engine (tests of the cuda-ipc handshake with a stand-in transfer).
    func attachDevice(_ transfer: any KVDeviceTransfer, memory: KVMemoryDescriptor) {
        device.withLock { $0 = (transfer, memory) }
    }

    public var faults: TransferFaults {
        get { faultState.withLock { $0 } }
        set { faultState.withLock { $0 = newValue } }
    }

    // MARK: prefill side

    public func startBootstrap(host: String, port: Int) throws -> Int {
        let server = try TCPListener(host: host, port: port)
        listener.withLock { $0 = server }
        let rendezvous = rendezvous
        let thread = Thread {
            while let connection = server.accept() {
                let reader = Thread {
                    // A registration is small; a peer that cannot send one in 10 s is not a decode server.
                    do {
                        let frame = try Frame.read(from: connection, deadline: monotonicSeconds() + 10)
                        rendezvous.offer(connection, try Registration(frame))
                    } catch {
                        connection.close()
                    }
                }
                reader.name = "tern-bootstrap-conn"
                reader.start()
            }
        }
        thread.name = "tern-bootstrap"
        thread.start()
        return server.port
    }

    public func send(_ export: PrefillExport, room: UInt64, timeout: Double) async throws {
        let rendezvous = rendezvous
        let faults = faults
        let payload = payload
        try await onThread("tern-kv-send") {
            let deadline = monotonicSeconds() + timeout
            guard let (socket, registration) = rendezvous.take(room: room, deadline: deadline) else {
                throw KVTransferError.timedOut("no decode server registered for room \(room) within \(timeout) s")
            }
            defer { socket.close() }
            guard registration.layout == export.kv.layout, registration.promptTokens == export.promptTokens else {
                let message = "decode expects \(registration.promptTokens) tokens of \(registration.layout), "
                    + "prefill has \(export.promptTokens) of \(export.kv.layout)"
                try? Frame.error(message).write(to: socket, deadline: deadline)
                throw KVTransferError.protocolViolation(message)
            }
            let header = PrefillHeader(room: room, promptTokens: export.promptTokens, cachedTokens: export.cachedTokens,
                                       firstToken: export.firstToken, logprob: export.firstLogprob).frame
            if payload == .cudaIPC {
                // The decode side's pool, then the rows straight into its reserved pages.
                let (peer, writeBy) = try PeerMemoryFrame.parse(try Frame.read(from: socket, deadline: deadline))
                guard case .device(let rows, let transfer) = export.kv else {
                    let message = "cuda-ipc: the prefill server's KV cache is not on a GPU (--device cuda)"
                    try? Frame.error(message).write(to: socket, deadline: deadline)
                    throw KVTransferError.protocolViolation(message)
                }
                // The decode side may have given up and will free the pages after writeBy + margin: never start late.
                let left = writeBy - monotonicSeconds()
                guard left > Self.writeMargin else {
                    let message = "cuda-ipc: the decode server's write deadline is \(left) s away (need > \(Self.writeMargin) s); not writing"
                    try? Frame.error(message).write(to: socket, deadline: deadline)
                    throw KVTransferError.timedOut(message)
                }
                do {
                    try transfer.writeKV(rows, toPeer: peer, pages: registration.pages)
                } catch {
                    let message = "cuda-ipc copy into the decode server's pages failed: \(error)"
                    try? Frame.error(message).write(to: socket, deadline: deadline)
                    throw KVTransferError.protocolViolation(message)
                }
                try header.write(to: socket, deadline: deadline)
                try Frame(kind: .done, payload: []).write(to: socket, deadline: deadline)
                let ack = try Frame.read(from: socket, deadline: deadline)
                guard ack.kind == .ack else { throw KVTransferError.protocolViolation("expected ack, got \(ack.kind)") }
                return
            }
            try header.write(to: socket, deadline: deadline)
            let kv: KVRows
            do { kv = try export.kv.hostRows() } catch {
                let message = "KV copy to host failed: \(error)"
                try? Frame.error(message).write(to: socket, deadline: deadline)
                throw KVTransferError.protocolViolation(message)
            }
            for layer in 0..<kv.keys.count {
                if faults.senderDropsAfterLayers == layer { throw KVTransferError.peerClosed("fault injection: sender dropped") }
                if faults.senderStallsAfterLayers == layer {
                    while monotonicSeconds() < deadline { Thread.sleep(forTimeInterval: 0.05) }
                    throw KVTransferError.timedOut("fault injection: sender stalled")
                }
                let values = layer < kv.values.count ? kv.values[layer] : []
                try LayerFrame.make(layer: layer, keys: kv.keys[layer], values: values).write(to: socket, deadline: deadline)
            }
            try Frame(kind: .done, payload: []).write(to: socket, deadline: deadline)
            let ack = try Frame.read(from: socket, deadline: deadline)
            guard ack.kind == .ack else { throw KVTransferError.protocolViolation("expected ack, got \(ack.kind)") }
        }
    }

    public func abandon(room: UInt64, reason: String) { rendezvous.fail(room: room, reason: reason) }

    // MARK: decode side

    public func receive(room: UInt64, from bootstrap: BootstrapInfo, reservation: KVReservation, layout: KVCacheLayout,
                        timeout: Double, handle: TransferHandle) async throws -> ReceivedPrefill {
        let faults = faults
        let payload = payload
        let memory = device.withLock { $0.memory }
        if payload == .cudaIPC && memory == nil {
            throw KVTransferError.protocolViolation("cuda-ipc: this decode server's KV cache is not on a GPU (--device cuda)")
        }
        return try await onThread("tern-kv-receive") {
            let deadline = monotonicSeconds() + timeout
            let socket = try TCPSocket.connect(host: bootstrap.host, port: bootstrap.port, timeout: min(timeout, 10))
            handle.onCancel { socket.close() }
            defer { socket.close() }
            // cuda-ipc: true from the moment the prefill side may learn where our pages are until it
            // reports back (header: its copy is over; error frame: it never starts one).
            var prefillMayWrite = false
            do {
                try Registration(room: room, promptTokens: reservation.tokens, layout: layout, pageSize: reservation.pageSize,
                                 pages: reservation.pages).frame.write(to: socket, deadline: deadline)
                if payload == .cudaIPC, let memory {
                    prefillMayWrite = true
                    try PeerMemoryFrame.make(memory, writeBy: deadline).write(to: socket, deadline: deadline)
                }
                let first: Frame
                do { first = try Frame.read(from: socket, deadline: deadline) } catch {
                    if let failure = error as? KVTransferError, case .remote = failure { prefillMayWrite = false }
                    throw error
                }
                prefillMayWrite = false
                let header = try PrefillHeader(first)
                guard header.room == room, header.promptTokens == reservation.tokens else {
                    throw KVTransferError.protocolViolation("header for room \(header.room) with \(header.promptTokens) tokens")
                }
                if payload == .cudaIPC {
                    // The prefill server wrote the rows into our reserved pages before its header.
                    let done = try Frame.read(from: socket, deadline: deadline)
                    guard done.kind == .done else { throw KVTransferError.protocolViolation("expected done, got \(done.kind)") }
                    try Frame(kind: .ack, payload: []).write(to: socket, deadline: deadline)
                    return ReceivedPrefill(promptTokens: header.promptTokens, cachedTokens: header.cachedTokens,
                                           firstToken: header.firstToken, firstLogprob: header.logprob, kv: nil)
                }
                if faults.receiverDropsAfterHeader { throw KVTransferError.peerClosed("fault injection: receiver dropped") }
                var keys: [[UInt8]] = [], values: [[UInt8]] = []
                for layer in 0..<layout.layers {
                    let part = try LayerFrame.parse(try Frame.read(from: socket, deadline: deadline))
                    guard part.layer == layer else { throw KVTransferError.protocolViolation("layer \(part.layer) out of order") }
                    keys.append(part.keys)
                    if layout.valueDim > 0 { values.append(part.values) }
                }
                let done = try Frame.read(from: socket, deadline: deadline)
                guard done.kind == .done else { throw KVTransferError.protocolViolation("expected done, got \(done.kind)") }
                try Frame(kind: .ack, payload: []).write(to: socket, deadline: deadline)
                return ReceivedPrefill(promptTokens: header.promptTokens, cachedTokens: header.cachedTokens,
                                       firstToken: header.firstToken, firstLogprob: header.logprob,
                                       kv: KVRows(layout: layout, tokens: header.promptTokens, keys: keys, values: values))
            } catch {
                let failure: any Error = handle.isCancelled ? KVTransferError.cancelled : error
                if prefillMayWrite { throw KVPagesStillWritable(error: failure, releaseAfter: deadline + Self.writeMargin) }
                throw failure
            }
        }
    }

    public func shutdown() {
        listener.withLock { $0?.stop(); $0 = nil }
        rendezvous.closeAll()
    }
}

/// cuda-ipc decode side: the receive failed after the prefill server was told where the reserved pages
/// are and before it reported back, so it may still copy into them: they must stay reserved until
/// `releaseAfter` (monotonic seconds, `monotonicSeconds()`), then they can be freed.
public struct KVPagesStillWritable: Error, CustomStringConvertible {
    public let error: any Error
    public let releaseAfter: Double
    public var description: String { "\(error)" }
}

/// Prefill side: decode registrations waiting for their room's KV, and failure notices for rooms
/// whose decode side has not registered yet. Whichever side arrives second completes the match.
final class Rendezvous: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: [UInt64: (socket: TCPSocket, registration: Registration, since: Double)] = [:]
    private var failed: [UInt64: (reason: String, since: Double)] = [:]
    private let ttl: Double

    init(ttl: Double) { self.ttl = ttl }

    func offer(_ socket: TCPSocket, _ registration: Registration) {
        condition.lock()
        sweep()
        if let notice = failed.removeValue(forKey: registration.room) {
            condition.unlock()
            try? Frame.error(notice.reason).write(to: socket, deadline: monotonicSeconds() + 1)
            socket.close()
            return
        }
        waiting[registration.room]?.socket.close()
        waiting[registration.room] = (socket, registration, monotonicSeconds())
        condition.broadcast()
        condition.unlock()
    }

    func take(room: UInt64, deadline: Double) -> (TCPSocket, Registration)? {
        condition.lock()
        defer { condition.unlock() }
        while waiting[room] == nil {
            let left = deadline - monotonicSeconds()
            if left <= 0 { return nil }
            _ = condition.wait(until: Date(timeIntervalSinceNow: min(left, 0.2)))
        }
        guard let entry = waiting.removeValue(forKey: room) else { return nil }
        return (entry.socket, entry.registration)
    }

    func fail(room: UInt64, reason: String) {
        condition.lock()
        if let entry = waiting.removeValue(forKey: room) {
            condition.unlock()
            try? Frame.error(reason).write(to: entry.socket, deadline: monotonicSeconds() + 1)
            entry.socket.close()
            return
        }
        failed[room] = (reason, monotonicSeconds())
        condition.unlock()
    }

    func closeAll() {
        condition.lock()
        let sockets = waiting.values.map(\.socket)
        waiting.removeAll()
        failed.removeAll()
        condition.unlock()
        for socket in sockets { socket.close() }
    }

    /// Drops what nobody claimed within the TTL. Called with the lock held.
    private func sweep() {
        let cutoff = monotonicSeconds() - ttl
        for (room, entry) in waiting where entry.since < cutoff {
            entry.socket.close()
            waiting[room] = nil
        }
        for (room, entry) in failed where entry.since < cutoff { failed[room] = nil }
    }
}
