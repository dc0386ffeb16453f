import CCUDA
import Foundation

/// A caching device allocator: blocks are rounded to size classes and returned to per-class free
/// lists when their tensor dies, so a model step's temporaries reuse memory instead of calling
/// cuMemAlloc. All work runs on one stream, so a block freed by the host may be reused by later
/// kernels without waiting: stream order keeps the earlier kernels' reads first.
final class DeviceAllocator: @unchecked Sendable {
    private let context: CUDAContext
    private var free: [Int: [UInt64]] = [:]
    private let lock = NSLock()
    private(set) var reservedBytes = 0
    private(set) var cachedBytes = 0
    private(set) var driverAllocations = 0
    /// Blocks a captured CUDA graph reads or writes: they never go back to the free lists, so no
    /// later tensor shares an address with a graph (see `CUDADecodeGraphs`).
    private var graphOwned: Set<UInt64> = []
    /// While a graph is captured: its temporaries, reusable within the same capture (one stream
    /// orders them), nil otherwise.
    private var captureFree: [Int: [UInt64]]?

    func beginCapture() { lock.lock(); captureFree = [:]; lock.unlock() }
    func endCapture() { lock.lock(); captureFree = nil; lock.unlock() }

    init(context: CUDAContext) { self.context = context }

    /// Size class of a request: 512-byte steps under 1 MiB, 2 MiB steps above.
    static func sizeClass(_ bytes: Int) -> Int {
        let b = max(bytes, 1)
        if b < 1 << 20 { return (b + 511) / 512 * 512 }
        return (b + (2 << 20) - 1) / (2 << 20) * (2 << 20)
    }

    func allocate(_ bytes: Int) throws -> UInt64 {
        let size = Self.sizeClass(bytes)
        lock.lock()
        if captureFree != nil {
            if var list = captureFree![size], let block = list.popLast() {
                captureFree![size] = list
                lock.unlock()
                return block
            }
            lock.unlock()
            let block = try allocateUncaptured(size)
            lock.lock(); graphOwned.insert(block); lock.unlock()
            return block
        }
        lock.unlock()
        return try allocateUncaptured(size)
    }

    private func allocateUncaptured(_ size: Int) throws -> UInt64 {
        lock.lock()
        if var list = free[size], let block = list.popLast() {
            free[size] = list
            cachedBytes -= size
            lock.unlock()
            return block
        }
        lock.unlock()
        var pointer: TernCUdeviceptr = 0
        var result = context.driver.cuMemAlloc(&pointer, size)
        if result == 2 {  // out of memory: give cached blocks back and try once more
            try releaseCached()
            result = context.driver.cuMemAlloc(&pointer, size)
        }
        try context.driver.check(result, "cuMemAlloc(\(size) bytes)")
        lock.lock()
        reservedBytes += size
        driverAllocations += 1
        lock.unlock()
        return pointer
    }

    func release(_ pointer: UInt64, bytes: Int) {
        let size = Self.sizeClass(bytes)
        lock.lock()
        if graphOwned.contains(pointer) {
            captureFree?[size, default: []].append(pointer)
            lock.unlock()
            return
        }
        free[size, default: []].append(pointer)
        cachedBytes += size
        lock.unlock()
    }

    /// Frees every cached block (after synchronizing, so no queued kernel still uses one).
    func releaseCached() throws {
        try context.driver.check(context.driver.cuCtxSynchronize(), "cuCtxSynchronize")
        lock.lock()
        let blocks = free
        free = [:]
        cachedBytes = 0
        lock.unlock()
        for (size, list) in blocks {
            for p in list {
                try context.driver.check(context.driver.cuMemFree(p), "cuMemFree")
                lock.lock(); reservedBytes -= size; lock.unlock()
            }
        }
    }
}
