import TernBackend
import TernCore
import TernEngine

/// The TCP transfer's framed binary protocol. Every frame: magic "TKV1" (u32), kind (u8), 3 bytes of
/// padding, payload length (u64), payload; integers little-endian.
///
///     decode → prefill   register   room, prompt tokens, KV layout, page size, page ids (where the KV goes)
///     prefill → decode   header     room, prompt/cached tokens, first token and its logprobs
///     prefill → decode   layer × L  layer index, key rows, value rows (token-major)
///     prefill → decode   done
///     decode → prefill   ack        the KV is in place; the prefill side may report success
///     either way         error      a message; the connection closes
///
/// The register frame carries the decode side's page ids although TCP does not need them: an RDMA
/// conformer (Mooncake, NIXL) writes straight into those pages with the same handshake.
enum FrameKind: UInt8, Sendable {
    case register = 1, header = 2, layer = 3, done = 4, ack = 5, error = 6
    /// cuda-ipc: decode → prefill right after `register`: where the decode server's KV pool is (IPC handle, offsets) and its write-by time.
    case peerMemory = 7
}

/// The `peerMemory` frame: a `KVMemoryDescriptor`, then the decode side's write deadline ("write-by",
/// f64 seconds of its CLOCK_MONOTONIC, common to both servers on one node): after it the decode side
/// may give the reserved pages back, so the prefill side must not start writing into them.
enum PeerMemoryFrame {
    static func make(_ d: KVMemoryDescriptor, writeBy: Double) -> Frame {
        var w = ByteWriter()
        w.u32(UInt32(d.handle.count)); w.bytes += d.handle
        w.string(d.device)
        w.layout(d.layout)
        w.u32(UInt32(d.pageSize))
        w.u32(UInt32(d.keyOffsets.count)); for o in d.keyOffsets { w.u64(UInt64(o)) }
        w.u32(UInt32(d.valueOffsets.count)); for o in d.valueOffsets { w.u64(UInt64(o)) }
        w.u64(UInt64(d.keyRowStride)); w.u64(UInt64(d.valueRowStride))
        w.u64(writeBy.bitPattern)
        return Frame(kind: .peerMemory, payload: w.bytes)
    }

    static func parse(_ frame: Frame) throws(KVTransferError) -> (memory: KVMemoryDescriptor, writeBy: Double) {
        guard frame.kind == .peerMemory else { throw .protocolViolation("expected the decode server's KV memory, got \(frame.kind)") }
        var r = ByteReader(frame.payload)
        let handle = try r.take(Int(try r.u32()))
        let device = try r.string()
        let layout = try r.layout()
        let pageSize = Int(try r.u32())
        let keyCount = Int(try r.u32())
        guard keyCount <= 1 << 16 else { throw .protocolViolation("\(keyCount) layers") }
        var keys: [Int] = []
        for _ in 0..<keyCount { keys.append(Int(try r.u64())) }
        let valueCount = Int(try r.u32())
        guard valueCount <= 1 << 16 else { throw .protocolViolation("\(valueCount) layers") }
        var values: [Int] = []
        for _ in 0..<valueCount { values.append(Int(try r.u64())) }
        let keyStride = Int(try r.u64()), valueStride = Int(try r.u64())
        // A decode side without a write deadline cannot be written into safely: refused (truncated frame).
        let writeBy = Double(bitPattern: try r.u64())
        guard writeBy.isFinite else { throw .protocolViolation("write-by time \(writeBy)") }
        return (KVMemoryDescriptor(handle: handle, device: device, layout: layout, pageSize: pageSize, keyOffsets: keys,
                                   valueOffsets: values, keyRowStride: keyStride, valueRowStride: valueStride), writeBy)
    }
}

struct Frame: Sendable {
    static let magic: UInt32 = 0x3156_4B54  // "TKV1" little-endian
    static let headerBytes = 16
    /// Refuse absurd lengths from a confused peer before allocating.
    static let maxPayload = 1 << 36

    var kind: FrameKind
    var payload: [UInt8]

    func write(to socket: TCPSocket, deadline: Double) throws(KVTransferError) {
        var head = ByteWriter()
        head.u32(Frame.magic)
        head.u8(kind.rawValue)
        head.u8(0); head.u8(0); head.u8(0)
        head.u64(UInt64(payload.count))
        try socket.write(head.bytes, deadline: deadline)
        if !payload.isEmpty { try socket.write(payload, deadline: deadline) }
    }

    static func read(from socket: TCPSocket, deadline: Double) throws(KVTransferError) -> Frame {
        var head = ByteReader(try socket.read(count: headerBytes, deadline: deadline))
        guard try head.u32() == magic else { throw .protocolViolation("bad frame magic") }
        guard let kind = FrameKind(rawValue: try head.u8()) else { throw .protocolViolation("unknown frame kind") }
        _ = try head.u8(); _ = try head.u8(); _ = try head.u8()
        let length = try head.u64()
        guard length <= UInt64(maxPayload) else { throw .protocolViolation("frame of \(length) bytes") }
        let payload = try socket.read(count: Int(length), deadline: deadline)
        if kind == .error { throw .remote(String(decoding: payload, as: UTF8.self)) }
        return Frame(kind: kind, payload: payload)
    }

    static func error(_ message: String) -> Frame { Frame(kind: .error, payload: Array(message.utf8)) }
}

/// Where the decode side wants a room's KV.
struct Registration: Sendable, Equatable {
    var room: UInt64
    var promptTokens: Int
    var layout: KVCacheLayout
    var pageSize: Int
    var pages: [Int32]

    var frame: Frame {
        var w = ByteWriter()
        w.u64(room)
        w.u32(UInt32(promptTokens))
        w.layout(layout)
        w.u32(UInt32(pageSize))
        w.u32(UInt32(pages.count))
        for page in pages { w.i32(page) }
        return Frame(kind: .register, payload: w.bytes)
    }

    init(room: UInt64, promptTokens: Int, layout: KVCacheLayout, pageSize: Int, pages: [Int32]) {
        self.room = room
        self.promptTokens = promptTokens
        self.layout = layout
        self.pageSize = pageSize
        self.pages = pages
    }

    init(_ frame: Frame) throws(KVTransferError) {
        guard frame.kind == .register else { throw .protocolViolation("expected register, got \(frame.kind)") }
        var r = ByteReader(frame.payload)
        room = try r.u64()
        promptTokens = Int(try r.u32())
        layout = try r.layout()
        pageSize = Int(try r.u32())
        let count = Int(try r.u32())
        pages = []
        pages.reserveCapacity(count)
        for _ in 0..<count { pages.append(try r.i32()) }
    }
}

/// The first token and what the decode side reports in usage.
struct PrefillHeader: Sendable, Equatable {
    var room: UInt64
    var promptTokens: Int
    var cachedTokens: Int
    var firstToken: Int
    var logprob: TokenLogprob?

    var frame: Frame {
        var w = ByteWriter()
        w.u64(room)
        w.u32(UInt32(promptTokens))
        w.u32(UInt32(cachedTokens))
        w.i32(Int32(firstToken))
        w.u8(logprob == nil ? 0 : 1)
        if let logprob {
            w.f32(logprob.logprob)
            w.u32(UInt32(logprob.topTokens.count))
            for (t, lp) in zip(logprob.topTokens, logprob.topLogprobs) { w.i32(Int32(t)); w.f32(lp) }
        }
        return Frame(kind: .header, payload: w.bytes)
    }

    init(room: UInt64, promptTokens: Int, cachedTokens: Int, firstToken: Int, logprob: TokenLogprob?) {
        self.room = room
        self.promptTokens = promptTokens
        self.cachedTokens = cachedTokens
        self.firstToken = firstToken
        self.logprob = logprob
    }

    init(_ frame: Frame) throws(KVTransferError) {
        guard frame.kind == .header else { throw .protocolViolation("expected header, got \(frame.kind)") }
        var r = ByteReader(frame.payload)
        room = try r.u64()
        promptTokens = Int(try r.u32())
        cachedTokens = Int(try r.u32())
        firstToken = Int(try r.i32())
        if try r.u8() == 1 {
            let value = try r.f32()
            let count = Int(try r.u32())
            var tokens: [Int] = [], logprobs: [Float] = []
            for _ in 0..<count { tokens.append(Int(try r.i32())); logprobs.append(try r.f32()) }
            logprob = TokenLogprob(token: firstToken, logprob: value, topTokens: tokens, topLogprobs: logprobs)
        } else {
            logprob = nil
        }
    }
}

/// One layer's key and value rows.
struct LayerFrame {
    static func make(layer: Int, keys: [UInt8], values: [UInt8]) -> Frame {
        var w = ByteWriter()
        w.bytes.reserveCapacity(20 + keys.count + values.count)
        w.u32(UInt32(layer))
        w.u64(UInt64(keys.count))
        w.bytes.append(contentsOf: keys)
        w.u64(UInt64(values.count))
        w.bytes.append(contentsOf: values)
        return Frame(kind: .layer, payload: w.bytes)
    }

    static func parse(_ frame: Frame) throws(KVTransferError) -> (layer: Int, keys: [UInt8], values: [UInt8]) {
        guard frame.kind == .layer else { throw .protocolViolation("expected a layer, got \(frame.kind)") }
        var r = ByteReader(frame.payload)
        let layer = Int(try r.u32())
        let keys = try r.take(Int(try r.u64()))
        let values = try r.take(Int(try r.u64()))
        return (layer, keys, values)
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }

    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func layout(_ l: KVCacheLayout) {
        u32(UInt32(l.layers)); u32(UInt32(l.kvHeads)); u32(UInt32(l.keyDim)); u32(UInt32(l.valueDim))
        string(l.dtype.rawValue)
    }
}

struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ count: Int) throws(KVTransferError) -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else { throw .protocolViolation("truncated frame") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    private mutating func fixed<T: FixedWidthInteger>(_: T.Type) throws(KVTransferError) -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else { throw .protocolViolation("truncated frame") }
        var value: T = 0
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    mutating func u8() throws(KVTransferError) -> UInt8 { try fixed(UInt8.self) }
    mutating func u32() throws(KVTransferError) -> UInt32 { try fixed(UInt32.self) }
    mutating func u64() throws(KVTransferError) -> UInt64 { try fixed(UInt64.self) }
    mutating func i32() throws(KVTransferError) -> Int32 { Int32(bitPattern: try u32()) }
    mutating func f32() throws(KVTransferError) -> Float { Float(bitPattern: try u32()) }

    mutating func string() throws(KVTransferError) -> String {
        String(decoding: try take(Int(try u32())), as: UTF8.self)
    }

    mutating func layout() throws(KVTransferError) -> KVCacheLayout {
        let layers = Int(try u32()), heads = Int(try u32()), key = Int(try u32()), value = Int(try u32())
        let name = try string()
        guard let dtype = DType(rawValue: name) else { throw .protocolViolation("unknown KV dtype \(name)") }
        return KVCacheLayout(layers: layers, kvHeads: heads, keyDim: key, valueDim: value, dtype: dtype)
    }
}
