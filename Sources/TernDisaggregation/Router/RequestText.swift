import Foundation

/// What the router reads from and writes into request bodies without decoding them fully.
enum RequestText {
    /// The text a request's prefix cache reuse depends on: `prompt` / `text` (the first of a batch),
    /// chat `messages` (roles and contents in order), or `input_ids`. Empty when there is none.
    static func routingKey(_ body: [UInt8]) -> [UInt8] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return [] }
        if let messages = object["messages"] as? [[String: Any]] {
            var text = ""
            for message in messages {
                text += "<\(message["role"] as? String ?? "")>"
                if let content = message["content"] as? String {
                    text += content
                } else if let parts = message["content"] as? [[String: Any]] {
                    for part in parts { text += part["text"] as? String ?? "" }
                }
            }
            return Array(text.utf8)
        }
        for field in ["prompt", "text", "input_ids"] {
            guard let value = object[field] else { continue }
            return Array(describe(value).utf8)
        }
        return []
    }

    private static func describe(_ value: Any) -> String {
        switch value {
        case let s as String: return s
        case let list as [Any]:
            if let first = list.first, first is String || first is [Any] { return describe(first) }
            // Token ids: fixed-width so block boundaries line up with tokens.
            return list.map { String(describing: $0) }.joined(separator: ",")
        default: return String(describing: value)
        }
    }

    /// The body with SGLang's bootstrap fields added as the object's first members.
    static func injectBootstrap(_ body: [UInt8], host: String, port: Int, room: UInt64) -> [UInt8]? {
        guard let open = body.firstIndex(where: { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }),
              body[open] == UInt8(ascii: "{") else { return nil }
        let rest = body[(open + 1)...]
        let empty = rest.first(where: { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }) == UInt8(ascii: "}")
        let escapedHost = host.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        let fields = "\"bootstrap_host\":\"\(escapedHost)\",\"bootstrap_port\":\(port),\"bootstrap_room\":\(room)" + (empty ? "" : ",")
        return Array(body[...open]) + Array(fields.utf8) + Array(rest)
    }

    /// Whether the request asks for a stream.
    static func isStream(_ body: [UInt8]) -> Bool {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return false }
        return object["stream"] as? Bool ?? false
    }
}
