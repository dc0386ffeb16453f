import Foundation

/// Builds the pipeline components from the parsed tokenizer.json object.
struct TokenizerLoader {
    typealias Object = [String: Any]

    static func object(_ value: Any?, _ what: String) throws -> Object {
        guard let o = value as? Object else { throw TokenizerError.invalidJSON("\(what) is not an object") }
        return o
    }

    static func type(of o: Object, _ component: String) throws -> String {
        guard let t = o["type"] as? String else { throw TokenizerError.invalidJSON("\(component) without type") }
        return t
    }

    static func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

    /// `{"String": "..."}` or `{"Regex": "..."}`.
    static func pattern(_ value: Any?, _ component: String) throws -> SplitPattern {
        let o = try object(value, "\(component) pattern")
        if let s = o["String"] as? String { return .literal(scalars(s)) }
        if let r = o["Regex"] as? String {
            do { return .regex(try CompiledRegex(r)) } catch let e as RegexSyntaxError {
                throw TokenizerError.unsupported(component: "\(component) regex", type: e.description)
            }
        }
        throw TokenizerError.invalidJSON("\(component) pattern must be String or Regex")
    }

    static func behavior(_ value: Any?) throws -> SplitBehavior {
        let name = (value as? String) ?? "Isolated"
        guard let b = SplitBehavior(rawValue: name) else {
            throw TokenizerError.unsupported(component: "split behavior", type: name)
        }
        return b
    }

    static func normalizer(_ value: Any?) throws -> Normalizer? {
        guard let value, !(value is NSNull) else { return nil }
        let o = try object(value, "normalizer")
        let t = try type(of: o, "normalizer")
        switch t {
        case "Sequence":
            let list = (o["normalizers"] as? [Any]) ?? []
            return .sequence(try list.compactMap { try normalizer($0) })
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Strip": return .strip(left: (o["strip_left"] as? Bool) ?? true, right: (o["strip_right"] as? Bool) ?? true)
        case "Prepend": return .prepend(scalars((o["prepend"] as? String) ?? ""))
        case "Replace":
            return .replace(try pattern(o["pattern"], "Replace normalizer"), with: scalars((o["content"] as? String) ?? ""))
        case "StripAccents": return .stripAccents
        default: throw TokenizerError.unsupported(component: "normalizer", type: t)
        }
    }

