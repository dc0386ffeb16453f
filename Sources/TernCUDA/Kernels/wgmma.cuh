// Hopper (sm_90a) warpgroup MMA helpers: shared-memory matrix descriptors for K-major operands
// in the 128-byte swizzle layout, wgmma fences / commit / wait, the async-proxy fence that makes
// generic-proxy shared-memory writes (st.shared, cp.async) visible to wgmma, and the
// wgmma.mma_async shapes Tern's kernels use (fp32 accumulators; both operands from shared memory, or
// A from registers: the *_rs_* shapes).
//
// Layout contract of wg_desc_k128 (K-major, 128B swizzle): an operand tile of R rows (M or N)
// whose rows are 128 bytes of K (64 bf16 or 128 e4m3) each, rows at byte offset 128·r from a
// 1024-byte aligned base, and the 16-byte chunk c (0..7) of row r stored at chunk position
// c ^ (r & 7) (use wg_swizzle128). Groups of 8 rows are 1024 bytes apart (the stride byte offset).
// One wgmma consumes 32 bytes of K (k16 bf16, k32 e4m3); the k-th 32-byte slice of the same tile
// is addressed by adding 32·k bytes to the descriptor's start address (wg_desc_advance), the
// swizzle being applied by the hardware on the address bits.
//
// Accumulator fragment of m64nN (fp32) for thread `lane` of warp w (0..3) of the warpgroup:
// d[4j + 2h + q] is row 16w + (lane >> 2) + 8h, column 8j + 2(lane & 3) + q.
#pragma once
#include "common.cuh"

// Byte offset of 16-byte chunk `chunk` (0..7) of row `row` in a 128B-swizzled K-major tile.
__device__ __forceinline__ u32 wg_swizzle128(int row, int chunk) { return (u32)(row * 128 + ((chunk ^ (row & 7)) << 4)); }

// Descriptor of a K-major 128B-swizzled operand starting at shared address `smem` (1024-aligned
// for the tile start; the start may then be advanced in 32-byte steps along K).
__device__ __forceinline__ u64 wg_desc_k128(u32 smem) {
    u64 d = 0;
    d |= (u64)((smem & 0x3FFFFu) >> 4);  // start address, bits 0-13
    d |= (u64)1 << 16;                   // leading byte offset (unused for swizzled K-major)
    d |= (u64)(1024 >> 4) << 32;         // stride byte offset: 8 rows × 128 bytes
    d |= (u64)1 << 62;                   // swizzle mode: 128B
    return d;
}

// Descriptor of an MN-major 128B-swizzled operand (read with the transpose bit: e.g. V as the B operand
// of O += P·V), 1024-aligned at `smem`: rows of 128 bytes along N, 8-row groups 1024 bytes apart, and
// `leadingBytes` from one 64-element (128-byte) block of N to the next.
__device__ __forceinline__ u64 wg_desc_mn128(u32 smem, u32 leadingBytes) {
    u64 d = 0;
    d |= (u64)((smem & 0x3FFFFu) >> 4);                  // start address, bits 0-13
    d |= (u64)((leadingBytes & 0x3FFFFu) >> 4) << 16;    // leading byte offset: the next 64 columns of N
    d |= (u64)(1024 >> 4) << 32;                         // stride byte offset: 8 rows × 128 bytes
    d |= (u64)1 << 62;                                   // swizzle mode: 128B
    return d;
}

// The descriptor of the same tile `bytes` further along K (bytes % 16 == 0, < 128).
__device__ __forceinline__ u64 wg_desc_advance(u64 desc, u32 bytes) { return desc + (u64)(bytes >> 4); }

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }

// Generic-proxy shared-memory writes of this thread (st.shared, completed cp.async) become
// visible to the async proxy (wgmma operand reads) once a barrier follows.
__device__ __forceinline__ void wg_fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

// mbarriers (shared::cta, 8 bytes each) for producer / consumer rings: init with the expected
// arrival count, wait for the phase of the given parity to complete, plain arrival, and the
// arrival a thread's earlier cp.async copies make once they land (noinc: counted in the init).
__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
    asm volatile(
        "{\n\t.reg .pred p;\n"
        "WG_MBAR_WAIT:\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n\t"
        "@!p bra WG_MBAR_WAIT;\n}" ::"r"(bar),
        "r"(parity)
        : "memory");
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("{\n\t.reg .b64 st;\n\tmbarrier.arrive.shared::cta.b64 st, [%0];\n}" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_cp_async_arrive(u32 bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory");
}

// Keeps the compiler from moving accumulator reads / writes across wgmma issue and wait.
template <int R> __device__ __forceinline__ void wg_fence_regs(float (&d)[R]) {
#pragma unroll
    for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i])::"memory");
}

