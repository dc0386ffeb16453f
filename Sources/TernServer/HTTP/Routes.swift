import Hummingbird
import Logging
import NIOCore

extension ModelService {
    /// Every endpoint. Handlers answer errors themselves (OpenAI's JSON error shape) rather than
    /// letting Hummingbird render its own.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let limit = options.maxRequestBodyBytes

        /// Wraps a handler that reads a JSON body: size limit, error mapping, error counting.
        func withBody(_ handler: @escaping @Sendable (Request, ByteBuffer) async throws -> Response)
            -> @Sendable (Request, BasicRequestContext) async throws -> Response {
            { [self] request, _ in
                // `collectBody` (not `body.collect`) keeps the connection's part stream attached, so a
                // streaming response can still watch it for the client going away.
                var request = request
                do {
                    if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                        throw APIError.bodyTooLarge(limit: limit)
                    }
                    let body: ByteBuffer
                    do {
                        body = try await request.collectBody(upTo: limit)
                    } catch let error as HTTPError where error.status == .contentTooLarge {
                        throw APIError.bodyTooLarge(limit: limit)
                    } catch is NIOTooManyBytesError {
                        throw APIError.bodyTooLarge(limit: limit)
                    }
                    return try await handler(request, body)
                } catch {
                    return self.errorResponse(error, path: request.uri.path)
                }
            }
        }

        router.post("v1/completions", use: withBody { [self] in try await completions(request: $0, body: $1) })
        router.post("v1/chat/completions", use: withBody { [self] in try await chatCompletions(request: $0, body: $1) })
        router.post("generate", use: withBody { [self] in try await generate(request: $0, body: $1) })
        router.post("tokenize", use: withBody { [self] in try tokenize(body: $1) })
        router.post("detokenize", use: withBody { [self] in try detokenize(body: $1) })
        router.get("v1/models") { [self] _, _ in listModels() }
        router.get("v1/models/:id") { [self] _, context in retrieveModel(context.parameters.get("id") ?? "") }
        router.get("health") { _, _ in Response(status: .ok) }
        router.get("health_generate") { [self] _, _ in await healthGenerate() }
        router.get("get_server_info") { [self] _, _ in serverInfo() }
        router.get("server_info") { [self] _, _ in serverInfo() }
        router.get("get_model_info") { [self] _, _ in modelInfo() }
        router.get("metrics") { [self] _, _ in prometheusMetrics() }
        return router
    }

    func errorResponse(_ error: any Error, path: String) -> Response {
        let api = APIError.from(error)
        metrics.requestErrors.increment()
        if api.status.code >= 500 {
            logger.error("request failed", metadata: ["path": .string(path), "error": .string(api.description)])
        } else {
            logger.info("request refused", metadata: ["path": .string(path), "error": .string(api.description)])
        }
        return Responses.error(api)
    }
}
