// Sampling on the GPU, one block per row of fp32 logits: penalties, temperature, top-k, top-p,
// min-p (the host sampler's order), then one draw from the kept tokens with a uniform number the host draws from the
// request's seeded generator (so a seed gives the same tokens on every run).
// top-k / top-p thresholds are found by bisection on the probability value instead of a sort:
// tokens tied exactly at a threshold are all kept.
#include "common.cuh"

struct SamplingRow {
    float temperature;   // ≤ 0: greedy
    int topK;            // ≤ 0: off
    float topP;          // ≥ 1: off
    float minP;          // ≤ 0: off
    float repetitionPenalty, frequencyPenalty, presencePenalty;
    float uniform;       // in [0, 1)
    int penaltyStart, penaltyCount;  // range of (id, output count) entries; count 0 = prompt-only token
};


extern "C" __global__ void tern_sample(const float *logits, long long logitStride, int vocab, const SamplingRow *rows,
                                       const int *penaltyIds, const int *penaltyCounts, float *scratch, int *out) {
    __shared__ float chunkSums[1024];
    __shared__ int chosen;
    long long r = blockIdx.x;
    SamplingRow p = rows[r];
    const float *x = logits + r * logitStride;
    float *w = scratch + r * (long long)vocab;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) w[i] = x[i];
    __syncthreads();
    for (int e = threadIdx.x; e < p.penaltyCount; e += blockDim.x) {
        int id = penaltyIds[p.penaltyStart + e], count = penaltyCounts[p.penaltyStart + e];
        if (id < 0 || id >= vocab) continue;
        float v = w[id];
        if (p.repetitionPenalty != 1.0f) v = v > 0.0f ? v / p.repetitionPenalty : v * p.repetitionPenalty;
        if (count > 0) v -= p.frequencyPenalty * (float)count + p.presencePenalty;
        w[id] = v;
    }
    __syncthreads();
    // Greedy: first index of the maximum.
    float best = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) best = fmaxf(best, w[i]);
    best = block_max(best);
    if (p.temperature <= 0.0f) {
        if (threadIdx.x == 0) chosen = 0x7fffffff;
        __syncthreads();
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) if (w[i] == best) atomicMin(&chosen, i);
        __syncthreads();
        if (threadIdx.x == 0) out[r] = chosen == 0x7fffffff ? 0 : chosen;
        return;
    }
    float invT = 1.0f / p.temperature;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) w[i] = __expf((w[i] - best) * invT);  // max → 1
    __syncthreads();
    // Same order as the host sampler: top-k, then top-p over what top-k kept, then min-p.
    float threshold = 0.0f;
    if (p.topK > 0 && p.topK < vocab) {
        float lo = 0.0f, hi = 1.0f;  // count(w ≥ lo) ≥ k holds; find the largest such lo
        for (int it = 0; it < 32; it++) {
            float mid = 0.5f * (lo + hi);
            int c = 0;
            for (int i = threadIdx.x; i < vocab; i += blockDim.x) c += w[i] >= mid;
            if ((int)block_sum((float)c) >= p.topK) lo = mid; else hi = mid;
        }
        threshold = fmaxf(threshold, lo);
    }
    if (p.topP < 1.0f) {
        float kept = 0.0f;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) kept += w[i] >= threshold ? w[i] : 0.0f;
        float target = p.topP * block_sum(kept);
        float lo = threshold, hi = 1.0f;  // mass(w ≥ lo) ≥ target holds
        for (int it = 0; it < 32; it++) {
            float mid = 0.5f * (lo + hi);
            float m = 0.0f;
            for (int i = threadIdx.x; i < vocab; i += blockDim.x) m += w[i] >= mid ? w[i] : 0.0f;
            if (block_sum(m) >= target) lo = mid; else hi = mid;
        }
        threshold = fmaxf(threshold, lo);
    }
    // min-p: w is p / p_max here, so the cut is minP itself.
    if (p.minP > 0.0f) threshold = fmaxf(threshold, p.minP);
    // Draw: contiguous chunks per thread, prefix over chunk sums, then a scan inside one chunk.
    int chunk = (vocab + blockDim.x - 1) / blockDim.x;
    int begin = threadIdx.x * chunk, end = min(vocab, begin + chunk);
    float local = 0.0f;
    for (int i = begin; i < end; i++) local += w[i] >= threshold ? w[i] : 0.0f;
    chunkSums[threadIdx.x] = local;
    if (threadIdx.x == 0) chosen = -1;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int t = 0; t < blockDim.x; t++) total += chunkSums[t];
        float target = p.uniform * total, run = 0.0f;
        int last = -1;
        for (int t = 0; t < (int)blockDim.x && chosen < 0; t++) {
            if (run + chunkSums[t] < target && t + 1 < (int)blockDim.x) { run += chunkSums[t]; continue; }
            for (int i = t * chunk; i < min(vocab, (t + 1) * chunk); i++) {
                if (w[i] < threshold) continue;
                last = i;
                run += w[i];
                if (run >= target) { chosen = i; break; }
            }
        }
        out[r] = chosen >= 0 ? chosen : (last >= 0 ? last : 0);
    }
}
