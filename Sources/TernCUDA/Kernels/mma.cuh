// Warp-level tensor-core and async-copy primitives shared by the attention and MoE kernels (mma.sync
// m16n8k16 bf16 and m16n8k32 e4m3 with fp32 accumulators, ldmatrix, cp.async with zero fill, exact e4m3 → bf16). One copy
// here instead of one per kernel file; Hopper's warpgroup MMA lives in wgmma.cuh.
#pragma once
#include "common.cuh"

// D += A·B, A 16×16 row-major (4 registers of bf16 pairs), B 16×8 column-major (2 registers).
__device__ __forceinline__ void mma_bf16_16816(float *c, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_bf16_16816(float *c, const u32 *a, u32 b0, u32 b1) {
    mma_bf16_16816(c, a[0], a[1], a[2], a[3], b0, b1);
}
__device__ __forceinline__ void mma_bf16_16816(float *c, const u32 *a, const u32 *b) { mma_bf16_16816(c, a, b[0], b[1]); }
// The same with f16 operands.
__device__ __forceinline__ void mma_f16_16816(float *c, const u32 *a, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// D += A·B in e4m3 with fp32 accumulators: A 16×32 (4 registers of 4 codes), B 32×8 (2 registers).
__device__ __forceinline__ void mma_e4m3_16832(float *c, const u32 *a, const u32 *b) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Two floats → a bf16 pair (lo in the low half), round to nearest even, in one instruction.
__device__ __forceinline__ u32 pack_bf16x2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// The same to an f16 pair.
__device__ __forceinline__ u32 pack_f16x2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// Shared-memory address of a generic pointer into shared memory.
__device__ __forceinline__ u32 smem_u32(const void *p) { return (u32)__cvta_generic_to_shared(p); }

// ldmatrix: four 8×8 b16 matrices whose row addresses lanes 8i..8i+7 give (matrix i); thread T
// receives row T/4, elements 2(T%4), 2(T%4)+1 of each (.trans: of the transpose).
__device__ __forceinline__ void ldsm_x4(u32 addr, u32 &r0, u32 &r1, u32 &r2, u32 &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(u32 addr, u32 &r0, u32 &r1, u32 &r2, u32 &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4(u32 *r, const void *p) { ldsm_x4(smem_u32(p), r[0], r[1], r[2], r[3]); }
__device__ __forceinline__ void ldsm_x4(u32 *r, u32 addr) { ldsm_x4(addr, r[0], r[1], r[2], r[3]); }
__device__ __forceinline__ void ldsm_x4_trans(u32 *r, const void *p) { ldsm_x4_trans(smem_u32(p), r[0], r[1], r[2], r[3]); }

// 16-byte global → shared copy that bypasses registers (cp.async.cg, L2 only), zero-filling the
// destination when !valid, so every load of a tile can be in flight at once.
__device__ __forceinline__ void cp_async16(u32 saddr, const void *gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(saddr), "l"(gmem), "r"(valid ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid) { cp_async16(smem_u32(smem), gmem, valid); }
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;" ::: "memory"); }
// 16-byte shared-memory store / load at a shared address (ordered with the other shared accesses).
__device__ __forceinline__ void st_shared16(u32 addr, uint4 v) {
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w) : "memory");
}
__device__ __forceinline__ uint4 ld_shared16(u32 addr) {
    uint4 v;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr) : "memory");
    return v;
}
__device__ __forceinline__ u32 ld_shared4(u32 addr) {
    u32 v;
    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(addr) : "memory");
    return v;
}
// 4-byte global → shared copy (cp.async.ca; 4-byte aligned source and destination), zero-filled when !valid.
__device__ __forceinline__ void cp_async4(u32 saddr, const void *gmem, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(saddr), "l"(gmem), "r"(valid ? 4 : 0) : "memory");
}

