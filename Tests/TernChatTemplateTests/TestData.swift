import Foundation
import TernChatTemplate

/// Locates the committed test data next to this file (no SwiftPM resources are declared).
enum TestData {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Data")

    static func template(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent("templates/\(name).jinja"), encoding: .utf8)
    }

    /// The reference renders written by scripts/chat_template/make_chat_fixtures.py.
    static func fixtureCases() throws -> [JinjaObject] {
        let data = try Data(contentsOf: directory.appendingPathComponent("chat_fixtures.json"))
        guard case .object(let root) = try JinjaValue.parse(jsonData: data),
            case .array(let cases)? = root["cases"]
        else { throw CocoaError(.fileReadCorruptFile) }
        return cases.compactMap { if case .object(let o) = $0 { return o } else { return nil } }
    }
}

extension JinjaValue {
    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
