import TernEngine

/// Log-probabilities in the two shapes OpenAI uses.
extension ModelService {
    /// /v1/completions: `{"tokens", "token_logprobs", "top_logprobs", "text_offset"}`.
    /// `textOffset` is where this piece starts in the choice's text (streams continue it).
    func writeCompletionLogprobs(_ entries: [TokenLogprob], top: Int, textOffset: inout Int, to w: inout JSONWriter) {
        let texts = entries.map { tokenText($0.token) }
        w.object { w in
            w.key("tokens")
            w.array { w in for t in texts { w.value(t) } }
            w.key("token_logprobs")
            w.array { w in for e in entries { w.value(Double(e.logprob)) } }
            w.key("top_logprobs")
            if top > 0 {
                w.array { w in
                    for e in entries {
                        w.object { w in
                            for (id, lp) in zip(e.topTokens, e.topLogprobs).prefix(top) { w.field(tokenText(id), Double(lp)) }
                        }
                    }
                }
            } else {
                w.null()
            }
            w.key("text_offset")
            w.array { w in
                for t in texts {
                    w.value(textOffset)
                    textOffset += t.count
                }
            }
        }
    }

    /// /v1/chat/completions: `{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`.
    func writeChatLogprobs(_ entries: [TokenLogprob], top: Int, to w: inout JSONWriter) {
        w.object { w in
            w.key("content")
            w.array { w in
                for e in entries {
                    w.object { w in
                        writeTokenLogprob(e.token, e.logprob, to: &w)
                        w.key("top_logprobs")
                        w.array { w in
                            for (id, lp) in zip(e.topTokens, e.topLogprobs).prefix(top) {
                                w.object { w in writeTokenLogprob(id, lp, to: &w) }
                            }
                        }
                    }
                }
            }
        }
    }

    private func writeTokenLogprob(_ id: Int, _ logprob: Float, to w: inout JSONWriter) {
        let text = tokenText(id)
        w.field("token", text)
        w.field("logprob", Double(logprob))
        w.field("bytes", text.utf8.map { Int($0) })
    }
}
