import Foundation
import Testing
@testable import TernTokenizer

@Suite struct NormalizerTests {
    private func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

    @Test(arguments: [
        "plain ascii", "e\u{301}", "a\u{323}\u{308}x", "a\u{308}\u{323}", "\u{1100}\u{1161}\u{11A8}", "\u{AC00}\u{11A8}",
        "\u{212A}elvin \u{212B}ngstrom \u{2126}", "क\u{93C}", "\u{F900}\u{2F800}", "ﬁ ½ ①", "ó°\u{301}\u{301}z",
        "日本語テキスト\u{3099}", "\u{FEFF}\u{200D}", "x\u{0344}y", "\u{1D15E}",
    ])
    func quickCheckNFCEqualsFoundation(text: String) {
        let expected = scalars(text.precomposedStringWithCanonicalMapping)
        #expect(NFCQuickCheck.nfc(scalars(text)) == expected)
    }

    @Test func quickCheckAgreesWithFoundationOnEveryBMPCharacterAfterABase() {
        // Each scalar after "a": catches any scalar the quick check wrongly calls inert.
        var mismatches: [UInt32] = []
        for v in UInt32(0x300)..<0x10000 where (0xD800...0xDFFF).contains(v) == false {
            let input: [UInt32] = [0x61, v, 0x62]
            var view = String.UnicodeScalarView()
            for x in input { view.append(Unicode.Scalar(x)!) }
            let expected = scalars(String(view).precomposedStringWithCanonicalMapping)
            if NFCQuickCheck.nfc(input) != expected { mismatches.append(v) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10).map { String($0, radix: 16) })")
    }

    @Test func lowercaseUsesFullMappings() {
        #expect(Normalizer.lowercase.apply(scalars("ÀB İ Σ")) == scalars("àb i\u{307} σ"))
    }

    @Test func stripPrependAndReplace() {
        #expect(Normalizer.strip(left: true, right: false).apply(scalars("  a \u{3000}")) == scalars("a \u{3000}"))
        #expect(Normalizer.strip(left: true, right: true).apply(scalars("\u{A0} a \u{3000}")) == scalars("a"))
        #expect(Normalizer.prepend(scalars("▁")).apply(scalars("x")) == scalars("▁x"))
        #expect(Normalizer.prepend(scalars("▁")).apply([]) == [])
        #expect(Normalizer.replace(.literal(scalars(" ")), with: scalars("▁")).apply(scalars("a b  c")) == scalars("a▁b▁▁c"))
    }
}
