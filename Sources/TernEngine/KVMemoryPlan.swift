import Foundation
import TernBackend

/// How big the KV pool is and why: on a device with memory to measure (GPUs) the pool takes what
/// `--mem-fraction-static` leaves after the weights and a reserve, as SGLang sizes it; elsewhere
/// (the CPU) a fixed byte budget. `--max-total-tokens` caps both.
public struct KVMemoryPlan: Sendable, Hashable {
    /// Pages in the engine's pool.
    public var pages: Int
    public var pageSize: Int
    /// KV bytes of those pages.
    public var kvBytes: Int
    /// Device memory measured before the pool was allocated (nil on the CPU).
    public var device: DeviceMemory?
    /// What decided the size.
    public var limitedBy: Limit

    public enum Limit: String, Sendable, Hashable {
        /// fraction × total − used − reserve.
        case memFractionStatic = "mem-fraction-static"
        /// `--max-total-tokens`.
        case maxTotalTokens = "max-total-tokens"
        /// The CPU's fixed budget (`kvCacheBytes`).
        case hostBudget = "cpu-kv-cache-bytes"
    }

    public var tokens: Int { pages * pageSize }

    /// - Parameters:
    ///   - bytesPerToken: KV bytes one token takes (all layers).
    ///   - device: the device's memory after the weights loaded, nil where there is none.
    public init(config: EngineConfig, bytesPerToken: Int, device: DeviceMemory?) {
        pageSize = config.pageSize
        self.device = device
        let pageBytes = max(1, bytesPerToken * config.pageSize)
        var pages: Int
        if let device {
            // SGLang: rest = free − total × (1 − fraction) = fraction × total − used; minus our reserve
            // for activations, CUDA graphs and the sampler's buffers (allocated after the pool).
            let used = device.total - device.free
            let budget = Int(config.memFractionStatic * Double(device.total)) - used - config.deviceReserveBytes
            pages = max(0, budget / pageBytes)
            limitedBy = .memFractionStatic
            if let cap = config.maxTotalTokens, cap / config.pageSize < pages {
                pages = max(0, cap / config.pageSize)
                limitedBy = .maxTotalTokens
            }
        } else if let cap = config.maxTotalTokens {
            pages = max(0, cap / config.pageSize)
            limitedBy = .maxTotalTokens
        } else {
            pages = max(0, config.kvCacheBytes / pageBytes)
            limitedBy = .hostBudget
        }
        self.pages = pages
        kvBytes = pages * pageBytes
    }

    /// One line for the start-up log.
    public var summary: String {
        func gb(_ bytes: Int) -> String { String(format: "%.2f GiB", Double(bytes) / Double(1 << 30)) }
        var parts: [String] = []
        if let device {
            parts.append("device \(gb(device.total)), in use before KV \(gb(device.total - device.free)) (weights and buffers \(gb(device.heldByBackend)))")
        }
        parts.append("KV \(gb(kvBytes)): \(pages) pages × \(pageSize) = \(tokens) tokens (limited by \(limitedBy.rawValue))")
        return parts.joined(separator: "; ")
    }
}
