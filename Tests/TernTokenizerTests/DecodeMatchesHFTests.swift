import Foundation
import Testing
@testable import TernTokenizer

/// decode(skipSpecialTokens:) must equal HF `Tokenizer.decode` and the streaming detokenizer must add up to it.
@Suite struct DecodeMatchesHFTests {
    @Test(arguments: Fixtures.committed)
    func decodeEqualsHuggingFace(fixture: String) throws {
        let tokenizer = try Fixtures.tokenizer(fixture)
        let ids = Fixtures.expectedIDs(fixture)
        for expected in Fixtures.expectedDecodes(fixture) {
            let docIDs = ids[expected.doc]
            #expect(sameScalars(tokenizer.decode(docIDs, skipSpecialTokens: true), expected.skip),
                    "\(fixture) doc \(expected.doc) skip")
            #expect(sameScalars(tokenizer.decode(docIDs, skipSpecialTokens: false), expected.keep ?? expected.skip),
                    "\(fixture) doc \(expected.doc) keep")
        }
    }

    @Test(arguments: Fixtures.committed)
    func incrementalDeltasConcatenateToDecode(fixture: String) throws {
        let tokenizer = try Fixtures.tokenizer(fixture)
        let allIDs = Fixtures.expectedIDs(fixture)
        // Every 8th document keeps the debug-mode run short while covering every script in the corpus.
        for doc in stride(from: 0, to: allIDs.count, by: 8) {
            for skip in [true, false] {
                let ids = allIDs[doc]
                var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skip)
                var text = ""
                var heldBackBroken = true
                for id in ids {
                    let delta = detokenizer.append(id)
                    if delta.unicodeScalars.last == "\u{FFFD}" { heldBackBroken = false }
                    text += delta
                }
                text += detokenizer.finish()
                #expect(heldBackBroken, "\(fixture) doc \(doc): a delta ended in U+FFFD")
                #expect(sameScalars(text, tokenizer.decode(ids, skipSpecialTokens: skip)), "\(fixture) doc \(doc) skip=\(skip)")
            }
        }
    }

    @Test func incrementalDetokenizerHoldsBackSplitCharacter() throws {
        let tokenizer = try Fixtures.tokenizer("sp-llama2")
        // "你" is not in the small vocabulary, so it is encoded as three <0xXX> byte tokens.
        let ids = tokenizer.encode("a你", addSpecialTokens: false)
        let byteTokens = ids.compactMap { tokenizer.token(for: $0) }.filter { $0.hasPrefix("<0x") }
        try #require(byteTokens.count == 3)
        var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
        let deltas = ids.map { detokenizer.append($0) }
        #expect(deltas.suffix(3).dropLast().allSatisfy { $0.isEmpty })
        #expect(deltas.last == "你")
        #expect(sameScalars(deltas.joined(), "a你"))
    }

    @Test func finishFlushesAnIncompleteTail() throws {
        let tokenizer = try Fixtures.tokenizer("gpt2")
        // The first byte of "€" (E2 82 AC) alone: a broken sequence that only finish() may emit.
        guard let id = tokenizer.tokenID(for: "â") else { Issue.record("byte token missing"); return }
        var detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
        #expect(detokenizer.append(id) == "")
        #expect(detokenizer.finish() == "\u{FFFD}")
        #expect(tokenizer.decode([id]) == "\u{FFFD}")
    }
}

/// String `==` compares canonical equivalence; tokenizers must reproduce the exact scalars.
func sameScalars(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }
