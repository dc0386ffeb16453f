import Testing
@testable import TernBench

struct StreamParsingTests {
    @Test func splitterJoinsPayloadsCutAcrossBuffers() {
        var s = SSELineSplitter()
        #expect(s.feed(Array("data: {\"a\":".utf8)).isEmpty)
        let got = s.feed(Array("1}\r\n\r\ndata:{\"b\":2}\n\n: comment\ndata: [DONE]\n\n".utf8))
        #expect(got.map { String(decoding: $0, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":2}"])
        #expect(s.sawDone)
    }

    @Test func scanReadsTheLastIntegerOfAKeyNotTextThatLooksLikeIt() {
        let json = Array(#"{"text":"\"completion_tokens\":99","meta_info":{"prompt_tokens":12,"completion_tokens": 7}}"#.utf8)
        #expect(JSONScan.lastInteger("completion_tokens", in: json) == 7)
        #expect(JSONScan.lastInteger("prompt_tokens", in: json) == 12)
        #expect(JSONScan.lastInteger("cached_tokens", in: json) == nil)
        #expect(JSONScan.isError(Array(#"{"error":{"message":"x"}}"#.utf8)))
        #expect(!JSONScan.isError(json))
    }

    @Test func nativeStreamCountsTokensFromCumulativeCompletionTokens() {
        var acc = StreamAccumulator(backend: .tern)
        for (n, t) in [(1, 0.1), (1, 0.15), (3, 0.3), (4, 0.4)] {
            acc.consume(Array(#"{"text":"..","output_ids":[],"meta_info":{"prompt_tokens":8,"completion_tokens":\#(n)}}"#.utf8), at: t)
        }
        #expect(acc.chunkTimes == [0.1, 0.3, 0.4])
        #expect(acc.chunkTokens == [1, 2, 1])
        #expect(acc.reportedPromptTokens == 8)
        #expect(acc.reportedCompletionTokens == 4)
        #expect(acc.error == nil)
    }

    @Test func openAIChunkWithTokenIDsCountsThoseIDsEvenWithoutText() {
        // tern serve --skip-tokenizer-init: text is empty, each chunk names its token ids.
        var acc = StreamAccumulator(backend: .openai)
        acc.consume(Array(#"{"choices":[{"index":0,"text":"","finish_reason":null,"token_ids":[5]}],"usage":null}"#.utf8), at: 0.1)
        acc.consume(Array(#"{"choices":[{"index":0,"text":"","finish_reason":null,"token_ids":[6,7]}],"usage":null}"#.utf8), at: 0.2)
        acc.consume(Array(#"{"choices":[{"index":0,"text":"","finish_reason":"length","token_ids":[]}],"usage":null}"#.utf8), at: 0.3)
        acc.consume(Array(#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#.utf8), at: 0.31)
        #expect(acc.chunkTimes == [0.1, 0.2])
        #expect(acc.chunkTokens == [1, 2])
        #expect(acc.reportedCompletionTokens == 3)
    }

    @Test func openAIChunkWithEmptyTextFoldsIntoTheNextChunk() {
        var acc = StreamAccumulator(backend: .openai)
        acc.consume(Array(#"{"choices":[{"index":0,"text":"a","finish_reason":null}],"usage":null}"#.utf8), at: 0.1)
        acc.consume(Array(#"{"choices":[{"index":0,"text":"","finish_reason":null}],"usage":null}"#.utf8), at: 0.2)
        acc.consume(Array(#"{"choices":[{"index":0,"text":"é","finish_reason":"length"}],"usage":null}"#.utf8), at: 0.3)
        acc.consume(Array(#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#.utf8), at: 0.31)
        #expect(acc.chunkTimes == [0.1, 0.3])
        #expect(acc.chunkTokens == [1, 2])
        #expect(acc.reportedPromptTokens == 5)
        #expect(acc.reportedCompletionTokens == 3)
    }

    @Test func chatRoleChunkIsNotAToken() {
        var acc = StreamAccumulator(backend: .openaiChat)
        acc.consume(Array(#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#.utf8), at: 0.01)
        acc.consume(Array(#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#.utf8), at: 0.2)
        acc.consume(Array(#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#.utf8), at: 0.25)
        #expect(acc.chunkTimes == [0.2])
        #expect(acc.chunkTokens == [1])
    }

    @Test func errorEventFailsTheRequest() {
        var acc = StreamAccumulator(backend: .openai)
        acc.consume(Array(#"{"error":{"message":"engine stopped"}}"#.utf8), at: 0.1)
        #expect(acc.error?.contains("engine stopped") == true)
    }
}