// e4m3fn code → bf16 bits, exactly (every e4m3 value is a bf16 value): normal codes rebias the
// exponent (7 → 127) and widen the mantissa; subnormals (m · 2^-9) go through float.
__device__ __forceinline__ u32 e4m3_to_bf16_bits(u32 b) {
    u32 em = b & 0x7Fu;
    u32 magnitude = em >= 8u ? (em + 960u) << 4 : (__float_as_uint((float)em * 0.001953125f) >> 16);
    return ((b & 0x80u) << 8) | magnitude;
}
// Two adjacent e4m3 codes (low byte first) → a bf16 pair.
__device__ __forceinline__ u32 e4m3x2_to_bf16x2(u32 two) {
    return e4m3_to_bf16_bits(two & 0xFFu) | (e4m3_to_bf16_bits((two >> 8) & 0xFFu) << 16);
}
// Eight e4m3 codes (8 bytes, first code in the low byte) → eight bf16 (16 bytes).
__device__ __forceinline__ uint4 e4m3x8_to_bf16x8(uint2 v) {
    uint4 r;
    r.x = e4m3x2_to_bf16x2(v.x & 0xFFFFu);
    r.y = e4m3x2_to_bf16x2(v.x >> 16);
    r.z = e4m3x2_to_bf16x2(v.y & 0xFFFFu);
    r.w = e4m3x2_to_bf16x2(v.y >> 16);
    return r;
}
// Two e4m3 codes, one in the low byte of each 16-bit half → a bf16 pair, exactly, in 4 integer ops and
// one bf16x2 fma: sign to bit 15, exponent|mantissa to bits 4-10 gives the bf16 whose value is the
// e4m3 value × 2^-120 (e4m3 subnormals land on bf16 subnormals, m·2^-9 → m·2^-129), then × 2^120
// (0x7B80; the product is representable, so exact; bf16 fma keeps subnormal inputs).
__device__ __forceinline__ u32 e4m3x2_spread_to_bf16x2(u32 v) {
    u32 r = ((v & 0x007F007Fu) << 4) | ((v & 0x00800080u) << 8), d;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(r), "r"(0x7B807B80u), "r"(0x80008000u));
    return d;
}
// Four adjacent e4m3 codes (low byte first) → two bf16 pairs (codes 0-1, codes 2-3), the fast exact way.
__device__ __forceinline__ u32 e4m3x4_lo_to_bf16x2(u32 four) { return e4m3x2_spread_to_bf16x2(__byte_perm(four, 0u, 0x4140)); }
__device__ __forceinline__ u32 e4m3x4_hi_to_bf16x2(u32 four) { return e4m3x2_spread_to_bf16x2(__byte_perm(four, 0u, 0x4342)); }

// The max over the four lanes of a quad: the threads that hold one row of an m16n8 accumulator.
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// One online-softmax step in the log2 domain for a thread's two rows (r, r + 8) of the m16n8 score
// tiles s: mx0 / mx1 are the thread's maxima of this step's (masked, scaled) scores. The quad's maxima
// update the running max m and sum l and rescale the accumulators o; s becomes P = 2^(s − m) (a row that
// has seen no key yet keeps −∞ as its max and uses 0 in its exponents).
template <int NT, int OT>
__device__ __forceinline__ void online_softmax_step(float (&s)[NT][4], float (&o)[OT][4], float mx0, float mx1, float &m0,
                                                    float &m1, float &l0, float &l1) {
    mx0 = quad_max(mx0);
    mx1 = quad_max(mx1);
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    const float b0 = n0 == -INFINITY ? 0.0f : n0, b1 = n1 == -INFINITY ? 0.0f : n1;
    const float c0 = exp2f(m0 - b0), c1 = exp2f(m1 - b1);
    m0 = n0; m1 = n1;
    l0 *= c0; l1 *= c1;
#pragma unroll
    for (int i = 0; i < OT; i++) { o[i][0] *= c0; o[i][1] *= c0; o[i][2] *= c1; o[i][3] *= c1; }
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        s[nt][0] = exp2f(s[nt][0] - b0); s[nt][1] = exp2f(s[nt][1] - b0);
        s[nt][2] = exp2f(s[nt][2] - b1); s[nt][3] = exp2f(s[nt][3] - b1);
        l0 += s[nt][0] + s[nt][1];
        l1 += s[nt][2] + s[nt][3];
    }
}
