import Testing
import TernBackend
import TernCore

/// The allocation contract: `allocate(_:dtype:)` is zeroed; `zeroed: false` buffers are poisoned
/// on the CPU backend (NaN), so model code that reads memory no op wrote fails instead of seeing 0.
@Suite struct AllocationContractTests {
    @Test func defaultAllocationIsZeroed() throws {
        let cpu = CPUBackend()
        #expect(try cpu.downloadFloats(try cpu.allocate([3, 5], dtype: .f32)).allSatisfy { $0 == 0 })
        #expect(try cpu.downloadFloats(try cpu.allocate([3, 5], dtype: .f32, zeroed: true)).allSatisfy { $0 == 0 })
    }

    @Test func unzeroedCPUAllocationIsPoisonedWithNaN() throws {
        let cpu = CPUBackend()
        #expect(try cpu.downloadFloats(try cpu.allocate([4, 7], dtype: .f32, zeroed: false)).allSatisfy { $0.isNaN })
        #expect(try cpu.downloadInt32s(try cpu.allocate([6], dtype: .i32, zeroed: false)).allSatisfy { $0 == -1 })
    }
}
