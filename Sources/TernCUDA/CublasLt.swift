import CCUDA
import Foundation

/// bf16 GEMMs through cuBLASLt: `out[T, N] = x[T, K] · W[N, K]ᵀ` with row-major (Hugging Face)
/// weights. In cuBLASLt's column-major terms that is `outᵀ (N×T) = op_T(Wᵀ stored K×N) · xᵀ (K×T)`,
/// so strided row views map to leading dimensions directly. Plans (descriptors + the heuristic's
/// algorithm) are cached per shape, strides, dtypes and pointer alignment.
final class CublasLt: @unchecked Sendable {
    private let library: DynamicLibrary
    private let create: TernPFN_cublasLtCreate
    private let statusString: TernPFN_cublasLtGetStatusString
    private let descCreate: TernPFN_cublasLtMatmulDescCreate
    private let descSet: TernPFN_cublasLtMatmulDescSetAttribute
    private let layoutCreate: TernPFN_cublasLtMatrixLayoutCreate
    private let layoutSet: TernPFN_cublasLtMatrixLayoutSetAttribute
    private let prefCreate: TernPFN_cublasLtMatmulPreferenceCreate
    private let prefSet: TernPFN_cublasLtMatmulPreferenceSetAttribute
    private let prefDestroy: TernPFN_cublasLtMatmulPreferenceDestroy
    private let heuristic: TernPFN_cublasLtMatmulAlgoGetHeuristic
    private let matmul: TernPFN_cublasLtMatmul
    private var handle: TernCublasLtHandle?
    private let workspace: UInt64
    let workspaceBytes: Int

    struct PlanKey: Hashable {
        var n: Int, t: Int, k: Int, ldw: Int, ldx: Int, ldo: Int
        var weightType: Int32, inputType: Int32, outputType: Int32
        var alignW: Int, alignX: Int, alignO: Int
        /// Strided batch (`gemmBatched`): count and element strides between the batch's matrices.
        var batch: Int = 1, strideW: Int = 0, strideX: Int = 0, strideO: Int = 0
    }

    private struct Plan {
        var desc: TernCublasLtMatmulDesc
        var a: TernCublasLtMatrixLayout, b: TernCublasLtMatrixLayout, c: TernCublasLtMatrixLayout
        var algo: TernCublasLtMatmulAlgo
    }

    private var plans: [PlanKey: Plan?] = [:]
    private let lock = NSLock()

    init(workspace: UInt64, workspaceBytes: Int) throws {
        var names = ["libcublasLt.so.13", "libcublasLt.so"]
        if let dir = ProcessInfo.processInfo.environment["TERN_CUBLAS_DIR"] { names.insert(dir + "/libcublasLt.so.13", at: 0) }
        let l = try DynamicLibrary(names)
        library = l
        create = try l.symbol("cublasLtCreate", as: TernPFN_cublasLtCreate.self)
        statusString = try l.symbol("cublasLtGetStatusString", as: TernPFN_cublasLtGetStatusString.self)
        descCreate = try l.symbol("cublasLtMatmulDescCreate", as: TernPFN_cublasLtMatmulDescCreate.self)
        descSet = try l.symbol("cublasLtMatmulDescSetAttribute", as: TernPFN_cublasLtMatmulDescSetAttribute.self)
        layoutCreate = try l.symbol("cublasLtMatrixLayoutCreate", as: TernPFN_cublasLtMatrixLayoutCreate.self)
        layoutSet = try l.symbol("cublasLtMatrixLayoutSetAttribute", as: TernPFN_cublasLtMatrixLayoutSetAttribute.self)
        prefCreate = try l.symbol("cublasLtMatmulPreferenceCreate", as: TernPFN_cublasLtMatmulPreferenceCreate.self)
        prefSet = try l.symbol("cublasLtMatmulPreferenceSetAttribute", as: TernPFN_cublasLtMatmulPreferenceSetAttribute.self)
        prefDestroy = try l.symbol("cublasLtMatmulPreferenceDestroy", as: TernPFN_cublasLtMatmulPreferenceDestroy.self)
        heuristic = try l.symbol("cublasLtMatmulAlgoGetHeuristic", as: TernPFN_cublasLtMatmulAlgoGetHeuristic.self)
        matmul = try l.symbol("cublasLtMatmul", as: TernPFN_cublasLtMatmul.self)
        self.workspace = workspace
        self.workspaceBytes = workspaceBytes
        try check(create(&handle), "cublasLtCreate")
    }

    private func check(_ status: TernCublasStatus, _ call: @autoclosure () -> String) throws {
        guard status != 0 else { return }
        throw CUDAError(call: call(), code: Int(status), message: statusString(status).map { String(cString: $0) } ?? "cuBLAS error")
    }

    static func alignment(_ address: UInt64, _ ldBytes: Int) -> Int {
        var a = 256
        while a > 1 && (address % UInt64(a) != 0 || ldBytes % a != 0) { a /= 2 }
        return a
    }

    /// Enqueues `out = x · Wᵀ` (alpha 1, beta 0). Types are CUDA data-type codes. Returns false,
    /// enqueuing nothing, when cuBLASLt has no algorithm for this shape/stride/alignment.
    func gemm(n: Int, t: Int, k: Int, weight: UInt64, weightType: Int32, ldw: Int, x: UInt64, inputType: Int32, ldx: Int,
              out: UInt64, outputType: Int32, ldo: Int, stream: TernCUstream?) throws -> Bool {
        try gemmBatched(batch: 1, n: n, t: t, k: k, weight: weight, weightType: weightType, ldw: ldw, strideW: 0,
                        x: x, inputType: inputType, ldx: ldx, strideX: 0, out: out, outputType: outputType, ldo: ldo, strideO: 0,
                        stream: stream)
    }

