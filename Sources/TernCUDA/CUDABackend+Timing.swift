import CCUDA
import Foundation
import TernBackend
import TernCore

/// Device-side timing and the two ceilings every CUDA figure is compared with: device-to-device
/// copy bandwidth and a large cuBLASLt bf16 GEMM rate, measured in the same process.
extension CUDABackend {
    /// Milliseconds `body` keeps the stream busy, from events recorded around it.
    public func time(_ body: () throws -> Void) throws -> Double {
        try bind()
        return try EventTimer(driver: driver).milliseconds(on: stream, body)
    }

    /// Bytes read + written per second by device-to-device copies of `bytes` (median of runs).
    public func copyBandwidth(bytes: Int = 2 << 30, repeats: Int = 10) throws -> Double {
        let a = try allocate([bytes], dtype: .u8), b = try allocate([bytes], dtype: .u8)
        try fill(a, byte: 0x3C)
        var times: [Double] = []
        for i in 0..<(repeats + 2) {
            let ms = try time {
                try driver.check(driver.cuMemcpyDtoDAsync(address(b), address(a), bytes, stream), "cuMemcpyDtoDAsync")
            }
            if i >= 2 { times.append(ms) }
        }
        let median = times.sorted()[times.count / 2]
        return Double(2 * bytes) / (median / 1e3)
    }

    /// FLOP/s of a bf16 `m × n × k` GEMM through cuBLASLt on random data (median of runs).
    public func gemmRate(m: Int = 8192, n: Int = 8192, k: Int = 8192, repeats: Int = 10) throws -> Double {
        var random = SelfTestRandom(seed: 3)
        let weightValues = (0..<min(n * k, 1 << 22)).map { _ in random.signed() }
        let w = try allocate([n, k], dtype: .bf16), x = try allocate([m, k], dtype: .bf16), out = try allocate([m, n], dtype: .bf16)
        // Tile a random block over the operands (random data, not zeros: zeros run faster).
        let block = try upload(floats: weightValues, shape: [weightValues.count], as: .bf16)
        for target in [w, x] {
            var offset = 0
            while offset < target.elementCount {
                let count = min(weightValues.count, target.elementCount - offset)
                try driver.check(driver.cuMemcpyDtoDAsync(address(target) + UInt64(offset * 2), address(block), count * 2, stream), "cuMemcpyDtoDAsync")
                offset += count
            }
        }
        var times: [Double] = []
        for i in 0..<(repeats + 2) {
            let ms = try time { try linear(x, Linear(weight: w), out: out) }
            if i >= 2 { times.append(ms) }
        }
        let median = times.sorted()[times.count / 2]
        return 2 * Double(m) * Double(n) * Double(k) / (median / 1e3)
    }
}
