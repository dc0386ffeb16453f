import TernCore

/// out[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n]), fp32 arithmetic, weights in f32/bf16/f16.
///
/// Threads split the weight rows (N). Each thread converts a block of weight rows to fp32 once
/// and reuses it for every activation row, so bf16 weights are read from memory exactly once per
/// call: decode is bound by weight bytes, which is what this is built for.
func cpuLinear(x: UnsafePointer<Float>, xStride: Int, m: Int, k: Int,
               weight: UnsafeRawPointer, weightDType: DType, n: Int,
               bias: UnsafeRawPointer?, biasDType: DType,
               out: UnsafeMutablePointer<Float>, outStride: Int) {
    let rowBlock = 16
    let blocks = (n + rowBlock - 1) / rowBlock
    let args = UncheckedSendable((x, weight, bias, out))
    parallelChunks(blocks, grain: 1) { range in
        let (x, weight, bias, out) = args.value
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rowBlock * k) { scratch in
            let wf = scratch.baseAddress!
            for block in range {
                let n0 = block * rowBlock
                let rowsHere = min(rowBlock, n - n0)
                let wBlock: UnsafePointer<Float>
                if weightDType == .f32 {
                    wBlock = UnsafePointer((weight + n0 * k * 4).assumingMemoryBound(to: Float.self))
                } else {
                    convertToFloat(weight + n0 * k * weightDType.byteSize, weightDType, count: rowsHere * k, into: wf)
                    wBlock = UnsafePointer(wf)
                }
                // Activation rows in tiles that stay in cache while the weight block is reused.
                let mTile = 64
                var m0 = 0
                while m0 < m {
                    let mEnd = min(m, m0 + mTile)
                    var j = 0
                    while j + 4 <= rowsHere {
                        var i = m0
                        while i + 2 <= mEnd {
                            kernel2x4(x + i * xStride, x + (i + 1) * xStride, wBlock + j * k, k,
                                      out + i * outStride + n0 + j, out + (i + 1) * outStride + n0 + j)
                            i += 2
                        }
                        if i < mEnd {
                            for jj in 0..<4 { out[i * outStride + n0 + j + jj] = dot(x + i * xStride, wBlock + (j + jj) * k, k) }
                        }
                        j += 4
                    }
                    while j < rowsHere {
                        for i in m0..<mEnd { out[i * outStride + n0 + j] = dot(x + i * xStride, wBlock + j * k, k) }
                        j += 1
                    }
                    m0 = mEnd
                }
                if let bias {
                    for i in 0..<m {
                        for jj in 0..<rowsHere { out[i * outStride + n0 + jj] += loadAsFloat(bias, biasDType, n0 + jj) }
                    }
                }
            }
        }
    }
}

/// Two activation rows against four weight rows: 8 SIMD accumulators, each x and w load reused.
@inline(__always)
private func kernel2x4(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ k: Int,
                       _ out0: UnsafeMutablePointer<Float>, _ out1: UnsafeMutablePointer<Float>) {
    var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>(), a03 = SIMD8<Float>()
    var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>(), a13 = SIMD8<Float>()
    let w0 = w, w1 = w + k, w2 = w + 2 * k, w3 = w + 3 * k
    var p = 0
    while p + 8 <= k {
        let v0 = UnsafeRawPointer(x0 + p).loadUnaligned(as: SIMD8<Float>.self)
        let v1 = UnsafeRawPointer(x1 + p).loadUnaligned(as: SIMD8<Float>.self)
        let b0 = UnsafeRawPointer(w0 + p).loadUnaligned(as: SIMD8<Float>.self)
        let b1 = UnsafeRawPointer(w1 + p).loadUnaligned(as: SIMD8<Float>.self)
        let b2 = UnsafeRawPointer(w2 + p).loadUnaligned(as: SIMD8<Float>.self)
        let b3 = UnsafeRawPointer(w3 + p).loadUnaligned(as: SIMD8<Float>.self)
        a00.addProduct(v0, b0); a01.addProduct(v0, b1); a02.addProduct(v0, b2); a03.addProduct(v0, b3)
        a10.addProduct(v1, b0); a11.addProduct(v1, b1); a12.addProduct(v1, b2); a13.addProduct(v1, b3)
        p += 8
    }
    var s00 = a00.sum(), s01 = a01.sum(), s02 = a02.sum(), s03 = a03.sum()
    var s10 = a10.sum(), s11 = a11.sum(), s12 = a12.sum(), s13 = a13.sum()
    while p < k {
        let v0 = x0[p], v1 = x1[p]
        s00 += v0 * w0[p]; s01 += v0 * w1[p]; s02 += v0 * w2[p]; s03 += v0 * w3[p]
        s10 += v1 * w0[p]; s11 += v1 * w1[p]; s12 += v1 * w2[p]; s13 += v1 * w3[p]
        p += 1
    }
    out0[0] = s00; out0[1] = s01; out0[2] = s02; out0[3] = s03
    out1[0] = s10; out1[1] = s11; out1[2] = s12; out1[3] = s13
}
