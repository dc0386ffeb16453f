import Foundation
import Testing
@testable import TernTokenizer

/// The regex engine and Split behaviours, against pieces HF's pre_tokenize_str returned.
@Suite struct RegexAndSplitTests {
    static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    private func pieces(_ pre: PreTokenizer, _ text: String) -> [String] {
        var t = TextPieces(scalars: text.unicodeScalars.map(\.value), startsInput: true)
        var scratch = PreTokenizerScratch()
        pre.apply(&t, scratch: &scratch)
        return t.pieces.map { r in String(String.UnicodeScalarView(t.scalars[r].map { Unicode.Scalar($0)! })) }
    }

    private func regexSplit(_ pattern: String, _ text: String) throws -> [String] {
        pieces(.split(.regex(try CompiledRegex(pattern)), behavior: .isolated, invert: false), text)
    }

    @Test func llama3PatternSplitsLikeOniguruma() throws {
        #expect(try regexSplit(Self.llama3, "Hello world's  123456 \n\n  x")
            == ["Hello", " world", "'s", " ", " ", "123", "456", " \n\n", " ", " x"])
        #expect(try regexSplit(Self.llama3, "I'M ok'LL") == ["I", "'M", " ok", "'LL"])
        #expect(try regexSplit(Self.llama3, "naïve—“quoted”  \t\n") == ["naïve", "—“", "quoted", "”", "  \t\n"])
    }

    @Test func caseInsensitiveGroupAlsoMatchesFoldedLetters() throws {
        let regex = try CompiledRegex("(?i:'s)")
        for text in ["'s", "'S", "'\u{17F}"] {
            let scalars = text.unicodeScalars.map(\.value)
            var scratch = CompiledRegex.Scratch()
            var found: [Range<Int>] = []
            scalars.withUnsafeBufferPointer { buffer in
                regex.forEachMatch(in: buffer, range: 0..<buffer.count, scratch: &scratch) { found.append($0..<$1) }
            }
            #expect(found == [0..<2], "\(text)")
        }
    }

    @Test func boundedRepetitionAndLazyQuantifiers() throws {
        #expect(try regexSplit(#"\d{2,3}"#, "1234567") == ["123", "456", "7"])
        #expect(try regexSplit(#"a+?"#, "aaa") == ["a", "a", "a"])
        #expect(try regexSplit(#"[\x{4e00}-\x{9fa5}]+"#, "ab中文cd") == ["ab", "中文", "cd"])
        #expect(try regexSplit(#"x(?=y)"#, "xyxz") == ["x", "yxz"])
    }

    @Test func splitBehavioursMatchHuggingFace() {
        let dash = SplitPattern.literal([0x2D])
        func split(_ b: SplitBehavior) -> [String] { pieces(.split(dash, behavior: b, invert: false), "a--b-c-") }
        #expect(split(.removed) == ["a", "b", "c"])
        #expect(split(.isolated) == ["a", "-", "-", "b", "-", "c", "-"])
        #expect(split(.mergedWithPrevious) == ["a-", "-", "b-", "c-"])
        #expect(split(.mergedWithNext) == ["a", "-", "-b", "-c", "-"])
        #expect(split(.contiguous) == ["a", "--", "b", "-", "c", "-"])
    }

    @Test func invertedSplitKeepsTheMatches() throws {
        #expect(pieces(.split(.regex(try CompiledRegex(#"\d+"#)), behavior: .removed, invert: true), "ab12cd345")
            == ["12", "345"])
    }

    @Test func unsupportedSyntaxIsRejectedWithItsName() {
        for pattern in ["(?<=a)b", "^a", "a++", #"\p{Greek}"#, "[[:alpha:]]"] {
            #expect(throws: RegexSyntaxError.self, "\(pattern)") { _ = try CompiledRegex(pattern) }
        }
    }
}
