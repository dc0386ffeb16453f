import Foundation
import Hummingbird
import TernEngine

/// Models list, health, tokenizer and server-info endpoints.
extension ModelService {
    func modelCard(_ w: inout JSONWriter) {
        w.object { w in
            w.field("id", servedModelName)
            w.field("object", "model")
            w.field("created", created)
            w.field("owned_by", "tern")
            w.field("root", modelPath)
            w.field("max_model_len", contextLength)
        }
    }

    func listModels() -> Response {
        Responses.json { w in
            w.object { w in
                w.field("object", "list")
                w.key("data")
                w.array { w in modelCard(&w) }
            }
        }
    }

    func retrieveModel(_ name: String) -> Response {
        guard answersTo(name) else { return Responses.error(.modelNotFound(name)) }
        return Responses.json { w in modelCard(&w) }
    }

    /// Runs one token through the whole engine (GET /health_generate).
    func healthGenerate() async -> Response {
        let bos = tokenizer?.bosTokenID ?? 0
        var params = SamplingParams.greedy
        params.maxNewTokens = 1
        params.ignoreEOS = true
        let prompt = PreparedPrompt(ids: [bos], params: params, skipSpecialTokens: true)
        do {
            let out = try await generateAll([prompt], requestID: makeRequestID(prefix: "health"))
            guard out.first?.first?.tokenIDs.count == 1 else { return Responses.error(.unavailable("the engine produced no token")) }
            return Response(status: .ok)
        } catch {
            return Responses.error(.unavailable("health check generation failed: \(error)"))
        }
    }

    /// POST /tokenize: `{"prompt"|"text": string, "add_special_tokens"}` → `{"tokens", "count", "max_model_len"}`.
    func tokenize(body: ByteBuffer) throws -> Response {
        let fields = try RequestFields(body: body.readableBytesView)
        try checkModel(fields)
        let name = fields.has("prompt") ? "prompt" : "text"
        guard let text = try fields.string(name) else {
            throw APIError.invalid("'prompt' (a string) is required.", param: "prompt", code: "missing_field")
        }
        let ids = try requireTokenizer(param: name).encode(text, addSpecialTokens: try fields.bool("add_special_tokens") ?? true)
        return Responses.json { w in
            w.object { w in
                w.field("tokens", ids)
                w.field("count", ids.count)
                w.field("max_model_len", contextLength)
            }
        }
    }

    /// POST /detokenize: `{"tokens": [ids]}` → `{"text"}` (also under vLLM's key `prompt`).
    func detokenize(body: ByteBuffer) throws -> Response {
        let fields = try RequestFields(body: body.readableBytesView)
        try checkModel(fields)
        guard let ids = try fields.ints("tokens") else {
            throw APIError.invalid("'tokens' (a list of token ids) is required.", param: "tokens", code: "missing_field")
        }
        _ = try tokens(of: .tokens(ids), param: "tokens")
        let text = try requireTokenizer(param: "tokens").decode(ids, skipSpecialTokens: try fields.bool("skip_special_tokens") ?? false)
        return Responses.json { w in
            w.object { w in
                w.field("text", text)
                w.field("prompt", text)
            }
        }
    }

    func serverInfo() -> Response {
        let m = engine.metrics()
        let c = engineConfig
        return Responses.json { w in
            w.object { w in
                w.field("model_path", modelPath)
                w.field("served_model_name", servedModelName)
                w.field("device", device)
                w.field("host", options.host)
                w.field("port", options.port)
                w.field("context_length", contextLength)
                w.field("page_size", c.pageSize)
                w.field("max_total_num_tokens", m.kvPagesTotal * m.pageSize)
                w.field("chunked_prefill_size", c.chunkedPrefillSize)
                w.field("max_prefill_tokens", c.maxPrefillTokens)
                w.field("max_running_requests", c.maxRunningRequests)
                w.field("schedule_policy", c.schedulePolicy.rawValue)
                w.field("disable_radix_cache", c.disableRadixCache)
                w.field("mem_fraction_static", c.memFractionStatic)
                w.field("max_request_body_bytes", options.maxRequestBodyBytes)
                w.key("internal_states")
                w.array { w in
                    w.object { w in
                        w.field("num_running_reqs", m.runningRequests)
                        w.field("num_queue_reqs", m.queuedRequests)
                        w.field("kv_pages_used", m.kvPagesUsed)
                        w.field("kv_pages_total", m.kvPagesTotal)
                        w.field("kv_pages_cached", m.kvPagesCached)
                        w.field("token_usage", m.kvUsage)
                        w.field("cache_hit_rate", m.cacheHitRate)
                        w.field("finished_requests", m.finishedRequests)
                        w.field("aborted_requests", m.abortedRequests)
                        w.field("model_seconds", m.modelSeconds)
                        w.field("scheduler_seconds", m.schedulerSeconds)
                        w.field("steps", m.steps)
                    }
                }
                w.field("version", TernServer.version)
            }
        }
    }

    func modelInfo() -> Response {
        Responses.json { w in
            w.object { w in
                w.field("model_path", modelPath)
                if tokenizer != nil { w.field("tokenizer_path", modelPath) } else { w.key("tokenizer_path"); w.null() }
                w.field("is_generation", true)
                w.field("served_model_name", servedModelName)
                w.field("max_model_len", contextLength)
                w.field("vocab_size", vocabSize)
            }
        }
    }

    func prometheusMetrics() -> Response {
        Responses.text(metrics.exposition(engine: engine.metrics()), contentType: "text/plain; version=0.0.4; charset=utf-8")
    }
}
