import Foundation

/// A small JSON parser producing the same shapes as JSONSerialization (`[String: Any]`, `[Any]`, String, Int,
/// Double, Bool, NSNull). Foundation's JSONSerialization on Linux drops a U+FEFF at the start of a string,
/// which changes token strings and text, so tokenizer files are read with this instead.
struct JSONReader {
    private let bytes: [UInt8]
    private var pos = 0

    static func parse(_ data: Data) throws -> Any {
        var reader = JSONReader(bytes: [UInt8](data))
        if reader.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.pos = 3 }  // a BOM before the document
        let value = try reader.value()
        reader.skipSpace()
        guard reader.pos == reader.bytes.count else { throw reader.error("trailing data") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ what: String) -> TokenizerError { .invalidJSON("\(what) at byte \(pos)") }

    private mutating func skipSpace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 { pos += 1 }
    }

    private mutating func value() throws -> Any {
        skipSpace()
        guard pos < bytes.count else { throw error("unexpected end") }
        switch bytes[pos] {
        case 0x7B: return try object()
        case 0x5B: return try array()
        case 0x22: return try string()
        case 0x74: try literal("true"); return true
        case 0x66: try literal("false"); return false
        case 0x6E: try literal("null"); return NSNull()
        default: return try number()
        }
    }

    private mutating func literal(_ word: String) throws {
        for b in word.utf8 {
            guard pos < bytes.count, bytes[pos] == b else { throw error("bad literal") }
            pos += 1
        }
    }

    private mutating func object() throws -> [String: Any] {
        pos += 1
        var out: [String: Any] = [:]
        skipSpace()
        if pos < bytes.count, bytes[pos] == 0x7D { pos += 1; return out }
        while true {
            skipSpace()
            guard pos < bytes.count, bytes[pos] == 0x22 else { throw error("expected key") }
            let key = try string()
            skipSpace()
            guard pos < bytes.count, bytes[pos] == 0x3A else { throw error("expected ':'") }
            pos += 1
            skipSpace()
            if key == "vocab", pos < bytes.count, bytes[pos] == 0x7B {
                out[key] = try rawObject()
            } else {
                out[key] = try value()
            }
            skipSpace()
            guard pos < bytes.count else { throw error("unterminated object") }
            if bytes[pos] == 0x2C { pos += 1; continue }
            if bytes[pos] == 0x7D { pos += 1; return out }
            throw error("expected ',' or '}'")
        }
    }

    /// An object kept as (key bytes, value) pairs. Vocabularies need this: Swift String keys compare by
    /// canonical equivalence, which would merge distinct tokens such as "é" and "e\u{301}".
    private mutating func rawObject() throws -> RawJSONObject {
        pos += 1
        var pairs: [(key: [UInt8], value: Any)] = []
        skipSpace()
        if pos < bytes.count, bytes[pos] == 0x7D { pos += 1; return RawJSONObject(pairs: pairs) }
        while true {
            skipSpace()
            guard pos < bytes.count, bytes[pos] == 0x22 else { throw error("expected key") }
            let key = try stringBytes()
            skipSpace()
            guard pos < bytes.count, bytes[pos] == 0x3A else { throw error("expected ':'") }
            pos += 1
            pairs.append((key, try value()))
            skipSpace()
            guard pos < bytes.count else { throw error("unterminated object") }
            if bytes[pos] == 0x2C { pos += 1; continue }
            if bytes[pos] == 0x7D { pos += 1; return RawJSONObject(pairs: pairs) }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func array() throws -> [Any] {
        pos += 1
        var out: [Any] = []
        skipSpace()
        if pos < bytes.count, bytes[pos] == 0x5D { pos += 1; return out }
        while true {
            out.append(try value())
            skipSpace()
            guard pos < bytes.count else { throw error("unterminated array") }
            if bytes[pos] == 0x2C { pos += 1; continue }
            if bytes[pos] == 0x5D { pos += 1; return out }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func string() throws -> String {
        String(decoding: try stringBytes(), as: UTF8.self)
    }

    private mutating func stringBytes() throws -> [UInt8] {
        pos += 1
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count, bytes[pos] != 0x22, bytes[pos] != 0x5C { pos += 1 }
        guard pos < bytes.count else { throw error("unterminated string") }
        if bytes[pos] == 0x22 {
            let s = Array(bytes[start..<pos])
            pos += 1
            return s
        }
        var out = [UInt8](bytes[start..<pos])
        while true {
            guard pos < bytes.count else { throw error("unterminated string") }
            let b = bytes[pos]
            if b == 0x22 { pos += 1; break }
            if b != 0x5C { out.append(b); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { throw error("bad escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var code = try hex4()
                if code >= 0xD800, code < 0xDC00, pos + 1 < bytes.count, bytes[pos] == 0x5C, bytes[pos + 1] == 0x75 {
                    let save = pos
                    pos += 2
                    let low = try hex4()
                    if low >= 0xDC00, low < 0xE000 { code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) } else { pos = save }
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default: throw error("bad escape")
            }
        }
        return out
    }

    private mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("bad \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    private mutating func number() throws -> Any {
        let start = pos
        var isInteger = true
        while pos < bytes.count {
            let c = bytes[pos]
            if (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B { pos += 1; continue }
            if c == 0x2E || c == 0x65 || c == 0x45 { isInteger = false; pos += 1; continue }
            break
        }
        guard pos > start else { throw error("unexpected character") }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return i }
        guard let d = Double(text) else { throw error("bad number") }
        return d
    }
}

/// A JSON object as its (key bytes, value) pairs in file order.
struct RawJSONObject {
    let pairs: [(key: [UInt8], value: Any)]
}
