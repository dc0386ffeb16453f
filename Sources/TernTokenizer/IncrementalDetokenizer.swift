/// Turns a stream of generated ids into text deltas without ever emitting a broken character.
///
/// It decodes a short window of recent ids twice, with and without the newest id, and emits the difference.
/// Text ending in U+FFFD (an incomplete UTF-8 sequence from byte tokens) is held back until the next id
/// completes it, or until `finish()`. The concatenation of all deltas plus `finish()` equals `decode(allIDs)`.
public struct IncrementalDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    public private(set) var ids: [Int] = []
    /// Start of the window re-decoded for context, and end of the ids whose text was already emitted.
    private var prefixOffset = 0
    private var readOffset = 0

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the new text it completes (possibly empty).
    public mutating func append(_ id: Int) -> String {
        ids.append(id)
        let emitted = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        let emittedBytes = emitted.utf8.count
        guard full.utf8.count > emittedBytes, full.unicodeScalars.last != "\u{FFFD}",
              full.utf8.starts(with: emitted.utf8) else {
            return ""
        }
        let delta = String(decoding: full.utf8.dropFirst(emittedBytes), as: UTF8.self)
        prefixOffset = readOffset
        readOffset = ids.count
        return delta
    }

    /// Adds several ids; returns the text they complete.
    public mutating func append<S: Sequence>(contentsOf newIDs: S) -> String where S.Element == Int {
        var out = ""
        for id in newIDs { out += append(id) }
        return out
    }

    /// Flushes text held back at the end of the stream (for example a trailing incomplete character as U+FFFD).
    public mutating func finish() -> String {
        let emitted = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        prefixOffset = ids.count
        readOffset = ids.count
        guard full.utf8.count > emitted.utf8.count, full.utf8.starts(with: emitted.utf8) else { return "" }
        return String(decoding: full.utf8.dropFirst(emitted.utf8.count), as: UTF8.self)
    }
}
