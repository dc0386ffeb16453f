import Foundation

/// NFC without Foundation on the common path: characters that NFC can never change or combine with their
/// neighbour pass through; only the short runs around the others go through Foundation.
enum NFCQuickCheck {
    /// Non-mark scalars that NFC rewrites on their own (singletons and composition exclusions),
    /// listed from Foundation's canonical mapping over planes 0-2.
    static let rewritten: [ClosedRange<UInt32>] = [
        0x374...0x374, 0x37E...0x37E, 0x387...0x387, 0x958...0x95F, 0x9DC...0x9DD, 0x9DF...0x9DF, 0xA33...0xA33,
        0xA36...0xA36, 0xA59...0xA5B, 0xA5E...0xA5E, 0xB5C...0xB5D, 0xF43...0xF43, 0xF4D...0xF4D, 0xF52...0xF52,
        0xF57...0xF57, 0xF5C...0xF5C, 0xF69...0xF69, 0x1F71...0x1F71, 0x1F73...0x1F73, 0x1F75...0x1F75,
        0x1F77...0x1F77, 0x1F79...0x1F79, 0x1F7B...0x1F7B, 0x1F7D...0x1F7D, 0x1FBB...0x1FBB, 0x1FBE...0x1FBE,
        0x1FC9...0x1FC9, 0x1FCB...0x1FCB, 0x1FD3...0x1FD3, 0x1FDB...0x1FDB, 0x1FE3...0x1FE3, 0x1FEB...0x1FEB,
        0x1FEE...0x1FEF, 0x1FF9...0x1FF9, 0x1FFB...0x1FFB, 0x1FFD...0x1FFD, 0x2000...0x2001, 0x2126...0x2126,
        0x212A...0x212B, 0x2329...0x232A, 0x2ADC...0x2ADC, 0xF900...0xFA0D, 0xFA10...0xFA10, 0xFA12...0xFA12,
        0xFA15...0xFA1E, 0xFA20...0xFA20, 0xFA22...0xFA22, 0xFA25...0xFA26, 0xFA2A...0xFA6D, 0xFA70...0xFAD9,
        0xFB1D...0xFB1D, 0xFB1F...0xFB1F, 0xFB2A...0xFB36, 0xFB38...0xFB3C, 0xFB3E...0xFB3E, 0xFB40...0xFB41,
        0xFB43...0xFB44, 0xFB46...0xFB4E, 0x1D15E...0x1D164, 0x1D1BB...0x1D1C0, 0x2F800...0x2FA1D,
    ]

    /// True when NFC leaves the scalar alone and it cannot compose with the character before it:
    /// not a mark (marks reorder and compose), not a conjoining Hangul jamo, not rewritten on its own.
    @inline(__always)
    static func isInert(_ v: UInt32) -> Bool {
        if v < 0x300 { return true }
        if UnicodeCategory.isIn(v, UnicodeCategory.markMask) { return false }
        if (v >= 0x1100 && v <= 0x11FF) || (v >= 0xA960 && v <= 0xA97F) || (v >= 0xD7B0 && v <= 0xD7FF) { return false }
        if v < 0x374 || (v > 0x2ADC && v < 0xF900) || (v > 0xFB4E && v < 0x1D15E) || (v > 0x1D1C0 && v < 0x2F800) || v > 0x2FA1D {
            return true
        }
        for r in rewritten where r.contains(v) { return false }
        return true
    }

    /// NFC of `scalars`. Splitting before an inert character is exact: nothing before it can reorder past it
    /// or compose with it, so each run of non-inert characters is normalized with the character before it.
    static func nfc(_ scalars: [UInt32]) -> [UInt32] {
        let n = scalars.count
        var firstNonInert = 0
        while firstNonInert < n, isInert(scalars[firstNonInert]) { firstNonInert += 1 }
        if firstNonInert == n { return scalars }
        var out = Array(scalars[0..<max(0, firstNonInert - 1)])
        out.reserveCapacity(n)
        var i = max(0, firstNonInert - 1)
        while i < n {
            if isInert(scalars[i]) && (i + 1 == n || isInert(scalars[i + 1])) {
                out.append(scalars[i])
                i += 1
                continue
            }
            var j = i + 1
            while j < n, !isInert(scalars[j]) { j += 1 }
            var chunk = String.UnicodeScalarView()
            for k in i..<j { if let u = Unicode.Scalar(scalars[k]) { chunk.append(u) } }
            for u in String(chunk).precomposedStringWithCanonicalMapping.unicodeScalars { out.append(u.value) }
            i = j
        }
        return out
    }
}
