/// Reads integer fields out of JSON bytes without parsing them: SGLang's `/generate` stream repeats
/// the whole output so far in every chunk, and parsing that quadratic payload would make the client,
/// not the server, the bottleneck. A key with its opening quote cannot occur inside a JSON string
/// value (quotes there are escaped), so a byte match is exact.
enum JSONScan {
    /// The integer after the last `"key":` in `bytes`, or nil.
    static func lastInteger(_ key: String, in bytes: [UInt8]) -> Int? {
        let needle = Array("\"\(key)\":".utf8)
        guard bytes.count >= needle.count else { return nil }
        var i = bytes.count - needle.count
        while i >= 0 {
            if bytes[i] == needle[0] && bytes[i..<(i + needle.count)].elementsEqual(needle) {
                return integer(in: bytes, from: i + needle.count)
            }
            i -= 1
        }
        return nil
    }

    private static func integer(in bytes: [UInt8], from start: Int) -> Int? {
        var i = start
        while i < bytes.count && bytes[i] == UInt8(ascii: " ") { i += 1 }
        var value = 0
        var digits = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            digits += 1
            i += 1
        }
        return digits > 0 ? value : nil
    }

    /// Whether the object starts with an `"error"` key (how servers report a failure mid-stream).
    static func isError(_ bytes: [UInt8]) -> Bool {
        var i = 0
        while i < bytes.count && (bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "{")) { i += 1 }
        return bytes[i...].starts(with: "\"error\"".utf8)
    }
}
