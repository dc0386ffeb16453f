import CCUDA
import Foundation
import TernBackend
import TernCore

/// The CUDA backend: bf16 activations and KV cache, fp32 accumulation, fp32 logits. CUDA is
/// reached through dlopen, so this module builds and links where CUDA is absent; constructing a
/// backend there throws a `CUDAError` that says what is missing.
public final class CUDABackend: Backend, @unchecked Sendable {
    public let name = "cuda"
    public let activationDType: DType = .bf16

    let context: CUDAContext
    let allocator: DeviceAllocator
    let kernels: KernelLibrary
    let blas: CublasLt
    let stream: TernCUstream
    /// Set when TERN_CUDA_PROFILE=1: every launch and GEMM is timed on its own.
    let profiler: OpProfiler?
    /// Set while a decode graph is captured or warmed: `prepare` hands out this batch, whose index
    /// arrays live in the graph's fixed input buffer.
    var fixedPrepared: PreparedBatch?
    /// Weight descriptor tables of the MoE / quantized-linear kernels (CUDABackend+MoE.swift).
    let matrixTables = MatrixTableCache()
    /// Zeroed once here: the one-pass split-KV decode attention's per-(token, KV head) counters,
    /// which its kernel leaves at 0 (CUDABackend+DecodeAttention.swift).
    let decodeCounters: UInt64
    /// Zeroed once here: the arrival counter of the norm-fused T = 1 GEMVs, which their kernels leave
    /// at 0 (CUDABackend+NormGEMV.swift).
    let normCounter: UInt64
    var driver: CUDADriver { context.driver }
    public var deviceInfo: CUDADeviceInfo { context.info }
    /// NVRTC's messages from kernels compiled (not loaded from the cache) by this backend.
    public var compileLog: [String] { kernels.compileLog }

    public init(device: Int = 0) throws {
        context = try CUDAContext(ordinal: device)
        allocator = DeviceAllocator(context: context)
        var s: TernCUstream?
        try context.driver.check(context.driver.cuStreamCreate(&s, UInt32(TERN_CU_STREAM_NON_BLOCKING)), "cuStreamCreate")
        stream = s!
        profiler = ProcessInfo.processInfo.environment["TERN_CUDA_PROFILE"] == "1" ? try OpProfiler(driver: context.driver) : nil
        kernels = try KernelLibrary(context: context, compiler: try NVRTCCompiler())
        let workspaceBytes = 64 << 20
        blas = try CublasLt(workspace: try allocator.allocate(workspaceBytes), workspaceBytes: workspaceBytes)
        decodeCounters = try allocator.allocate(Self.decodeCounterCount * 4)
        try context.driver.check(context.driver.cuMemsetD8Async(decodeCounters, 0, Self.decodeCounterCount * 4, stream), "cuMemsetD8Async")
        normCounter = try allocator.allocate(256)
        try context.driver.check(context.driver.cuMemsetD8Async(normCounter, 0, 256, stream), "cuMemsetD8Async")
    }

    /// Binds the context to the calling thread; every entry point calls it (the engine may step
    /// from different threads).
    @inline(__always)
    func bind() throws { try context.makeCurrent() }

    /// Free and total device memory in bytes.
    public func memoryInfo() throws -> (free: Int, total: Int) {
        try bind()
        return try context.memoryInfo()
    }

    /// Device bytes held by the caching allocator (in use + cached).
    public var reservedBytes: Int { allocator.reservedBytes }

    public func synchronize() throws {
        try bind()
        try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
    }

    // MARK: launch helpers

    /// `label`: the profiler row's name instead of the kernel's (one kernel serving two roles).
    func launch(_ kernel: String, grid: (Int, Int, Int), block: Int, sharedBytes: Int = 0, programmaticDependency: Bool = false,
                label: String? = nil, _ arguments: [KernelArgument]) throws {
        guard let profiler else {
            return try kernels.launch(kernel, grid: grid, block: block, sharedBytes: sharedBytes, stream: stream,
                                      programmaticDependency: programmaticDependency, arguments)
        }
        try profiler.measure(label ?? kernel, stream: stream) {
            try kernels.launch(kernel, grid: grid, block: block, sharedBytes: sharedBytes, stream: stream, arguments)
        }
    }

    /// Runs `body` under the profiler when profiling is on (GEMMs and copies that are not launches).
    func profiled(_ name: @autoclosure () -> String, _ body: () throws -> Void) throws {
        guard let profiler else { return try body() }
        try profiler.measure(name(), stream: stream, body)
    }

    /// The per-kernel table since the last reset (nil when TERN_CUDA_PROFILE is not 1).
    public func profileReport(steps: Int) -> String? { profiler?.report(perStepDivisor: steps) }
    public func resetProfile() { profiler?.reset() }
    /// Total milliseconds per profiled name since the last reset (nil when profiling is off).
    public func profileTotals() -> [String: Double]? { profiler?.totals() }

    static func code(_ dtype: DType) throws -> Int32 {
        switch dtype {
        case .f32: return 0
        case .bf16: return 1
        case .f16: return 2
        default: throw BackendError.unsupported("cuda: element type \(dtype) in a float kernel")
        }
    }

    func address(_ t: Tensor) -> UInt64 { t.storage.deviceAddress + UInt64(t.byteOffset) }
    func ptr(_ t: Tensor) -> KernelArgument { .pointer(address(t)) }
    func ptr(_ t: Tensor?) -> KernelArgument { .pointer(t.map(address) ?? 0) }

    @inline(__always)
    func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw BackendError.invalidArgument("cuda: " + message()) }
    }

    /// Fills a tensor's rows with one byte value (tests poison outputs with 0xFF = NaN).
    public func fill(_ tensor: Tensor, byte: UInt8) throws {
        try bind()
        if tensor.isContiguous {
            try driver.check(driver.cuMemsetD8Async(address(tensor), byte, tensor.elementCount * tensor.dtype.byteSize, stream), "cuMemsetD8Async")
        } else {
            for r in 0..<tensor.rows {
                try driver.check(driver.cuMemsetD8Async(address(tensor) + UInt64(r * tensor.rowStride * tensor.dtype.byteSize), byte,
                                                         tensor.rowSize * tensor.dtype.byteSize, stream), "cuMemsetD8Async")
            }
        }
    }
}
