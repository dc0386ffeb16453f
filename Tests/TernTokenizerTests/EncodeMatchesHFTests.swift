import Foundation
import Testing
@testable import TernTokenizer

/// Ids must equal HF `tokenizers` on the whole reference corpus (about 1.1 MB) for every fixture tokenizer.
@Suite struct EncodeMatchesHFTests {
    @Test(arguments: Fixtures.committed)
    func encodeEqualsHuggingFaceOnCorpus(fixture: String) throws {
        let tokenizer = try Fixtures.tokenizer(fixture)
        try checkCorpus(tokenizer, Fixtures.documents(fixture), expected: Fixtures.expectedIDs(fixture), name: fixture)
    }

    @Test func fullDeepSeekTokenizerEqualsHuggingFace() throws {
        guard let json = Fixtures.deepseekFullTokenizerJSON() else {
            print("skipping: the full DeepSeek tokenizer.json is not installed")
            return
        }
        let tokenizer = try Tokenizer(tokenizerJSON: json)
        try checkCorpus(tokenizer, Fixtures.corpus, expected: Fixtures.expectedIDs("deepseek-full"), name: "deepseek-full")
    }

    private func checkCorpus(_ tokenizer: Tokenizer, _ corpus: [String], expected: [[Int]], name: String) throws {
        try #require(expected.count == corpus.count)
        var failures = 0
        for (i, doc) in corpus.enumerated() {
            let got = tokenizer.encode(doc, addSpecialTokens: true)
            if got != expected[i] {
                failures += 1
                if failures <= 5 {
                    Issue.record("\(name) doc \(i): \(Fixtures.firstDifference(got, expected[i], tokenizer: tokenizer))")
                }
            }
        }
        #expect(failures == 0, "\(name): \(failures) of \(corpus.count) documents differ")
    }
}
