/// Splits a byte stream into server-sent-event `data:` payloads, however the bytes are chunked.
public struct SSELineSplitter: Sendable {
    private var pending: [UInt8] = []
    public private(set) var sawDone = false

    public init() {}

    /// Feeds bytes; returns the complete `data:` payloads they finish (without `[DONE]`).
    public mutating func feed<C: Collection>(_ bytes: C) -> [[UInt8]] where C.Element == UInt8 {
        pending.append(contentsOf: bytes)
        var payloads: [[UInt8]] = []
        var lineStart = 0
        var i = 0
        pending.withUnsafeBufferPointer { buf in
            while i < buf.count {
                if buf[i] == UInt8(ascii: "\n") {
                    var end = i
                    if end > lineStart && buf[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                    if let payload = Self.dataPayload(buf, lineStart, end) {
                        if payload.elementsEqual("[DONE]".utf8) { sawDone = true } else { payloads.append(payload) }
                    }
                    lineStart = i + 1
                }
                i += 1
            }
        }
        pending.removeFirst(lineStart)
        return payloads
    }

    private static func dataPayload(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> [UInt8]? {
        let prefix = Array("data:".utf8)
        guard end - start >= prefix.count else { return nil }
        for k in 0..<prefix.count where buf[start + k] != prefix[k] { return nil }
        var from = start + prefix.count
        if from < end && buf[from] == UInt8(ascii: " ") { from += 1 }
        return Array(buf[from..<end])
    }
}
