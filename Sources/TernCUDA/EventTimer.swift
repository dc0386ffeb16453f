import CCUDA

/// A pair of CUDA events that times what a closure enqueues on a stream: records the start event,
/// runs the closure, records the end event and waits for it. Used by `CUDABackend.time` and by the
/// per-kernel profiler (TERN_CUDA_PROFILE=1). Not thread-safe: one timing at a time per timer.
final class EventTimer {
    private let driver: CUDADriver
    private var start: TernCUevent?, end: TernCUevent?

    init(driver: CUDADriver) throws {
        self.driver = driver
        try driver.check(driver.cuEventCreate(&start, UInt32(TERN_CU_EVENT_DEFAULT)), "cuEventCreate")
        do {
            try driver.check(driver.cuEventCreate(&end, UInt32(TERN_CU_EVENT_DEFAULT)), "cuEventCreate")
        } catch {
            _ = driver.cuEventDestroy(start)
            throw error
        }
    }

    deinit { _ = driver.cuEventDestroy(start); _ = driver.cuEventDestroy(end) }

    /// Milliseconds between the events recorded before and after `body` on `stream`.
    func milliseconds(on stream: TernCUstream?, _ body: () throws -> Void) throws -> Double {
        try driver.check(driver.cuEventRecord(start, stream), "cuEventRecord")
        try body()
        try driver.check(driver.cuEventRecord(end, stream), "cuEventRecord")
        try driver.check(driver.cuEventSynchronize(end), "cuEventSynchronize")
        var ms: Float = 0
        try driver.check(driver.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime")
        return Double(ms)
    }
}
