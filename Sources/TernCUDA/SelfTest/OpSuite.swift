import Foundation
import TernBackend
import TernCore

/// Deterministic 64-bit generator for test inputs (SplitMix64).
public struct SelfTestRandom: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    public mutating func signed() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// One row of the self-test table.
public struct SelfTestResult: Sendable {
    public var op: String
    public var detail: String
    public var error: Double
    public var tolerance: Double
    public var passed: Bool
    public var note: String
}

/// Runs every CUDA op against the CPU backend on the same (bf16-rounded) random inputs.
public struct OpSuite {
    public let cpu: CPUBackend
    public let gpu: CUDABackend
    public var random: SelfTestRandom
    public private(set) var results: [SelfTestResult] = []

    public init(cpu: CPUBackend, gpu: CUDABackend, seed: UInt64) {
        self.cpu = cpu
        self.gpu = gpu
        self.random = SelfTestRandom(seed: seed)
    }

    public var passed: Int { results.filter(\.passed).count }
    public var failed: Int { results.count - passed }

    /// bf16 outputs carry ~2⁻⁹ relative rounding per element plus the inputs' roundings downstream.
    static let bf16Tolerance = 1.5e-2
    static let f32Tolerance = 2e-3

    public mutating func record(_ op: String, _ detail: String, error: Double, tolerance: Double, note: String = "") {
        results.append(SelfTestResult(op: op, detail: detail, error: error, tolerance: tolerance,
                                      passed: error.isFinite && error <= tolerance, note: note))
    }

    public mutating func fail(_ op: String, _ detail: String, _ error: Error) {
        results.append(SelfTestResult(op: op, detail: detail, error: .nan, tolerance: 0, passed: false, note: "\(error)"))
    }

    public func printTable() {
        print("op                  case                                         rel_error   tolerance  result")
        for r in results {
            let op = r.op.padding(toLength: 19, withPad: " ", startingAt: 0)
            let detail = r.detail.padding(toLength: 44, withPad: " ", startingAt: 0)
            print(String(format: "%@ %@ %10.2e  %10.1e  %@", op, detail, r.error, r.tolerance, r.passed ? "ok" : "FAIL") + (r.note.isEmpty ? "" : "  " + r.note))
        }
    }

    // MARK: inputs

    /// Random values rounded to bf16 (so both backends see identical inputs).
    mutating func values(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in bf16ToFloat(floatToBF16(random.signed() * scale)) }
    }

    /// The same values on both backends: f32 on the CPU, `dtype` on the GPU. With `pad`, the
    /// tensors are column views of wider rows (strided).
    mutating func pair(_ rows: Int, _ width: Int, dtype: DType = .bf16, pad: Int = 0, scale: Float = 1) throws -> (cpu: Tensor, gpu: Tensor) {
        let v = values(rows * (width + pad), scale: scale)
        let c = try cpu.upload(floats: v, shape: [rows, width + pad], as: .f32)
        let g = try gpu.upload(floats: v, shape: [rows, width + pad], as: dtype)
        if pad == 0 { return (c, g) }
        return (c.columns(pad / 2..<pad / 2 + width), g.columns(pad / 2..<pad / 2 + width))
    }

    /// Output buffers: CPU zeros, GPU poisoned with NaN so unwritten elements fail.
    func outputs(_ rows: Int, _ width: Int, dtype: DType = .bf16, pad: Int = 0) throws -> (cpu: Tensor, gpu: Tensor) {
        let c = try cpu.allocate([rows, width + pad], dtype: .f32)
        let g = try gpu.allocate([rows, width + pad], dtype: dtype)
        try gpu.fill(g, byte: 0xFF)
        if pad == 0 { return (c, g) }
        return (c.columns(pad / 2..<pad / 2 + width), g.columns(pad / 2..<pad / 2 + width))
    }

    /// ‖gpu − cpu‖ / ‖cpu‖ over all elements (NaN when the GPU left any NaN).
    func relativeError(_ c: Tensor, _ g: Tensor) throws -> Double {
        let a = try cpu.downloadFloats(c), b = try gpu.downloadFloats(g)
        precondition(a.count == b.count)
        var diff = 0.0, norm = 0.0
        for i in a.indices {
            if b[i].isNaN != a[i].isNaN { return .nan }
            if a[i].isNaN { continue }
            diff += Double(b[i] - a[i]) * Double(b[i] - a[i])
            norm += Double(a[i]) * Double(a[i])
        }
        return norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
    }

    mutating func compare(_ op: String, _ detail: String, _ c: Tensor, _ g: Tensor, tolerance: Double? = nil) throws {
        let tol = tolerance ?? (g.dtype == .f32 ? Self.f32Tolerance : Self.bf16Tolerance)
        record(op, detail, error: try relativeError(c, g), tolerance: tol)
    }

    public mutating func check(_ op: String, _ detail: String, _ body: (inout OpSuite) throws -> Void) {
        do { try body(&self) } catch { fail(op, detail, error) }
    }

    // MARK: the suite

    public mutating func runAll() {
        elementwise()
        norms()
        linears()
        gemvs()
        gateUpSiLU()
        normGEMVs()
        ropes()
        fusedRope()
        ropeStores()
        attentions()
        mlaHeadOps()
        routing()
        mixtureOfExperts()
        groupedMixtureOfExperts()
        argmaxes()
        sampling()
        kvTransfers()
    }
}
