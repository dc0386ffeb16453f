import TernCore

/// out[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n]), fp32 arithmetic, weights in f32/bf16/f16.
///
/// Threads split the weight rows (N), so weights are read from memory once per call. Decode
/// (few rows, bound by weight bytes) streams each weight row through registers; larger batches
/// convert a block of weight rows to fp32 once and reuse it for every activation row.
func cpuLinear(x: UnsafePointer<Float>, xStride: Int, m: Int, k: Int,
               weight: UnsafeRawPointer, weightDType: DType, n: Int,
               bias: UnsafeRawPointer?, biasDType: DType,
               out: UnsafeMutablePointer<Float>, outStride: Int,
               format: WeightFormat = .plain) {
    let rowBlock = 16
    let smallBatchRows = 3
    let blocks = (n + rowBlock - 1) / rowBlock
    let args = UncheckedSendable((x, weight, bias, out))
    parallelChunks(blocks, grain: 1) { range in
        let (x, weight, bias, out) = args.value
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rowBlock * k) { scratch in
            let wf = scratch.baseAddress!
            for block in range {
                let n0 = block * rowBlock
                let rowsHere = min(rowBlock, n - n0)
                if m <= smallBatchRows && format.isPlain && (weightDType == .bf16 || weightDType == .f32) {
                    // Few activation rows: stream the weights straight from memory, widening bf16 in
                    // registers; converting through a scratch buffer would cost a second pass.
                    for j in 0..<rowsHere {
                        let rowStart = weight + (n0 + j) * k * weightDType.byteSize
                        var i = 0
                        while i < m {
                            let group = min(4, m - i)
                            let sums: SIMD4<Float> = weightDType == .bf16
                                ? dotRows(BF16Row.self, x + i * xStride, xStride, group, rowStart, k)
                                : dotRows(F32Row.self, x + i * xStride, xStride, group, rowStart, k)
                            for r in 0..<group { out[(i + r) * outStride + n0 + j] = sums[r] }
                            i += group
                        }
                    }
                } else {
                    let wBlock: UnsafePointer<Float>
                    if weightDType == .f32 && format.isPlain {
                        wBlock = UnsafePointer((weight + n0 * k * 4).assumingMemoryBound(to: Float.self))
                    } else {
                        format.dequantize(weight, weightDType, rows: n0..<(n0 + rowsHere), k: k, into: wf)
                        wBlock = UnsafePointer(wf)
                    }
                    blockedRows(x: x, xStride: xStride, m: m, k: k, wBlock: wBlock, rowsHere: rowsHere, n0: n0,
                                out: out, outStride: outStride)
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

/// Activation rows in tiles that stay in cache while a converted fp32 weight block is reused.
@inline(__always)
private func blockedRows(x: UnsafePointer<Float>, xStride: Int, m: Int, k: Int, wBlock: UnsafePointer<Float>,
                         rowsHere: Int, n0: Int, out: UnsafeMutablePointer<Float>, outStride: Int) {
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
}

/// How a weight row's elements become fp32 lanes.
protocol WeightRow {
    static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float>
    static func load1(_ base: UnsafeRawPointer, _ index: Int) -> Float
}

enum BF16Row: WeightRow {
    @inline(__always) static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        widenBF16((base + index * 2).loadUnaligned(as: SIMD8<UInt16>.self))
    }
    @inline(__always) static func load1(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        bf16ToFloat((base + index * 2).loadUnaligned(as: UInt16.self))
    }
}

enum F32Row: WeightRow {
    @inline(__always) static func load8(_ base: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        (base + index * 4).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func load1(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        (base + index * 4).loadUnaligned(as: Float.self)
    }
}

/// Dot products of up to four activation rows with one weight row read once from memory.
@inline(__always)
private func dotRows<W: WeightRow>(_: W.Type, _ x: UnsafePointer<Float>, _ xStride: Int, _ rows: Int,
                                   _ w: UnsafeRawPointer, _ k: Int) -> SIMD4<Float> {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    let x0 = x, x1 = x + xStride * min(1, rows - 1), x2 = x + xStride * min(2, rows - 1), x3 = x + xStride * min(3, rows - 1)
    var p = 0
    switch rows {
    case 1:
        var b0 = SIMD8<Float>()
        while p + 16 <= k {
            a0.addProduct(UnsafeRawPointer(x0 + p).loadUnaligned(as: SIMD8<Float>.self), W.load8(w, p))
            b0.addProduct(UnsafeRawPointer(x0 + p + 8).loadUnaligned(as: SIMD8<Float>.self), W.load8(w, p + 8))
            p += 16
        }
        a0 += b0
    case 2:
        while p + 8 <= k {
            let wv = W.load8(w, p)
            a0.addProduct(UnsafeRawPointer(x0 + p).loadUnaligned(as: SIMD8<Float>.self), wv)
            a1.addProduct(UnsafeRawPointer(x1 + p).loadUnaligned(as: SIMD8<Float>.self), wv)
            p += 8
        }
    default:
        while p + 8 <= k {
            let wv = W.load8(w, p)
            a0.addProduct(UnsafeRawPointer(x0 + p).loadUnaligned(as: SIMD8<Float>.self), wv)
            a1.addProduct(UnsafeRawPointer(x1 + p).loadUnaligned(as: SIMD8<Float>.self), wv)
            a2.addProduct(UnsafeRawPointer(x2 + p).loadUnaligned(as: SIMD8<Float>.self), wv)
            a3.addProduct(UnsafeRawPointer(x3 + p).loadUnaligned(as: SIMD8<Float>.self), wv)
            p += 8
        }
    }
    var sums = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    while p < k {
        let wv = W.load1(w, p)
        sums[0] += x0[p] * wv; sums[1] += x1[p] * wv; sums[2] += x2[p] * wv; sums[3] += x3[p] * wv
        p += 1
    }
    return sums
}

/// Weight storage formats the CPU dequantizes block by block inside the product.
enum WeightFormat: @unchecked Sendable {
    case plain
    /// fp32 scales `[ceil(n/br), ceil(k/bc)]` with `scaleStride` elements per scale row.
    case fp8Block(scales: UnsafePointer<Float>, scaleStride: Int, blockRows: Int, blockColumns: Int)
    /// e4m3 scales per 16 inputs (`scaleStride` bytes per weight row) and a global scale.
    case nvfp4(scales: UnsafePointer<UInt8>, scaleStride: Int, globalScale: Float)

    var isPlain: Bool { if case .plain = self { return true } else { return false } }

    /// Weight rows `rows` as fp32 into `destination` (`rows.count × k`).
    func dequantize(_ weight: UnsafeRawPointer, _ dtype: DType, rows: Range<Int>, k: Int, into destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .plain:
            convertToFloat(weight + rows.lowerBound * k * dtype.byteSize, dtype, count: rows.count * k, into: destination)
        case let .fp8Block(scales, scaleStride, br, bc):
            let codes = weight.assumingMemoryBound(to: UInt8.self)
            fp8E4M3Table.withUnsafeBufferPointer { table in
                for (i, row) in rows.enumerated() {
                    let scaleRow = scales + (row / br) * scaleStride
                    let src = codes + row * k, dst = destination + i * k
                    for c in 0..<k { dst[c] = table[Int(src[c])] * scaleRow[c / bc] }
                }
            }
        case let .nvfp4(scales, scaleStride, global):
            let packed = weight.assumingMemoryBound(to: UInt8.self)
            for (i, row) in rows.enumerated() {
                let src = packed + row * (k / 2), dst = destination + i * k
                let rowScales = scales + row * scaleStride
                for c in 0..<k {
                    let byte = src[c / 2]
                    let code = c % 2 == 0 ? byte & 0x0F : byte >> 4
                    dst[c] = e2m1Values[Int(code)] * decodeE4M3(rowScales[c / 16]) * global
                }
            }
        }
    }
}

/// The 16 values of FP4 e2m1 (sign in bit 3).
let e2m1Values: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6]
