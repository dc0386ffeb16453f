import TernBackend

/// Delivers a request's output. Called on the step loop's thread.
public enum StreamEvent: Sendable {
    case delta(OutputDelta)
    /// Every choice finished (the last delta of each carried its finish reason).
    case finished
    /// The request failed; no more events follow.
    case failed(EngineError)
}

public typealias OutputSink = (StreamEvent) -> Void

/// One request with its n choices: where their output goes and how many are still live.
final class RequestGroup {
    let id: String
    let sink: OutputSink
    let choices: Int
    var unfinished: Int
    var sequences: [SequenceState] = []
    let promptTokens: Int
    let arrival: Double
    /// Prefill-only requests (PD disaggregation): receives the prompt's KV and first token.
    var kvExport: (@Sendable (Result<PrefillExport, EngineError>) -> Void)?

    init(id: String, sink: @escaping OutputSink, choices: Int, promptTokens: Int, arrival: Double) {
        self.id = id
        self.sink = sink
        self.choices = choices
        self.unfinished = choices
        self.promptTokens = promptTokens
        self.arrival = arrival
    }
}

enum SequencePhase { case waiting, running, finished }

/// One choice of a request as the scheduler tracks it: all its tokens, how many have KV, the pages
/// holding them (one pool reference each) and the prefix-cache node it keeps locked.
final class SequenceState {
    unowned let group: RequestGroup
    let choice: Int
    /// Prompt followed by generated tokens.
    var tokens: [Int32]
    let promptCount: Int
    /// Leading tokens whose KV is in the cache.
    var computed = 0
    var pages: [Int32] = []
    var lockedNode: RadixNode?
    var sampling: SamplingState
    var text: IncrementalTextDecoder?
    var stopMatcher: StopStringMatcher
    /// Generation limit after the context length is applied.
    let maxTokens: Int
    /// Choices still to fork off when the prompt's first token is sampled (n > 1).
    var forks: Int
    var phase = SequencePhase.waiting
    /// Its final delta went to the sink (`finish`); queued output for it is dropped after that.
    var ended = false
    var wasPreempted = false
    /// Prompt tokens found in the prefix cache on first admission.
    var cachedTokens = 0
    var admittedOnce = false
    /// Admission order; preemption retracts the highest.
    var admissionSerial: UInt64 = 0
    var lastTokenTime: Double = 0

    init(group: RequestGroup, choice: Int, tokens: [Int32], promptCount: Int, sampling: SamplingState,
         text: IncrementalTextDecoder?, stopStrings: [String], maxTokens: Int, forks: Int) {
        self.group = group
        self.choice = choice
        self.tokens = tokens
        self.promptCount = promptCount
        self.sampling = sampling
        self.text = text
        self.stopMatcher = StopStringMatcher(stops: stopStrings)
        self.maxTokens = maxTokens
        self.forks = forks
    }

    var generated: Int { tokens.count - promptCount }
    /// Tokens that still need a forward pass before the next token can be sampled.
    var pendingTokens: Int { tokens.count - computed }

    var usage: Usage { Usage(promptTokens: promptCount, completionTokens: generated, cachedTokens: cachedTokens) }
}