    static func preTokenizer(_ value: Any?) throws -> PreTokenizer? {
        guard let value, !(value is NSNull) else { return nil }
        let o = try object(value, "pre_tokenizer")
        let t = try type(of: o, "pre_tokenizer")
        switch t {
        case "Sequence":
            let steps = try ((o["pretokenizers"] as? [Any]) ?? []).compactMap { try preTokenizer($0) }
            // The model reads byte-level input as raw UTF-8, so nothing may run on the mapped characters.
            if let i = steps.firstIndex(where: { $0.containsByteLevel }), i != steps.count - 1 {
                throw TokenizerError.unsupported(component: "pre_tokenizer", type: "Sequence with steps after ByteLevel")
            }
            return .sequence(steps)
        case "Split":
            return .split(try pattern(o["pattern"], "Split pre_tokenizer"), behavior: try behavior(o["behavior"]),
                          invert: (o["invert"] as? Bool) ?? false)
        case "ByteLevel":
            let useRegex = (o["use_regex"] as? Bool) ?? true
            return .byteLevel(addPrefixSpace: (o["add_prefix_space"] as? Bool) ?? true,
                              regex: useRegex ? try CompiledRegex(PreTokenizer.gpt2Pattern) : nil)
        case "Metaspace":
            let replacement = ((o["replacement"] as? String) ?? "\u{2581}").unicodeScalars.first?.value ?? 0x2581
            let scheme: PrependScheme
            if let s = o["prepend_scheme"] as? String {
                guard let p = PrependScheme(rawValue: s) else { throw TokenizerError.unsupported(component: "Metaspace prepend_scheme", type: s) }
                scheme = p
            } else {
                scheme = ((o["add_prefix_space"] as? Bool) ?? true) ? .always : .never
            }
            return .metaspace(replacement: replacement, prependScheme: scheme, split: (o["split"] as? Bool) ?? true)
        case "Digits": return .digits(individual: (o["individual_digits"] as? Bool) ?? false)
        case "Punctuation": return .punctuation(try behavior(o["behavior"]))
        case "Whitespace": return .whitespace(try CompiledRegex(#"\w+|[^\w\s]+"#, rustWord: true))
        case "WhitespaceSplit": return .whitespaceSplit
        case "BertPreTokenizer": return .bert
        default: throw TokenizerError.unsupported(component: "pre_tokenizer", type: t)
        }
    }

    static func decoder(_ value: Any?) throws -> Decoder? {
        guard let value, !(value is NSNull) else { return nil }
        let o = try object(value, "decoder")
        let t = try type(of: o, "decoder")
        switch t {
        case "Sequence": return .sequence(try ((o["decoders"] as? [Any]) ?? []).compactMap { try decoder($0) })
        case "ByteLevel": return .byteLevel
        case "Metaspace":
            let replacement = ((o["replacement"] as? String) ?? "\u{2581}").unicodeScalars.first ?? "\u{2581}"
            let scheme: PrependScheme
            if let s = o["prepend_scheme"] as? String { scheme = PrependScheme(rawValue: s) ?? .always }
            else { scheme = ((o["add_prefix_space"] as? Bool) ?? true) ? .always : .never }
            return .metaspace(replacement: replacement, prependScheme: scheme)
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            let content = ((o["content"] as? String) ?? " ").unicodeScalars.first ?? " "
            return .strip(content: content, start: (o["start"] as? Int) ?? 0, stop: (o["stop"] as? Int) ?? 0)
        case "Replace":
            let p = try object(o["pattern"], "Replace decoder pattern")
            guard let s = p["String"] as? String else {
                throw TokenizerError.unsupported(component: "decoder", type: "Replace with a Regex pattern")
            }
            return .replace(pattern: s, content: (o["content"] as? String) ?? "")
        case "BPEDecoder": return .bpe(suffix: (o["suffix"] as? String) ?? "</w>")
        default: throw TokenizerError.unsupported(component: "decoder", type: t)
        }
    }

    /// `tokenID` resolves token strings named in the template's special_tokens table.
    static func postProcessor(_ value: Any?, tokenID: (String) -> Int?) throws -> PostProcessor? {
        guard let value, !(value is NSNull) else { return nil }
        let o = try object(value, "post_processor")
        let t = try type(of: o, "post_processor")
        switch t {
        case "Sequence":
            return .sequence(try ((o["processors"] as? [Any]) ?? []).compactMap { try postProcessor($0, tokenID: tokenID) })
        case "ByteLevel": return .byteLevel
        case "TemplateProcessing":
            let specials = (o["special_tokens"] as? Object) ?? [:]
            var pieces: [PostProcessor.TemplatePiece] = []
            for item in (o["single"] as? [Any]) ?? [] {
                let entry = try object(item, "template item")
                if entry["Sequence"] != nil {
                    pieces.append(.sequence)
                } else if let special = entry["SpecialToken"] as? Object, let name = special["id"] as? String {
                    if let info = specials[name] as? Object, let ids = info["ids"] as? [Int] {
                        pieces.append(.ids(ids))
                    } else if let id = tokenID(name) {
                        pieces.append(.ids([id]))
                    } else {
                        throw TokenizerError.invalid("template special token \(name) has no id")
                    }
                }
            }
            return .template(pieces)
        case "RobertaProcessing", "BertProcessing":
            func id(_ key: String) throws -> Int {
                guard let pair = o[key] as? [Any], pair.count == 2, let id = pair[1] as? Int else {
                    throw TokenizerError.invalid("\(t) without \(key)")
                }
                return id
            }
            return .wrap(prefix: [try id("cls")], suffix: [try id("sep")])
        default: throw TokenizerError.unsupported(component: "post_processor", type: t)
        }
    }

    static func addedTokens(_ value: Any?) throws -> [AddedToken] {
        try ((value as? [Any]) ?? []).map { item in
            let o = try object(item, "added token")
            guard let id = o["id"] as? Int, let content = o["content"] as? String else {
                throw TokenizerError.invalidJSON("added token without id/content")
            }
            let special = (o["special"] as? Bool) ?? false
            return AddedToken(id: id, content: content, singleWord: (o["single_word"] as? Bool) ?? false,
                              lstrip: (o["lstrip"] as? Bool) ?? false, rstrip: (o["rstrip"] as? Bool) ?? false,
                              normalized: (o["normalized"] as? Bool) ?? !special, special: special)
        }
    }

    static func bpeModel(_ value: Any?, byteLevelInput: Bool) throws -> BPEModel {
        let o = try object(value, "model")
        let t = (o["type"] as? String) ?? "BPE"
        guard t == "BPE" else { throw TokenizerError.unsupported(component: "model", type: t) }
        if let dropout = o["dropout"] as? Double, dropout > 0 {
            throw TokenizerError.unsupported(component: "BPE option", type: "dropout")
        }
        guard let vocabPairs = o["vocab"] as? RawJSONObject else { throw TokenizerError.invalidJSON("BPE vocab") }
        // Token text (UTF-8 bytes, so canonically equivalent tokens stay distinct) -> id.
        var rawVocab = ByteStringTable(capacity: vocabPairs.pairs.count)
        var maxID = -1
        for (key, value) in vocabPairs.pairs {
            guard let id = value as? Int, id >= 0 else { throw TokenizerError.invalidJSON("BPE vocab id") }
            rawVocab.insert(key, value: Int32(id))
            maxID = max(maxID, id)
        }
        var idToToken = [String?](repeating: nil, count: maxID + 1)
        // The model's own table: for byte-level input keyed by the raw bytes a token stands for.
        var vocab = byteLevelInput ? ByteStringTable(capacity: vocabPairs.pairs.count) : rawVocab
        for (utf8, value) in vocabPairs.pairs {
            let id = value as! Int
            let token = String(decoding: utf8, as: UTF8.self)
            idToToken[id] = token
            if byteLevelInput {
                // Tokens outside the byte alphabet (added tokens in the vocab) get a key no input can produce.
                vocab.insert(ByteLevelAlphabet.bytes(of: token) ?? ([0xFF, 0xFF] + utf8), value: Int32(id))
            }
        }
        let mergeList = (o["merges"] as? [Any]) ?? []
        var merges = MergeTable(capacity: mergeList.count)
        let prefix = Array(((o["continuing_subword_prefix"] as? String) ?? "").utf8)
        var joined: [UInt8] = []
        for (rank, entry) in mergeList.enumerated() {
            // `joined` holds left+right bytes; `leftCount` marks the boundary.
            var leftCount = -1
            if var s = entry as? String {
                s.withUTF8 { u in
                    guard let space = u.firstIndex(of: 0x20) else { return }
                    joined.removeAll(keepingCapacity: true)
                    joined.append(contentsOf: UnsafeBufferPointer(rebasing: u[..<space]))
                    joined.append(contentsOf: UnsafeBufferPointer(rebasing: u[(space + 1)...]))
                    leftCount = space
                }
            } else if let pair = entry as? [String], pair.count == 2 {
                joined = Array(pair[0].utf8) + Array(pair[1].utf8)
                leftCount = pair[0].utf8.count
            }
            guard leftCount >= 0 else { throw TokenizerError.invalidJSON("merge entry \(rank)") }
            let ids: (Int32, Int32, Int32)? = joined.withUnsafeBufferPointer { all in
                let left = UnsafeBufferPointer(rebasing: all[..<leftCount])
                let right = UnsafeBufferPointer(rebasing: all[leftCount...])
                guard let a = rawVocab.lookup(left), let b = rawVocab.lookup(right) else { return nil }
                // The merged token drops the right side's continuing-subword prefix.
                if !prefix.isEmpty, right.starts(with: prefix) {
                    return (a, b, rawVocab.lookup(Array(left) + Array(right.dropFirst(prefix.count))) ?? -1)
                }
                return (a, b, rawVocab.lookup(all) ?? -1)
            }
            guard let (a, b, merged) = ids, merged >= 0 else {
                let text = String(decoding: joined, as: UTF8.self)
                throw TokenizerError.invalid("merge of rank \(rank) (\(text)) uses or makes a token outside the vocab")
            }
            merges.insert(left: a, right: b, rank: Int32(rank), merged: merged)
        }
        var byteSymbolIds = [Int32](repeating: -1, count: 256)
        if byteLevelInput {
            for b in 0..<256 { byteSymbolIds[b] = vocab.lookup([UInt8(b)]) ?? -1 }
        }
        var byteFallbackIds: [Int32] = []
        if (o["byte_fallback"] as? Bool) ?? false {
            byteFallbackIds = (0..<256).map { b in rawVocab.lookup(Array(String(format: "<0x%02X>", b).utf8)) ?? -1 }
        }
        let unkId = (o["unk_token"] as? String).flatMap { rawVocab.lookup(Array($0.utf8)) }
        return BPEModel(
            idToToken: idToToken, vocab: vocab, merges: merges, byteLevelInput: byteLevelInput,
            byteSymbolIds: byteSymbolIds, byteFallbackIds: byteFallbackIds, unkId: unkId,
            fuseUnk: (o["fuse_unk"] as? Bool) ?? false, ignoreMerges: (o["ignore_merges"] as? Bool) ?? false,
            continuingSubwordPrefix: Array(((o["continuing_subword_prefix"] as? String) ?? "").utf8),
            endOfWordSuffix: Array(((o["end_of_word_suffix"] as? String) ?? "").utf8))
    }
}
