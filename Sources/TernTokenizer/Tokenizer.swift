import Foundation

/// A Hugging Face `tokenizer.json` tokenizer: added tokens, normalizer, pre-tokenizer, BPE model,
/// post-processor and decoder, producing the same ids as the `tokenizers` library.
public final class Tokenizer: Sendable {
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let postProcessor: PostProcessor?
    let decoder: Decoder?
    /// Added tokens matched on the raw text / on the normalized text.
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    let addedTokensByID: [Int: AddedToken]
    let addedTokenIDs: [String: Int]
    /// Settings from tokenizer_config.json / generation_config.json when loaded from a directory.
    public let config: TokenizerConfig?
    public let generationConfig: GenerationConfig?

    public let specialTokenIDs: Set<Int>
    /// Number of ids: model vocabulary plus added tokens beyond it.
    public let vocabSize: Int
    public var addedTokens: [AddedToken] { addedTokensByID.values.sorted { $0.id < $1.id } }

    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json`, `chat_template.jinja` and
    /// `generation_config.json` from `directory`.
    public convenience init(directory: URL) throws {
        let file = directory.appendingPathComponent("tokenizer.json")
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw TokenizerError.fileNotFound(file.path)
        }
        try self.init(tokenizerJSON: data, config: try TokenizerConfig.load(directory: directory),
                      generationConfig: try GenerationConfig.load(directory: directory))
    }

    public convenience init(tokenizerJSON: Data) throws {
        try self.init(tokenizerJSON: tokenizerJSON, config: nil, generationConfig: nil)
    }

    public init(tokenizerJSON: Data, config: TokenizerConfig?, generationConfig: GenerationConfig?) throws {
        let root: TokenizerLoader.Object
        do {
            root = try TokenizerLoader.object(try JSONReader.parse(tokenizerJSON), "tokenizer.json")
        } catch let e as TokenizerError { throw e } catch {
            throw TokenizerError.invalidJSON(String(describing: error))
        }
        if let truncation = root["truncation"], !(truncation is NSNull) {
            // Truncation and padding only shape batches; ids of a single encode are unaffected until max_length.
            _ = truncation
        }
        let normalizer = try TokenizerLoader.normalizer(root["normalizer"])
        let preTokenizer = try TokenizerLoader.preTokenizer(root["pre_tokenizer"])
        let model = try TokenizerLoader.bpeModel(root["model"], byteLevelInput: preTokenizer?.containsByteLevel ?? false)
        let added = try TokenizerLoader.addedTokens(root["added_tokens"])
        var byID: [Int: AddedToken] = [:]
        var idsByContent: [String: Int] = [:]
        var raw = AddedTokenMatcher()
        var normalized = AddedTokenMatcher()
        // HF matches special tokens first, then the others, each in file order.
        for token in added.filter(\.special) + added.filter({ !$0.special }) {
            byID[token.id] = token
            idsByContent[token.content] = token.id
            let pattern = TokenizerLoader.scalars(token.content)
            if token.normalized {
                normalized.add(token, pattern: normalizer?.apply(pattern) ?? pattern)
            } else {
                raw.add(token, pattern: pattern)
            }
        }
        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = try TokenizerLoader.decoder(root["decoder"])
        self.rawMatcher = raw
        self.normalizedMatcher = normalized
        self.addedTokensByID = byID
        self.addedTokenIDs = idsByContent
        self.specialTokenIDs = Set(added.filter(\.special).map(\.id))
        self.vocabSize = max(model.vocabCount, (added.map(\.id).max() ?? -1) + 1)
        self.config = config
        self.generationConfig = generationConfig
        let modelVocab = model
        self.postProcessor = try TokenizerLoader.postProcessor(root["post_processor"]) { name in
            idsByContent[name] ?? modelVocab.idToToken.firstIndex(of: name)
        }
    }

    public func tokenID(for token: String) -> Int? {
        if let id = addedTokenIDs[token] { return id }
        let key: [UInt8]
        if model.byteLevelInput {
            guard let bytes = ByteLevelAlphabet.bytes(of: token) else {
                return model.idToToken.firstIndex(of: token)
            }
            key = bytes
        } else {
            key = Array(token.utf8)
        }
        return model.vocab.lookup(key).map(Int.init)
    }

    public func token(for id: Int) -> String? {
        if let added = addedTokensByID[id] { return added.content }
        guard id >= 0, id < model.idToToken.count else { return nil }
        return model.idToToken[id]
    }

    // MARK: encode

    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var out: [Int32] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        var scratch = EncodeScratch()
        let scalars = Self.scalars(of: text)
        for span in rawMatcher.split(scalars) {
            switch span {
            case let .token(id):
                out.append(Int32(id))
            case let .text(range):
                var segment = Array(scalars[range])
                if let normalizer { segment = normalizer.apply(segment) }
                for inner in normalizedMatcher.split(segment) {
                    switch inner {
                    case let .token(id):
                        out.append(Int32(id))
                    case let .text(innerRange):
                        let startsInput = range.lowerBound == 0 && innerRange.lowerBound == 0
                        encodeSegment(Array(segment[innerRange]), startsInput: startsInput, into: &out, scratch: &scratch)
                    }
                }
            }
        }
        let ids = out.map(Int.init)
        if addSpecialTokens, let postProcessor { return postProcessor.apply(ids) }
        return ids
    }

    /// The text's scalar values, decoded straight from its UTF-8.
    static func scalars(of text: String) -> [UInt32] {
        var text = text
        return text.withUTF8 { utf8 in
            var out = [UInt32]()
            out.reserveCapacity(utf8.count)
            var i = 0
            let n = utf8.count
            while i < n {
                let b = UInt32(utf8[i])
                if b < 0x80 {
                    out.append(b)
                    i += 1
                } else if b < 0xE0 {
                    out.append((b & 0x1F) << 6 | UInt32(utf8[i + 1] & 0x3F))
                    i += 2
                } else if b < 0xF0 {
                    out.append((b & 0x0F) << 12 | UInt32(utf8[i + 1] & 0x3F) << 6 | UInt32(utf8[i + 2] & 0x3F))
                    i += 3
                } else {
                    out.append((b & 0x07) << 18 | UInt32(utf8[i + 1] & 0x3F) << 12 | UInt32(utf8[i + 2] & 0x3F) << 6
                        | UInt32(utf8[i + 3] & 0x3F))
                    i += 4
                }
            }
            return out
        }
    }

    struct EncodeScratch {
        var preTokenizer = PreTokenizerScratch()
        var model = BPEModel.Scratch()
        var bytes: [UInt8] = []
    }

    private func encodeSegment(_ scalars: [UInt32], startsInput: Bool, into out: inout [Int32],
                               scratch: inout EncodeScratch) {
        var pieces = TextPieces(scalars: scalars, startsInput: startsInput)
        preTokenizer?.apply(&pieces, scratch: &scratch.preTokenizer)
        pieces.scalars.withUnsafeBufferPointer { buffer in
            for piece in pieces.pieces {
                scratch.bytes.removeAll(keepingCapacity: true)
                UTF8Scalars.encode(buffer, piece, into: &scratch.bytes)
                scratch.bytes.withUnsafeBufferPointer { bytes in
                    model.tokenize(bytes, into: &out, scratch: &scratch.model)
                }
            }
        }
    }

    // MARK: decode

    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if skipSpecialTokens, specialTokenIDs.contains(id) { continue }
            if let t = token(for: id) { tokens.append(t) }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }
}
