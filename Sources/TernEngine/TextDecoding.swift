/// Turns one choice's generated tokens into text as they arrive, never splitting a UTF-8
/// character (the tokenizer's streaming detokenizer is adapted to this).
public protocol IncrementalTextDecoder: AnyObject {
    /// Adds one token; returns the text that became final with it (possibly empty).
    func push(_ token: Int) -> String
    /// Text still held back when the choice ends.
    func flush() -> String
}

/// Makes a fresh incremental decoder per choice. The prompt gives decoders context (e.g. whether
/// the first output token needs its leading space).
public protocol TextDecoderFactory: Sendable {
    func makeDecoder(prompt: [Int]) -> any IncrementalTextDecoder
}

/// The least a tokenizer must offer: ids → text.
public protocol TokenTextDecoder: Sendable {
    func decode(_ ids: [Int]) -> String
}

/// Streams text out of a plain `decode(ids)`: decodes a short window of recent tokens twice
/// (without and with the new ones) and emits the difference once it no longer ends in an
/// incomplete character (U+FFFD).
public struct WindowedTextDecoderFactory<D: TokenTextDecoder>: TextDecoderFactory {
    public let decoder: D
    /// Prompt tokens kept as context for the first output tokens.
    public var contextTokens: Int

    public init(_ decoder: D, contextTokens: Int = 4) {
        self.decoder = decoder
        self.contextTokens = contextTokens
    }

    public func makeDecoder(prompt: [Int]) -> any IncrementalTextDecoder {
        WindowedTextDecoder(decoder: decoder, context: Array(prompt.suffix(contextTokens)))
    }
}

final class WindowedTextDecoder<D: TokenTextDecoder>: IncrementalTextDecoder {
    private let decoder: D
    private var ids: [Int]
    /// ids[prefixOffset..<readOffset] is text already emitted, kept as context.
    private var prefixOffset = 0
    private var readOffset: Int

    init(decoder: D, context: [Int]) {
        self.decoder = decoder
        ids = context
        readOffset = context.count
    }

    func push(_ token: Int) -> String {
        ids.append(token)
        let before = decoder.decode(Array(ids[prefixOffset..<readOffset]))
        let after = decoder.decode(Array(ids[prefixOffset...]))
        guard after.unicodeScalars.count > before.unicodeScalars.count, after.unicodeScalars.last != "\u{FFFD}" else { return "" }
        let delta = String(after.unicodeScalars.dropFirst(before.unicodeScalars.count))
        prefixOffset = readOffset
        readOffset = ids.count
        return delta
    }

    func flush() -> String {
        guard readOffset < ids.count else { return "" }
        let before = decoder.decode(Array(ids[prefixOffset..<readOffset]))
        let after = decoder.decode(Array(ids[prefixOffset...]))
        readOffset = ids.count
        return String(after.unicodeScalars.dropFirst(before.unicodeScalars.count))
    }
}

/// Finds stop strings in streamed text, including ones that straddle token boundaries: text that
/// could still be the start of a stop string is held back until later text settles it.
struct StopStringMatcher {
    let stops: [String]
    /// Most unicode scalars ever held back (longest stop string − 1).
    private let holdBack: Int
    private let stopScalars: [[Unicode.Scalar]]
    private var pending = ""

    init(stops: [String]) {
        self.stops = stops
        stopScalars = stops.map { Array($0.unicodeScalars) }
        holdBack = max(0, (stops.map(\.unicodeScalars.count).max() ?? 0) - 1)
    }

    /// Adds decoded text; returns what may be emitted now and the stop string found, if any
    /// (the text up to the match is emitted, the match and what follows are dropped).
    mutating func feed(_ text: String) -> (emit: String, matched: String?) {
        pending += text
        guard !stops.isEmpty else {
            defer { pending = "" }
            return (pending, nil)
        }
        var earliest: (range: Range<String.Index>, stop: String)?
        for stop in stops {
            if let range = pending.firstRange(of: stop), earliest == nil || range.lowerBound < earliest!.range.lowerBound {
                earliest = (range, stop)
            }
        }
        if let earliest {
            let emit = String(pending[..<earliest.range.lowerBound])
            pending = ""
            return (emit, earliest.stop)
        }
        // Hold back only the longest tail that could still grow into a stop string.
        let scalars = Array(pending.unicodeScalars)
        var keep = min(holdBack, scalars.count)
        while keep > 0 && !stopScalars.contains(where: { $0.count > keep && $0[..<keep].elementsEqual(scalars[(scalars.count - keep)...]) }) {
            keep -= 1
        }
        var emit = String.UnicodeScalarView()
        emit.append(contentsOf: scalars[..<(scalars.count - keep)])
        var rest = String.UnicodeScalarView()
        rest.append(contentsOf: scalars[(scalars.count - keep)...])
        pending = String(rest)
        return (String(emit), nil)
    }

    /// Everything held back (the choice ended for another reason).
    mutating func flush() -> String {
        defer { pending = "" }
        return pending
    }
}
