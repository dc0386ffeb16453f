import TernBackend
import TernCore

extension CUDABackend {
    /// Element code of a KV cache tensor for the attention kernels: the float codes, 3 for e4m3.
    static func kvCode(_ dtype: DType) throws -> Int32 {
        dtype == .f8e4m3 ? 3 : try code(dtype)
    }

    /// storeKV into an FP8 cache: each row quantized to e4m3(x / scale) at its slot.
    func storeFP8(_ source: Tensor, into target: Tensor, scale: Float, slots: Tensor) throws {
        try expect(source.rowSize == target.rowSize && target.dtype == .f8e4m3,
                   "storeKV: row \(source.rowSize) → cache \(target.rowSize) \(target.dtype)")
        guard source.rows > 0 else { return }
        let width = source.rowSize
        try launch("tern_store_kv_e4m3", grid: (source.rows, min((width + 255) / 256, 8), 1), block: 256,
                   [ptr(source), .int(try Self.code(source.dtype)), .int64(Int64(source.rowStride)), ptr(slots),
                    ptr(target), .int64(Int64(target.rowStride)), .int(Int32(width)), .float(1 / scale)])
    }
}
