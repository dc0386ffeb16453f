import CCUDA
import Foundation

/// Per-kernel device time, for finding where a step's time goes (TERN_CUDA_PROFILE=1). Each
/// profiled launch records events around itself and waits for them, so profiled runs are slower:
/// the table says how device time splits, not how long an unprofiled step takes.
final class OpProfiler: @unchecked Sendable {
    struct Entry { var calls = 0; var milliseconds = 0.0 }
    private var entries: [String: Entry] = [:]
    private let lock = NSLock()
    private let timer: EventTimer

    init(driver: CUDADriver) throws {
        timer = try EventTimer(driver: driver)
    }

    func measure(_ name: String, stream: TernCUstream?, _ body: () throws -> Void) throws {
        lock.lock()
        defer { lock.unlock() }
        let ms = try timer.milliseconds(on: stream, body)
        entries[name, default: Entry()].calls += 1
        entries[name, default: Entry()].milliseconds += ms
    }

    func totals() -> [String: Double] { lock.lock(); defer { lock.unlock() }; return entries.mapValues(\.milliseconds) }

    func reset() { lock.lock(); entries = [:]; lock.unlock() }

    /// Rows sorted by total time: name, calls, total ms, share.
    func report(perStepDivisor: Int) -> String {
        lock.lock()
        defer { lock.unlock() }
        let total = entries.values.reduce(0) { $0 + $1.milliseconds }
        var lines = [String(format: "profile: %.3f ms device time per step (sum of %d calls / %d steps)", total / Double(max(perStepDivisor, 1)),
                            entries.values.reduce(0) { $0 + $1.calls }, perStepDivisor)]
        for (name, e) in entries.sorted(by: { $0.value.milliseconds > $1.value.milliseconds }) {
            lines.append(String(format: "  %-40@ %7d calls  %9.3f ms/step  %5.1f%%", name as NSString, e.calls / max(perStepDivisor, 1),
                                e.milliseconds / Double(max(perStepDivisor, 1)), 100 * e.milliseconds / max(total, 1e-9)))
        }
        return lines.joined(separator: "\n")
    }
}
