// Mixture of experts: routing (softmax/sigmoid scores, correction bias, group limit, top-k,
// renormalisation, scale) and the weighted scatter-add of expert outputs.
#include "common.cuh"

// One block per token; scores in shared memory; thread 0 makes the (tiny) sequential choices in
// exactly the reference order, so ties resolve to the lower expert id as on the CPU.
extern "C" __global__ void tern_route(const float *logits, long long logitStride, int experts, int scoring /*0 softmax, 1 sigmoid*/,
                                      const float *bias, int groups, int topKGroups, int groupScore /*0 max, 1 top-two sum*/,
                                      int topK, int normalize, float scale,
                                      int *ids, long long idStride, float *weights, long long weightStride) {
    extern __shared__ float shared[];
    float *scores = shared, *choice = shared + experts;
    __shared__ float groupValue[256];
    __shared__ int keptGroup[256];
    long long t = blockIdx.x;
    const float *row = logits + t * logitStride;
    float maxLogit = -INFINITY;
    for (int e = threadIdx.x; e < experts; e += blockDim.x) maxLogit = fmaxf(maxLogit, row[e]);
    maxLogit = block_max(maxLogit);
    float local = 0.0f;
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
        float s = scoring == 0 ? __expf(row[e] - maxLogit) : 1.0f / (1.0f + __expf(-row[e]));
        scores[e] = s;
        local += s;
    }
    float total = scoring == 0 ? block_sum(local) : 1.0f;
    __syncthreads();
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
        if (scoring == 0) scores[e] /= total;
        choice[e] = scores[e] + (bias ? bias[e] : 0.0f);
    }
    __syncthreads();
    // Choices by warp 0: group scores per lane, group pick by lane 0 (few groups), then each
    // top-k pick as a warp argmax (ties to the lower expert id, as the CPU's ordered scan).
    if (threadIdx.x >= 32) return;
    int lane = threadIdx.x;
    unsigned char *taken = (unsigned char *)(choice + experts);
    for (int e = lane; e < experts; e += 32) taken[e] = 0;
    __syncwarp();
    int perGroup = experts / groups;
    if (groups > 1) {
        for (int g = lane; g < groups; g += 32) {
            float a = -INFINITY, b = -INFINITY;
            for (int e = g * perGroup; e < (g + 1) * perGroup; e++) {
                float v = choice[e];
                if (v > a) { b = a; a = v; } else if (v > b) b = v;
            }
            groupValue[g] = groupScore == 0 ? a : a + (perGroup > 1 ? b : 0.0f);
            keptGroup[g] = 0;
        }
        __syncwarp();
        if (lane == 0) {
            for (int k = 0; k < topKGroups; k++) {
                int best = -1;
                for (int g = 0; g < groups; g++)
                    if (!keptGroup[g] && (best < 0 || groupValue[g] > groupValue[best])) best = g;
                keptGroup[best] = 1;
            }
        }
        __syncwarp();
        for (int e = lane; e < experts; e += 32)
            if (!keptGroup[e / perGroup]) choice[e] = -INFINITY;
        __syncwarp();
    }
    int chosen = -1;  // lane k keeps the k-th choice
    float picked = 0.0f, sum = 0.0f;
    for (int k = 0; k < topK; k++) {
        float bestValue = -INFINITY;
        int best = 0x7FFFFFFF;
        for (int e = lane; e < experts; e += 32) {
            if (taken[e]) continue;
            float v = choice[e];
            if (best == 0x7FFFFFFF || v > bestValue) { bestValue = v; best = e; }
        }
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bestValue, o);
            int oi = __shfl_xor_sync(0xffffffffu, best, o);
            bool better = oi != 0x7FFFFFFF && (best == 0x7FFFFFFF || ov > bestValue || (ov == bestValue && oi < best));
            if (better) { bestValue = ov; best = oi; }
        }
        float s = scores[best];
        if (lane == k) { chosen = best; picked = s; }
        sum += s;
        if (lane == 0) taken[best] = 1;
        __syncwarp();
    }
    if (lane < topK) {
        float w = normalize ? picked / (sum + 1e-20f) : picked;
        ids[t * idStride + lane] = chosen;
        weights[t * weightStride + lane] = w * scale;
    }
}

// accumulator[rows[i], :] += weight[i] · expertOut[i, :] (f32 accumulator). Each token appears
// once per expert, so one launch has no two writers of a row.
extern "C" __global__ void tern_scatter_add(const void *expertOut, int expertType, long long expertStride,
                                            const int *rows, const float *rowWeights, float *accumulator,
                                            long long accStride, int width) {
    long long i = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= width) return;
    long long r = rows[i];
    accumulator[r * accStride + c] += rowWeights[i] * load_as_float(expertOut, expertType, i * expertStride + c);
}
