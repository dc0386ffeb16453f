import Dispatch
import Foundation

/// Wraps a non-Sendable value (raw pointers) for use inside `concurrentPerform`.
/// Sound only because every parallel task touches disjoint memory.
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}

/// Worker threads for CPU ops: the machine's active cores (override with TERN_CPU_THREADS).
let cpuThreadCount: Int = {
    if let text = ProcessInfo.processInfo.environment["TERN_CPU_THREADS"], let n = Int(text), n > 0 { return n }
    return max(1, ProcessInfo.processInfo.activeProcessorCount)
}()

/// Runs `body(range)` over `0..<count` split into contiguous chunks, in parallel when worth it.
/// `grain` is the smallest chunk worth a thread hop.
@inline(__always)
func parallelChunks(_ count: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let maxChunks = min(cpuThreadCount * 4, max(1, count / max(grain, 1)))
    if maxChunks <= 1 || cpuThreadCount == 1 {
        body(0..<count)
        return
    }
    let chunkSize = (count + maxChunks - 1) / maxChunks
    let chunks = (count + chunkSize - 1) / chunkSize
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let start = chunk * chunkSize
        body(start..<min(count, start + chunkSize))
    }
}
