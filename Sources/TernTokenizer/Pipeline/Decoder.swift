import Foundation

/// The decoders of tokenizer.json: they turn token strings back into text, one chain step at a time.
indirect enum Decoder: Sendable {
    case byteLevel
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(pattern: String, content: String)
    case bpe(suffix: String)
    case sequence([Decoder])

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                if let b = ByteLevelAlphabet.bytes(of: token) { bytes += b } else { bytes += Array(token.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { i, token in
                // Scalar by scalar: a combining mark after the replacement must not hide it in one Character.
                var out = String.UnicodeScalarView()
                for c in token.unicodeScalars {
                    if c == replacement {
                        if i == 0 && scheme != .never { continue }
                        out.append(" ")
                    } else {
                        out.append(c)
                    }
                }
                return String(out)
            }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) { out.append(s) }
                else { out += Array(repeating: "\u{FFFD}", count: pending.count) }
                pending.removeAll()
            }
            for token in tokens {
                if let byte = Self.fallbackByte(token) {
                    pending.append(byte)
                } else {
                    flush()
                    out.append(token)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { token in
                let chars = Array(token.unicodeScalars)
                var lo = 0
                while lo < min(start, chars.count), chars[lo] == content { lo += 1 }
                var hi = chars.count
                var removed = 0
                while removed < stop, hi > lo, chars[hi - 1] == content { hi -= 1; removed += 1 }
                return String(String.UnicodeScalarView(chars[lo..<hi]))
            }
        case let .replace(pattern, content):
            return tokens.map { Self.replaceScalars(in: $0, pattern, with: content) }
        case let .bpe(suffix):
            return tokens.enumerated().map { i, token in
                Self.replaceScalars(in: token, suffix, with: i == tokens.count - 1 ? "" : " ")
            }
        case let .sequence(steps):
            var current = tokens
            for step in steps { current = step.decodeChain(current) }
            return current
        }
    }

    /// Replaces every occurrence of `pattern`, comparing UTF-8 bytes (not Characters, which would merge a
    /// replacement character with a following combining mark).
    static func replaceScalars(in token: String, _ pattern: String, with content: String) -> String {
        let hay = Array(token.utf8)
        let needle = Array(pattern.utf8)
        guard !needle.isEmpty, hay.count >= needle.count else { return token }
        var out: [UInt8] = []
        out.reserveCapacity(hay.count)
        var i = 0
        var changed = false
        while i < hay.count {
            if hay[i] == needle[0], i + needle.count <= hay.count, hay[i..<(i + needle.count)].elementsEqual(needle) {
                out += content.utf8
                i += needle.count
                changed = true
            } else {
                out.append(hay[i])
                i += 1
            }
        }
        return changed ? String(decoding: out, as: UTF8.self) : token
    }

    /// The byte of a `<0xXX>` token.
    static func fallbackByte(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }
}

/// Post-processors: what `addSpecialTokens` adds around an encoded sequence.
indirect enum PostProcessor: Sendable {
    /// TemplateProcessing's single template: each item is either the sequence or fixed ids.
    case template([TemplatePiece])
    case wrap(prefix: [Int], suffix: [Int])
    case byteLevel
    case sequence([PostProcessor])

    enum TemplatePiece: Sendable {
        case sequence
        case ids([Int])
    }

    func apply(_ ids: [Int]) -> [Int] {
        switch self {
        case let .template(pieces):
            var out: [Int] = []
            out.reserveCapacity(ids.count + 4)
            for piece in pieces {
                switch piece {
                case .sequence: out += ids
                case let .ids(fixed): out += fixed
                }
            }
            return out
        case let .wrap(prefix, suffix):
            return prefix + ids + suffix
        case .byteLevel:
            return ids
        case let .sequence(steps):
            return steps.reduce(ids) { $1.apply($0) }
        }
    }
}
