import Foundation

/// The parts of tokenizer_config.json a server needs: special token strings, BOS/EOS policy, chat templates.
public struct TokenizerConfig: Sendable {
    public var bosToken: String?
    public var eosToken: String?
    public var padToken: String?
    public var unkToken: String?
    public var addBOSToken: Bool
    public var addEOSToken: Bool
    /// The default chat template (`chat_template` string, the entry named "default", or chat_template.jinja).
    public var chatTemplate: String?
    /// Every named template, including "default" when one exists.
    public var chatTemplates: [String: String]

    public init(json: Data, chatTemplateFile: String? = nil) throws {
        guard let o = try JSONReader.parse(json) as? [String: Any] else {
            throw TokenizerError.invalidJSON("tokenizer_config.json is not an object")
        }
        func tokenString(_ v: Any?) -> String? {
            if let s = v as? String { return s }
            if let d = v as? [String: Any] { return d["content"] as? String }
            return nil
        }
        bosToken = tokenString(o["bos_token"])
        eosToken = tokenString(o["eos_token"])
        padToken = tokenString(o["pad_token"])
        unkToken = tokenString(o["unk_token"])
        addBOSToken = (o["add_bos_token"] as? Bool) ?? false
        addEOSToken = (o["add_eos_token"] as? Bool) ?? false
        chatTemplates = [:]
        if let s = o["chat_template"] as? String {
            chatTemplates["default"] = s
        } else if let list = o["chat_template"] as? [[String: Any]] {
            for entry in list {
                if let name = entry["name"] as? String, let template = entry["template"] as? String {
                    chatTemplates[name] = template
                }
            }
        }
        if let file = chatTemplateFile { chatTemplates["default"] = file }
        chatTemplate = chatTemplates["default"]
    }

    /// Nil when the directory has no tokenizer_config.json (and no chat_template.jinja).
    static func load(directory: URL) throws -> TokenizerConfig? {
        let jinja = directory.appendingPathComponent("chat_template.jinja")
        let template = FileManager.default.contents(atPath: jinja.path).map { String(decoding: $0, as: UTF8.self) }
        let file = directory.appendingPathComponent("tokenizer_config.json")
        if let data = FileManager.default.contents(atPath: file.path) {
            return try TokenizerConfig(json: data, chatTemplateFile: template)
        }
        if template != nil { return try TokenizerConfig(json: Data("{}".utf8), chatTemplateFile: template) }
        return nil
    }
}

/// generation_config.json: the ids generation stops on and starts with.
public struct GenerationConfig: Sendable {
    public var bosTokenID: Int?
    /// All end-of-sequence ids (`eos_token_id` may be one id or a list).
    public var eosTokenIDs: [Int]

    public init(json: Data) throws {
        guard let o = try JSONReader.parse(json) as? [String: Any] else {
            throw TokenizerError.invalidJSON("generation_config.json is not an object")
        }
        bosTokenID = o["bos_token_id"] as? Int
        if let one = o["eos_token_id"] as? Int { eosTokenIDs = [one] }
        else { eosTokenIDs = (o["eos_token_id"] as? [Int]) ?? [] }
    }

    static func load(directory: URL) throws -> GenerationConfig? {
        let file = directory.appendingPathComponent("generation_config.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        return try GenerationConfig(json: data)
    }
}

extension Tokenizer {
    /// Every id that ends generation: generation_config's eos ids plus tokenizer_config's eos token.
    public var eosTokenIDs: Set<Int> {
        var ids = Set(generationConfig?.eosTokenIDs ?? [])
        if let eos = config?.eosToken, let id = tokenID(for: eos) { ids.insert(id) }
        return ids
    }

    public var bosTokenID: Int? {
        if let bos = config?.bosToken, let id = tokenID(for: bos) { return id }
        return generationConfig?.bosTokenID
    }
}
