import Foundation

/// The normalizers of tokenizer.json, applied to a segment's scalars before pre-tokenization.
indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case strip(left: Bool, right: Bool)
    case prepend([UInt32])
    case replace(SplitPattern, with: [UInt32])
    case stripAccents
    case sequence([Normalizer])

    func apply(_ scalars: [UInt32]) -> [UInt32] {
        switch self {
        case .nfc:
            return NFCQuickCheck.nfc(scalars)
        case .nfkc:
            if scalars.allSatisfy({ $0 < 0xA0 }) { return scalars }
            return Self.viaString(scalars) { $0.precomposedStringWithCompatibilityMapping }
        case .nfd:
            if scalars.allSatisfy({ $0 < 0xC0 }) { return scalars }
            return Self.viaString(scalars) { $0.decomposedStringWithCanonicalMapping }
        case .nfkd:
            if scalars.allSatisfy({ $0 < 0xA0 }) { return scalars }
            return Self.viaString(scalars) { $0.decomposedStringWithCompatibilityMapping }
        case .lowercase:
            var out: [UInt32] = []
            out.reserveCapacity(scalars.count)
            for v in scalars {
                if v < 0x80 {
                    out.append(v >= 0x41 && v <= 0x5A ? v + 32 : v)
                } else if let s = Unicode.Scalar(v) {
                    for m in s.properties.lowercaseMapping.unicodeScalars { out.append(m.value) }
                }
            }
            return out
        case let .strip(left, right):
            var lo = 0
            var hi = scalars.count
            if left { while lo < hi, ScalarClass.isWhitespace(scalars[lo]) { lo += 1 } }
            if right { while hi > lo, ScalarClass.isWhitespace(scalars[hi - 1]) { hi -= 1 } }
            return Array(scalars[lo..<hi])
        case let .prepend(prefix):
            return scalars.isEmpty ? scalars : prefix + scalars
        case let .replace(pattern, content):
            var out: [UInt32] = []
            out.reserveCapacity(scalars.count)
            var previous = 0
            var regexScratch = CompiledRegex.Scratch()
            scalars.withUnsafeBufferPointer { buffer in
                pattern.forEachMatch(in: buffer, range: 0..<buffer.count, scratch: &regexScratch) { start, end in
                    out.append(contentsOf: buffer[previous..<start])
                    out.append(contentsOf: content)
                    previous = end
                }
            }
            out.append(contentsOf: scalars[previous...])
            return out
        case .stripAccents:
            // HF removes every combining mark (Mn, Mc, Me), not only nonspacing ones.
            return scalars.filter { !UnicodeCategory.isIn($0, UnicodeCategory.markMask) }
        case let .sequence(steps):
            var current = scalars
            for step in steps { current = step.apply(current) }
            return current
        }
    }

    private static func viaString(_ scalars: [UInt32], _ transform: (String) -> String) -> [UInt32] {
        var s = String.UnicodeScalarView()
        for v in scalars { if let u = Unicode.Scalar(v) { s.append(u) } }
        return transform(String(s)).unicodeScalars.map(\.value)
    }
}
