import Foundation

/// Reference paged attention: every new token of every sequence attends causally (and within
/// the sliding window) to its sequence's cached keys, read through the page table. GQA maps
/// `heads / kvHeads` query heads onto each KV head. Work items are (token, head) pairs.
func cpuPagedAttention(query: Tensor, keys: Tensor, values: Tensor?, batch: ForwardBatch,
                       parameters p: AttentionParameters, out: Tensor) throws {
    let group = p.heads / p.kvHeads
    guard group * p.kvHeads == p.heads else { throw BackendError.invalidArgument("heads \(p.heads) not a multiple of kv heads \(p.kvHeads)") }
    guard query.rowSize == p.heads * p.headDim, out.rowSize == p.heads * p.valueDim else {
        throw BackendError.invalidArgument("attention: q \(query.shape) / out \(out.shape) for \(p.heads)×\(p.headDim)/\(p.valueDim)")
    }
    // Values live in their own tensor, or (MLA latent) in the first valueDim elements of each key head.
    let valueTensor = values ?? keys
    let valueHeadStride = values == nil ? (keys.rowSize / p.kvHeads) : p.valueDim
    let keyHeadStride = keys.rowSize / p.kvHeads

    // token → sequence index
    var owner = [Int32](repeating: 0, count: batch.tokenCount)
    var maxKV = 0
    for (s, seq) in batch.sequences.enumerated() {
        for t in seq.queryStart..<(seq.queryStart + seq.queryLength) { owner[t] = Int32(s) }
        maxKV = max(maxKV, seq.kvLength)
        let pagesNeeded = (seq.kvLength + batch.pageSize - 1) / batch.pageSize
        guard seq.pageTableStart + pagesNeeded <= batch.pageTable.count else {
            throw BackendError.invalidArgument("attention: page table too short for \(seq.kvLength) tokens")
        }
    }
    let items = batch.tokenCount * p.heads
    let scoreCapacity = maxKV + 1
    let args = UncheckedSendable((query.typedHost(Float.self), keys.typedHost(Float.self),
                                  valueTensor.typedHost(Float.self), out.typedHost(Float.self)))
    let (qs, ks, vs, os) = (query.rowStride, keys.rowStride, valueTensor.rowStride, out.rowStride)
    owner.withUnsafeBufferPointer { ownerBuffer in
        batch.pageTable.withUnsafeBufferPointer { pageTable in
            let shared = UncheckedSendable((ownerBuffer, pageTable))
            parallelChunks(items, grain: 4) { range in
                let (q, k, v, o) = args.value
                let (ownerOf, pages) = shared.value
                withUnsafeTemporaryAllocation(of: Float.self, capacity: scoreCapacity) { scoresBuffer in
                    let scores = scoresBuffer.baseAddress!
                    for item in range {
                        let t = item / p.heads, h = item % p.heads, kvHead = h / group
                        let seq = batch.sequences[Int(ownerOf[t])]
                        let position = seq.firstPosition + (t - seq.queryStart)
                        let end = position + 1
                        let begin = p.slidingWindow.map { max(0, end - $0) } ?? 0
                        let qRow = q + t * qs + h * p.headDim
                        var maxScore = -Float.infinity
                        for j in begin..<end {
                            let slot = Int(pages[seq.pageTableStart + j / batch.pageSize]) * batch.pageSize + j % batch.pageSize
                            let score = dot(qRow, k + slot * ks + kvHead * keyHeadStride, p.headDim) * p.scale
                            scores[j - begin] = score
                            maxScore = max(maxScore, score)
                        }
                        var total: Float = 0
                        for j in 0..<(end - begin) {
                            let e = Foundation.exp(scores[j] - maxScore)
                            scores[j] = e
                            total += e
                        }
                        let oRow = o + t * os + h * p.valueDim
                        oRow.update(repeating: 0, count: p.valueDim)
                        let inv = 1 / total
                        for j in begin..<end {
                            let slot = Int(pages[seq.pageTableStart + j / batch.pageSize]) * batch.pageSize + j % batch.pageSize
                            axpy(scores[j - begin] * inv, v + slot * vs + kvHead * valueHeadStride, oRow, p.valueDim)
                        }
                    }
                }
            }
        }
    }
}
