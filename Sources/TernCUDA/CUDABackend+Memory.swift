import CCUDA
import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// TERN_CUDA_ZERO_ALLOC=1 zeroes every allocation, `zeroed: false` ones too (to check whether
    /// a wrong result comes from a reader of unwritten memory).
    static let zeroEveryAllocation = ProcessInfo.processInfo.environment["TERN_CUDA_ZERO_ALLOC"] == "1"

    public func allocate(_ shape: [Int], dtype: DType) throws -> Tensor {
        try allocate(shape, dtype: dtype, zeroed: true)
    }

    /// Backend-internal scratch that its kernels overwrite before reading.
    func allocateScratch(_ shape: [Int], dtype: DType) throws -> Tensor {
        try allocate(shape, dtype: dtype, zeroed: false)
    }

    /// `zeroed: true` costs one stream-ordered memset (a graph node inside a decode graph); op
    /// outputs, which every kernel writes in full, skip it.
    public func allocate(_ shape: [Int], dtype: DType, zeroed: Bool) throws -> Tensor {
        try bind()
        let bytes = shape.reduce(1, *) * dtype.byteSize
        let pointer = try allocator.allocate(bytes)
        if zeroed || Self.zeroEveryAllocation { try profiled("memset (allocate)") {
            try driver.check(driver.cuMemsetD8Async(pointer, 0, max(bytes, 1), stream), "cuMemsetD8Async")
        } }
        let allocator = self.allocator
        let storage = TensorStorage(byteCount: bytes, host: nil, deviceAddress: pointer,
                                    release: { allocator.release(pointer, bytes: bytes) })
        return Tensor(storage: storage, shape: shape, dtype: dtype)
    }

    /// The dtype a checkpoint tensor is kept in on the GPU: matrices of floats in bf16 (the
    /// compute type of the GEMMs), vectors of floats (norm weights, biases, router correction
    /// biases) in f32, quantized codes and scales as stored.
    func residentDType(_ tensor: HostTensor) -> DType {
        guard [.f32, .f16, .bf16].contains(tensor.dtype) else { return tensor.dtype }
        if tensor.name.contains("scale") { return tensor.dtype }
        return tensor.shape.count >= 2 ? .bf16 : .f32
    }

    public func upload(_ tensor: HostTensor, as dtype: DType?) throws -> Tensor {
        let target = dtype ?? residentDType(tensor)
        let out = try allocate(tensor.shape, dtype: target, zeroed: tensor.elementCount == 0)
        guard let base = tensor.data.baseAddress, tensor.elementCount > 0 else { return out }
        if target == tensor.dtype {
            try copyToDevice(base, bytes: tensor.data.count, to: address(out))
            return out
        }
        try expect([.f32, .bf16, .f16].contains(target) && tensor.dtype.isFloatingPoint,
                   "upload \(tensor.name): \(tensor.dtype) → \(target)")
        let count = tensor.elementCount
        let staging = UnsafeMutableRawPointer.allocate(byteCount: count * target.byteSize, alignment: 64)
        defer { staging.deallocate() }
        convert(base, tensor.dtype, count: count, to: staging, target)
        try copyToDevice(staging, bytes: count * target.byteSize, to: address(out))
        return out
    }

    public func upload(floats: [Float], shape: [Int], as dtype: DType) throws -> Tensor {
        try expect(floats.count == shape.reduce(1, *), "upload: \(floats.count) values for shape \(shape)")
        try expect([.f32, .bf16, .f16].contains(dtype), "upload floats as \(dtype)")
        let out = try allocate(shape, dtype: dtype, zeroed: floats.isEmpty)
        try floats.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, !floats.isEmpty else { return }
            if dtype == .f32 { return try copyToDevice(base, bytes: raw.count, to: address(out)) }
            let staging = UnsafeMutableRawPointer.allocate(byteCount: floats.count * 2, alignment: 64)
            defer { staging.deallocate() }
            convert(base, .f32, count: floats.count, to: staging, dtype)
            try copyToDevice(staging, bytes: floats.count * 2, to: address(out))
        }
        return out
    }

    public func upload(int32s: [Int32], shape: [Int]) throws -> Tensor {
        let out = try allocate(shape, dtype: .i32, zeroed: int32s.count < shape.reduce(1, *))
        try int32s.withUnsafeBytes { raw in
            if let base = raw.baseAddress, raw.count > 0 { try copyToDevice(base, bytes: raw.count, to: address(out)) }
        }
        return out
    }

    /// Host → device from pageable memory: the driver stages the bytes before returning, so the
    /// source may be reused at once; the copy stays ordered on the stream.
    func copyToDevice(_ source: UnsafeRawPointer, bytes: Int, to destination: UInt64) throws {
        try bind()
        try profiled("copy host→device") {
            try driver.check(driver.cuMemcpyHtoDAsync(destination, source, bytes, stream), "cuMemcpyHtoDAsync(\(bytes) bytes)")
        }
    }

    /// The rows of `tensor` as raw bytes, row after row (waits for the stream).
    func downloadBytes(_ tensor: Tensor) throws -> [UInt8] {
        try bind()
        let rowBytes = tensor.rowSize * tensor.dtype.byteSize
        let span = tensor.rows == 0 ? 0 : ((tensor.rows - 1) * tensor.rowStride * tensor.dtype.byteSize + rowBytes)
        var raw = [UInt8](repeating: 0, count: span)
        if span > 0 {
            try raw.withUnsafeMutableBytes { buffer in
                try driver.check(driver.cuMemcpyDtoHAsync(buffer.baseAddress!, address(tensor), span, stream), "cuMemcpyDtoHAsync(\(span) bytes)")
            }
            try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
        }
        if tensor.isContiguous { return raw }
        var packed = [UInt8](repeating: 0, count: tensor.rows * rowBytes)
        for r in 0..<tensor.rows {
            let from = r * tensor.rowStride * tensor.dtype.byteSize
            packed.replaceSubrange(r * rowBytes..<(r + 1) * rowBytes, with: raw[from..<from + rowBytes])
        }
        return packed
    }

    public func downloadFloats(_ tensor: Tensor) throws -> [Float] {
        let bytes = try downloadBytes(tensor)
        var result = [Float](repeating: 0, count: tensor.elementCount)
        bytes.withUnsafeBytes { raw in
            result.withUnsafeMutableBufferPointer { dst in
                for i in 0..<dst.count { dst[i] = loadAsFloat(raw.baseAddress!, tensor.dtype, i) }
            }
        }
        return result
    }

    public func downloadInt32s(_ tensor: Tensor) throws -> [Int32] {
        try expect(tensor.dtype == .i32, "downloadInt32s of \(tensor.dtype)")
        let bytes = try downloadBytes(tensor)
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
    }

    /// The KV pool as one device allocation, sliced into per-layer key and value tensors.
    public func makeKVCache(layout: KVCacheLayout, pageSize: Int, pageCount: Int) throws -> KVCache {
        try expect([.bf16, .f32, .f8e4m3].contains(layout.dtype), "KV cache dtype \(layout.dtype)")
        let slots = pageSize * pageCount
        let keyBytes = slots * layout.kvHeads * layout.keyDim * layout.dtype.byteSize
        let valueBytes = slots * layout.kvHeads * layout.valueDim * layout.dtype.byteSize
        let pool = try allocate([layout.layers * (keyBytes + valueBytes)], dtype: .u8)
        var keys: [Tensor] = [], values: [Tensor] = []
        for l in 0..<layout.layers {
            let base = pool.byteOffset + l * (keyBytes + valueBytes)
            keys.append(Tensor(storage: pool.storage, byteOffset: base, shape: [slots, layout.kvHeads * layout.keyDim], dtype: layout.dtype))
            if layout.valueDim > 0 {
                values.append(Tensor(storage: pool.storage, byteOffset: base + keyBytes,
                                     shape: [slots, layout.kvHeads * layout.valueDim], dtype: layout.dtype))
            }
        }
        return KVCache(layout: layout, pageSize: pageSize, pageCount: pageCount, keys: keys, values: values)
    }
}

/// Host-side element conversion for uploads.
func convert(_ source: UnsafeRawPointer, _ from: DType, count: Int, to destination: UnsafeMutableRawPointer, _ target: DType) {
    switch target {
    case .f32:
        let d = destination.assumingMemoryBound(to: Float.self)
        for i in 0..<count { d[i] = loadAsFloat(source, from, i) }
    case .bf16:
        let d = destination.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { d[i] = floatToBF16(loadAsFloat(source, from, i)) }
    default:
        let d = destination.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { d[i] = floatToF16(loadAsFloat(source, from, i)) }
    }
}

extension CUDABackend {
    /// Free and total device memory and what this backend's allocator holds (the engine sizes the KV pool from it).
    public func deviceMemory() throws -> DeviceMemory? {
        let info = try memoryInfo()
        return DeviceMemory(free: info.free, total: info.total, heldByBackend: reservedBytes)
    }
}
