import Hummingbird
import NIOCore

/// Small constructors for the responses the handlers return.
enum Responses {
    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: jsonHeaders, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json(status: HTTPResponse.Status = .ok, _ write: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter()
        write(&w)
        return json(w.bytes, status: status)
    }

    static func error(_ error: APIError) -> Response { json(error.json, status: error.status) }

    static func text(_ bytes: [UInt8], contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Server-Sent Events framing: `data: <json>\n\n` per event, `data: [DONE]\n\n` at the end.
struct SSEWriter {
    private var writer: any ResponseBodyWriter
    private var buffer = ByteBuffer()

    init(_ writer: any ResponseBodyWriter) { self.writer = writer }

    /// Queues one event; `flush` sends what is queued in one write.
    mutating func event(_ json: [UInt8]) {
        buffer.writeString("data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
    }

    mutating func done() { buffer.writeString("data: [DONE]\n\n") }

    mutating func flush() async throws {
        guard buffer.readableBytes > 0 else { return }
        try await writer.write(buffer)
        buffer.clear()
    }

    mutating func finish() async throws {
        try await flush()
        try await writer.finish(nil)
    }
}

extension Responses {
    /// The connection closes after an event stream (watching it for the client leaving consumes
    /// it), so say so: clients must not reuse it for another request.
    static let sseHeaders: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "close"]

    /// A streaming response whose producer is cancelled when the client closes its connection
    /// (the cancellation reaches the engine stream, which aborts the request and frees its pages).
    static func eventStream(request: Request, _ produce: @escaping @Sendable (inout SSEWriter) async throws -> Void) -> Response {
        Response(status: .ok, headers: sseHeaders, body: ResponseBody { writer in
            var sse = SSEWriter(writer)
            try await request.body.consumeWithCancellationOnInboundClose { _ in
                try await produce(&sse)
            }
            try await sse.finish()
        })
    }
}
