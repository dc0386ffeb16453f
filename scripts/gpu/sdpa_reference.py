"""PyTorch scaled_dot_product_attention (flash backend) on the prefill shapes of tern
bench-attention: causal, Llama-3-8B heads (32 query, 8 KV, d 128), bf16. Prints TFLOP/s with the
same causal FLOP count (4 · B · H · d · L(L+1)/2)."""
import sys, torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

shapes = [tuple(int(x) for x in s.split("x")) for s in (sys.argv[1] if len(sys.argv) > 1 else "8x4096,1x32768").split(",")]
H, KVH, D = 32, 8, 128
print("sdpa         shape  batch   length   time_ms  TFLOP/s  (torch %s, flash backend)" % torch.__version__)
for B, L in shapes:
    q = torch.randn(B, H, L, D, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(B, KVH, L, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(B, KVH, L, D, device="cuda", dtype=torch.bfloat16)
    # GQA as the flash backend takes it: K/V heads repeated (same FLOPs).
    k, v = k.repeat_interleave(H // KVH, dim=1), v.repeat_interleave(H // KVH, dim=1)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        for _ in range(2):
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
        times = []
        for _ in range(5):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); F.scaled_dot_product_attention(q, k, v, is_causal=True); e.record(); torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
    ms = sorted(times)[len(times) // 2]
    flops = 4 * B * H * D * L * (L + 1) / 2
    print("sdpa   gqa-llama8b %6d  %7d  %8.3f  %7.1f" % (B, L, ms, flops / (ms / 1e3) / 1e12))
    del q, k, v
