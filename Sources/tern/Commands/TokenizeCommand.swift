import ArgumentParser
import Foundation
import TernTokenizer

/// `tern tokenize --model DIR (--text T | --file F) [--add-special-tokens]`: prints `{"ids": [...]}`.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode text with a model's tokenizer.json and print the ids as JSON.")

    @Option(name: .long, help: "Directory holding tokenizer.json (and optionally tokenizer_config.json).")
    var model: String

    @Option(name: .long, help: "Text to encode.")
    var text: String?

    @Option(name: .long, help: "File whose UTF-8 contents are encoded.")
    var file: String?

    @Flag(name: .long, help: "Add the special tokens of the tokenizer's post-processor (for example BOS).")
    var addSpecialTokens = false

    func validate() throws {
        if (text == nil) == (file == nil) { throw ValidationError("give exactly one of --text or --file") }
    }

    func run() throws {
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
        let input: String
        if let text {
            input = text
        } else if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            input = String(decoding: data, as: UTF8.self)
        } else {
            input = ""
        }
        let ids = tokenizer.encode(input, addSpecialTokens: addSpecialTokens)
        print("{\"ids\": [" + ids.map(String.init).joined(separator: ", ") + "]}")
    }
}