    /// Enqueues `batch` GEMMs `out_b = x_b · W_bᵀ` in one call (strided batch): matrix b of each
    /// operand starts `stride` elements after matrix b − 1 (batch 1: one GEMM, strides unused). Same
    /// conventions as `gemm`.
    func gemmBatched(batch: Int, n: Int, t: Int, k: Int, weight: UInt64, weightType: Int32, ldw: Int, strideW: Int,
                     x: UInt64, inputType: Int32, ldx: Int, strideX: Int, out: UInt64, outputType: Int32, ldo: Int, strideO: Int,
                     stream: TernCUstream?) throws -> Bool {
        func size(_ type: Int32) -> Int { type == Int32(TERN_CUDA_R_32F) ? 4 : type == Int32(TERN_CUDA_R_8F_E4M3) ? 1 : 2 }
        func align(_ address: UInt64, _ ld: Int, _ stride: Int, _ e: Int) -> Int {
            min(Self.alignment(address, ld * e), batch > 1 ? Self.alignment(0, stride * e) : 256)
        }
        let key = PlanKey(n: n, t: t, k: k, ldw: ldw, ldx: ldx, ldo: ldo, weightType: weightType, inputType: inputType,
                          outputType: outputType,
                          alignW: align(weight, ldw, strideW, size(weightType)), alignX: align(x, ldx, strideX, size(inputType)),
                          alignO: align(out, ldo, strideO, size(outputType)),
                          batch: batch, strideW: strideW, strideX: strideX, strideO: strideO)
        guard let plan = try self.plan(key) else { return false }
        var alpha: Float = 1, beta: Float = 0
        var algo = plan.algo
        try check(matmul(handle, plan.desc, &alpha, UnsafeRawPointer(bitPattern: UInt(weight)), plan.a,
                         UnsafeRawPointer(bitPattern: UInt(x)), plan.b, &beta,
                         UnsafeRawPointer(bitPattern: UInt(out)), plan.c, UnsafeMutableRawPointer(bitPattern: UInt(out)), plan.c,
                         &algo, UnsafeMutableRawPointer(bitPattern: UInt(workspace)), workspaceBytes, stream),
                  "cublasLtMatmul(\(batch > 1 ? "\(batch)×" : "")\(n)x\(t)x\(k))")
        return true
    }

    private func plan(_ key: PlanKey) throws -> Plan? {
        lock.lock()
        defer { lock.unlock() }
        if let p = plans[key] { return p }
        var desc: TernCublasLtMatmulDesc?
        try check(descCreate(&desc, Int32(TERN_CUBLAS_COMPUTE_32F), Int32(TERN_CUDA_R_32F)), "cublasLtMatmulDescCreate")
        var transA = Int32(TERN_CUBLAS_OP_T), transB = Int32(TERN_CUBLAS_OP_N)
        try check(descSet(desc, Int32(TERN_CUBLASLT_MATMUL_DESC_TRANSA), &transA, 4), "cublasLtMatmulDescSetAttribute(TRANSA)")
        try check(descSet(desc, Int32(TERN_CUBLASLT_MATMUL_DESC_TRANSB), &transB, 4), "cublasLtMatmulDescSetAttribute(TRANSB)")
        var a: TernCublasLtMatrixLayout?, b: TernCublasLtMatrixLayout?, c: TernCublasLtMatrixLayout?
        try check(layoutCreate(&a, key.weightType, UInt64(key.k), UInt64(key.n), Int64(key.ldw)), "cublasLtMatrixLayoutCreate(W)")
        try check(layoutCreate(&b, key.inputType, UInt64(key.k), UInt64(key.t), Int64(key.ldx)), "cublasLtMatrixLayoutCreate(x)")
        try check(layoutCreate(&c, key.outputType, UInt64(key.n), UInt64(key.t), Int64(key.ldo)), "cublasLtMatrixLayoutCreate(out)")
        if key.batch > 1 {
            for (layout, stride) in [(a, key.strideW), (b, key.strideX), (c, key.strideO)] {
                var count = Int32(key.batch), offset = Int64(stride)
                try check(layoutSet(layout, Int32(TERN_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT), &count, 4), "cublasLtMatrixLayoutSetAttribute(batch)")
                try check(layoutSet(layout, Int32(TERN_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET), &offset, 8),
                          "cublasLtMatrixLayoutSetAttribute(stride)")
            }
        }
        var preference: TernCublasLtMatmulPreference?
        try check(prefCreate(&preference), "cublasLtMatmulPreferenceCreate")
        defer { _ = prefDestroy(preference) }
        var ws = UInt64(workspaceBytes)
        try check(prefSet(preference, Int32(TERN_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES), &ws, 8), "cublasLtMatmulPreferenceSetAttribute(workspace)")
        for (attribute, value) in [(TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.alignW), (TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.alignX),
                                   (TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.alignO), (TERN_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.alignO)] {
            var v = UInt32(value)
            try check(prefSet(preference, Int32(attribute), &v, 4), "cublasLtMatmulPreferenceSetAttribute(alignment)")
        }
        var result = TernCublasLtHeuristicResult()
        var returned: Int32 = 0
        let status = heuristic(handle, desc, a, b, c, c, preference, 1, &result, &returned)
        guard status == 0 && returned > 0 else {
            plans[key] = .some(nil)
            return nil
        }
        let plan = Plan(desc: desc!, a: a!, b: b!, c: c!, algo: result.algo)
        plans[key] = plan
        return plan
    }
}