template <int R> __device__ __forceinline__ void wg_fence_regs(u32 (&d)[R]) {
#pragma unroll
    for (int i = 0; i < R; i++) asm volatile("" : "+r"(d[i])::"memory");
}

// Operand lists of the accumulator fragments: WG_D<n> is "%0, ..., %<n-1>" in the asm text and
// WG_OPS<n>(d) the matching "+f" operands d[0..n-1]; the inputs follow as %<n>, %<n+1>, ...
#define WG_R0 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15"
#define WG_R1 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define WG_R2 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47"
#define WG_R3 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define WG_R4 "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79"
#define WG_R5 "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
#define WG_R6 "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111"
#define WG_R7 "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define WG_D16 WG_R0
#define WG_D32 WG_R0 ", " WG_R1
#define WG_D64 WG_D32 ", " WG_R2 ", " WG_R3
#define WG_D128 WG_D64 ", " WG_R4 ", " WG_R5 ", " WG_R6 ", " WG_R7
#define WG_OPS8(d, o) "+f"(d[(o) + 0]), "+f"(d[(o) + 1]), "+f"(d[(o) + 2]), "+f"(d[(o) + 3]), "+f"(d[(o) + 4]), "+f"(d[(o) + 5]), "+f"(d[(o) + 6]), "+f"(d[(o) + 7])
#define WG_OPS16(d) WG_OPS8(d, 0), WG_OPS8(d, 8)
#define WG_OPS32(d) WG_OPS16(d), WG_OPS8(d, 16), WG_OPS8(d, 24)
#define WG_OPS64(d) WG_OPS32(d), WG_OPS8(d, 32), WG_OPS8(d, 40), WG_OPS8(d, 48), WG_OPS8(d, 56)
#define WG_OPS128(d) WG_OPS64(d), WG_OPS8(d, 64), WG_OPS8(d, 72), WG_OPS8(d, 80), WG_OPS8(d, 88), WG_OPS8(d, 96), WG_OPS8(d, 104), WG_OPS8(d, 112), WG_OPS8(d, 120)

// d (+)= A · Bᵀ with A [64 × 16] and B [N × 16] K-major in shared memory; scaleD == 0: d = A · Bᵀ.
// TRANS_B = 1: B [16 × 256] MN-major instead (transpose bit set; descriptor from wg_desc_mn128).
template <int TRANS_B = 0>
__device__ __forceinline__ void wg_mma_bf16_n256(float (&d)[128], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
        "{" WG_D128 "}, %128, %129, p, 1, 1, 0, %131;\n}\n"
        : WG_OPS128(d)
        : "l"(descA), "l"(descB), "r"(scaleD), "n"(TRANS_B));
}

__device__ __forceinline__ void wg_mma_bf16_n128(float (&d)[64], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{" WG_D64 "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : WG_OPS64(d)
        : "l"(descA), "l"(descB), "r"(scaleD));
}

__device__ __forceinline__ void wg_mma_e4m3_n128(float (&d)[64], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
        "{" WG_D64 "}, %64, %65, p, 1, 1;\n}\n"
        : WG_OPS64(d)
        : "l"(descA), "l"(descB), "r"(scaleD));
}

// d (+)= A · B with A [64 × 16] bf16 from registers (a[0..3]: this thread's A fragment, which is the
// layout of an m64n16 fp32 accumulator fragment packed to bf16 pairs) and B [16 × 128] MN-major in shared memory (transpose bit set;
// descriptor from wg_desc_mn128); scaleD == 0: d = A · B.
__device__ __forceinline__ void wg_mma_bf16_n128_rs_mn(float (&d)[64], const u32 *a, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{" WG_D64 "}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
        : WG_OPS64(d)
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(scaleD));
}

__device__ __forceinline__ void wg_mma_bf16_n64(float (&d)[32], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{" WG_D32 "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
        : WG_OPS32(d)
        : "l"(descA), "l"(descB), "r"(scaleD));
}

__device__ __forceinline__ void wg_mma_bf16_n32(float (&d)[16], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
        "{" WG_D16 "}, %16, %17, p, 1, 1, 0, 0;\n}\n"
        : WG_OPS16(d)
        : "l"(descA), "l"(descB), "r"(scaleD));
}

// wg_mma_bf16_n128_rs_mn with N = 256.
__device__ __forceinline__ void wg_mma_bf16_n256_rs_mn(float (&d)[128], const u32 *a, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
        "{" WG_D128 "}, {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"
        : WG_OPS128(d)
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(scaleD));
}
