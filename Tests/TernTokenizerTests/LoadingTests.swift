import Foundation
import Testing
@testable import TernTokenizer

/// Loading: unsupported components fail loudly; configs; vocabulary lookups.
@Suite struct LoadingTests {
    /// A minimal valid byte-level tokenizer.json with one component replaced.
    private func tokenizerJSON(replacing key: String, with value: String) -> Data {
        var parts: [String: String] = [
            "normalizer": "null", "pre_tokenizer": #"{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}"#,
            "post_processor": "null", "decoder": #"{"type":"ByteLevel"}"#,
            "model": #"{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}"#,
        ]
        parts[key] = value
        let body = parts.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        return Data("{\"version\": \"1.0\", \"added_tokens\": [], \(body)}".utf8)
    }

    @Test func minimalTokenizerEncodes() throws {
        let t = try Tokenizer(tokenizerJSON: tokenizerJSON(replacing: "normalizer", with: "null"))
        #expect(t.encode("abba") == [2, 1, 0])
        #expect(t.decode([2, 1, 0]) == "abba")
        #expect(t.vocabSize == 3)
    }

    @Test(arguments: [
        ("model", #"{"type":"Unigram","vocab":[]}"#, "Unigram"),
        ("normalizer", #"{"type":"Precompiled","precompiled_charsmap":""}"#, "Precompiled"),
        ("pre_tokenizer", #"{"type":"UnicodeScripts"}"#, "UnicodeScripts"),
        ("decoder", #"{"type":"CTC"}"#, "CTC"),
        ("post_processor", #"{"type":"Mystery"}"#, "Mystery"),
        ("pre_tokenizer", #"{"type":"Split","pattern":{"Regex":"(?<=x)"},"behavior":"Isolated","invert":false}"#, "(?<=x)"),
    ])
    func unsupportedComponentFailsNamingIt(key: String, value: String, name: String) {
        do {
            _ = try Tokenizer(tokenizerJSON: tokenizerJSON(replacing: key, with: value))
            Issue.record("\(name) was accepted")
        } catch {
            #expect(String(describing: error).contains(name), "\(error)")
        }
    }

    @Test func tokenizerConfigReadsTokensAndTemplates() throws {
        let json = #"""
        {"add_bos_token": true, "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
         "chat_template": [{"name": "default", "template": "{{ x }}"}, {"name": "tool_use", "template": "T"}]}
        """#
        let config = try TokenizerConfig(json: Data(json.utf8))
        #expect(config.bosToken == "<s>")
        #expect(config.eosToken == "</s>")
        #expect(config.addBOSToken && !config.addEOSToken)
        #expect(config.chatTemplate == "{{ x }}")
        #expect(config.chatTemplates["tool_use"] == "T")
        let plain = try TokenizerConfig(json: Data(#"{"chat_template": "abc"}"#.utf8), chatTemplateFile: "from file")
        #expect(plain.chatTemplate == "from file")
    }

    @Test func generationConfigAcceptsOneOrManyEOS() throws {
        #expect(try GenerationConfig(json: Data(#"{"eos_token_id": 7, "bos_token_id": 1}"#.utf8)).eosTokenIDs == [7])
        let many = try GenerationConfig(json: Data(#"{"eos_token_id": [1, 106]}"#.utf8))
        #expect(many.eosTokenIDs == [1, 106])
        #expect(many.bosTokenID == nil)
    }

    @Test func directoryLoadCombinesEOSFromBothConfigs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tern-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Fixtures.directory("qwen2").appendingPathComponent("tokenizer.json")
        try FileManager.default.copyItem(at: source, to: dir.appendingPathComponent("tokenizer.json"))
        try Data(#"{"eos_token": "<|im_end|>"}"#.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        try Data(#"{"eos_token_id": [0]}"#.utf8).write(to: dir.appendingPathComponent("generation_config.json"))
        try Data("{{ messages }}".utf8).write(to: dir.appendingPathComponent("chat_template.jinja"))
        let t = try Tokenizer(directory: dir)
        let imEnd = try #require(t.tokenID(for: "<|im_end|>"))
        #expect(t.eosTokenIDs == [0, imEnd])
        #expect(t.config?.chatTemplate == "{{ messages }}")
        #expect(t.specialTokenIDs.contains(imEnd))
    }

    @Test func tokenLookupsRoundTrip() throws {
        let t = try Fixtures.tokenizer("llama3")
        for id in [0, 5, 300, 1000, t.vocabSize - 1] {
            let token = try #require(t.token(for: id))
            #expect(t.tokenID(for: token) == id)
        }
        #expect(t.token(for: t.vocabSize + 10) == nil)
    }

    @Test func jsonReaderKeepsLeadingByteOrderMark() throws {
        let value = try JSONReader.parse(Data("[\"\u{FEFF}\u{FEFF}x\", \"\\ud83d\\ude00\"]".utf8)) as? [String]
        #expect(value?.first?.unicodeScalars.count == 3)
        #expect(value?.last == "😀")
    }
}
