import Hummingbird
import TernEngine

/// An error as the OpenAI API reports it: `{"error": {"message", "type", "param", "code"}}`
/// with a matching HTTP status.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func modelNotFound(_ name: String) -> APIError {
        APIError(status: .notFound, message: "The model '\(name)' does not exist.", type: "invalid_request_error",
                 param: "model", code: "model_not_found")
    }

    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "The request body exceeds the limit of \(limit) bytes.",
                 type: "invalid_request_error", code: "request_too_large")
    }

    public static func notFound(_ path: String) -> APIError {
        APIError(status: .notFound, message: "No route for \(path).", type: "invalid_request_error", code: "not_found")
    }

    public static func unavailable(_ message: String) -> APIError {
        APIError(status: .serviceUnavailable, message: message, type: "server_error", code: "service_unavailable")
    }

    public static func internalError(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", code: "internal_error")
    }

    /// The JSON body.
    public var json: [UInt8] {
        var w = JSONWriter()
        w.object { w in
            w.key("error")
            w.object { w in
                w.field("message", message)
                w.field("type", type)
                w.field("param", param)
                w.field("code", code)
            }
        }
        return w.bytes
    }
}

extension APIError {
    /// Maps an engine refusal onto the HTTP error a client should see.
    public init(_ error: EngineError) {
        switch error {
        case .emptyPrompt:
            self = .invalid(error.description, param: "prompt")
        case let .invalidParameter(name, _):
            self = .invalid(error.description, param: name)
        case .invalidToken:
            self = .invalid(error.description, param: "prompt", code: "invalid_token")
        case .promptTooLong, .exceedsKVPool:
            self = .invalid(error.description, param: "prompt", code: "context_length_exceeded")
        case .duplicateRequestID:
            self = .invalid(error.description, param: "rid")
        case .stopStringsNeedTextDecoder:
            self = .invalid(error.description, param: "stop")
        case .modelFailed:
            self = .internalError(error.description)
        case .shutDown, .transferFailed:
            self = .unavailable(error.description)
        }
    }

    /// Any error thrown while serving a request, as an API error.
    public static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as EngineError: return APIError(e)
        default: return .internalError(String(describing: error))
        }
    }
}
