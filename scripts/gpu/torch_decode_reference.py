#!/usr/bin/env python3
"""PyTorch reference for `tern bench` 1k/1k: a plain Llama-3.1-8B-shape model (random bf16 weights,
32 layers, hidden 4096, 32 q / 8 kv heads of 128, MLP 14336, vocab 128256) with a static KV cache.
For each batch size: prefill the batch's prompts (input length tokens), then decode `output` tokens
with the decode step captured in one CUDA graph (greedy argmax on the GPU). Reports output tokens/s
(batch * output / (prefill + decode time)) and TPOT (decode time / (output - 1)), the same
definitions as tern bench's at a concurrency equal to the batch.

    python3 scripts/gpu/torch_decode_reference.py --batches 1,16,64,256 --input 1024 --output 1024

Prints one JSON line per batch: {"batch", "tok_s", "tpot_ms", "prefill_s", "decode_s"}.
Runs on PyTorch 2.x with CUDA; uses F.scaled_dot_product_attention for prefill (flash) and a
masked grouped attention (two batched GEMMs) over the whole static cache for decode: every step reads
the full 2k-slot cache, so late and early steps cost the same (decode TPOT is the mean over steps run)."""
import argparse, json, math, time, sys
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--batches", default="1,16,64,256")
p.add_argument("--input", type=int, default=1024)
p.add_argument("--output", type=int, default=1024)
p.add_argument("--layers", type=int, default=32)
p.add_argument("--prefill-chunk", type=int, default=16, help="sequences prefetched per prefill call")
p.add_argument("--device", default="cuda", help="cpu: a shape smoke test without CUDA graphs (not a measurement)")
p.add_argument("--max-seconds", type=float, default=0, help="decode at most this long per batch (0: all steps); tok/s and TPOT from the steps run")
args = p.parse_args()

torch.manual_seed(0)
dev, dt = args.device, torch.bfloat16
GRAPH = dev == "cuda"
sync = torch.cuda.synchronize if GRAPH else (lambda: None)
H, I, V, NQ, NKV, D = 4096, 14336, 128256, 32, 8, 128
L = args.layers
theta, eps = 500000.0, 1e-5

def w(*shape, scale=0.02):
    return (torch.randn(*shape, device=dev, dtype=torch.float32) * scale).to(dt)

layers = []
for _ in range(L):
    layers.append(dict(
        ln1=torch.ones(H, device=dev, dtype=dt), ln2=torch.ones(H, device=dev, dtype=dt),
        qkv=w((NQ + 2 * NKV) * D, H), o=w(H, NQ * D), gu=w(2 * I, H), down=w(H, I)))
embed = w(V, H)
norm = torch.ones(H, device=dev, dtype=dt)
lm_head = w(V, H)

# Llama-3 rope scaling (factor 8, low 1, high 4, original 8192).
def rope_freqs():
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, device=dev, dtype=torch.float32) / D))
    factor, low, high, orig = 8.0, 1.0, 4.0, 8192
    wavelen = 2 * math.pi / inv
    low_wl, high_wl = orig / low, orig / high
    smooth = (orig / wavelen - low) / (high - low)
    scaled = torch.where(wavelen > low_wl, inv / factor, inv)
    mid = (wavelen <= low_wl) & (wavelen >= high_wl)
    scaled = torch.where(mid, (1 - smooth) * inv / factor + smooth * inv, scaled)
    return scaled

MAXPOS = args.input + args.output + 8
inv = rope_freqs()
ang = torch.outer(torch.arange(MAXPOS, device=dev, dtype=torch.float32), inv)
COS, SIN = ang.cos().to(dt), ang.sin().to(dt)

def rms(x, g):
    return F.rms_norm(x, (H,), g, eps)

def rope(x, pos):  # x [..., T, heads, D], pos [..., T]
    c, s = COS[pos].unsqueeze(-2), SIN[pos].unsqueeze(-2)
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)

def prefill(ids, kc, vc, b0):
    """ids [B, T]; fills kc/vc[layer][b0:b0+B, :T]; returns next ids [B]."""
    B, T = ids.shape
    pos = torch.arange(T, device=dev).expand(B, T)
    x = embed[ids]
    for li, lw in enumerate(layers):
        h = rms(x, lw["ln1"])
        qkv = h @ lw["qkv"].t()
        q, k, v = qkv.split([NQ * D, NKV * D, NKV * D], dim=-1)
        q = rope(q.view(B, T, NQ, D), pos)
        k = rope(k.view(B, T, NKV, D), pos)
        v = v.view(B, T, NKV, D)
        kc[li][b0:b0 + B, :, :T] = k.transpose(1, 2)
        vc[li][b0:b0 + B, :, :T] = v.transpose(1, 2)
        # K/V repeated per query head so SDPA takes its flash path (prefill is not what this reference times most).
        rep = NQ // NKV
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2).repeat_interleave(rep, 1),
                                           v.transpose(1, 2).repeat_interleave(rep, 1), is_causal=True)
        x = x + a.transpose(1, 2).reshape(B, T, NQ * D) @ lw["o"].t()
        h = rms(x, lw["ln2"])
        g, u = (h @ lw["gu"].t()).chunk(2, dim=-1)
        x = x + (F.silu(g) * u) @ lw["down"].t()
    logits = rms(x[:, -1], norm) @ lm_head.t()
    return logits.argmax(-1)

def decode_step(tok, pos, kc, vc, mask_pos):
    """tok [B], pos [B] (same for all: static batch); writes KV at pos; returns next tokens [B]."""
    B = tok.shape[0]
    x = embed[tok].unsqueeze(1)  # [B,1,H]
    p1 = pos.view(B, 1)
    for li, lw in enumerate(layers):
        h = rms(x, lw["ln1"])
        q, k, v = (h @ lw["qkv"].t()).split([NQ * D, NKV * D, NKV * D], dim=-1)
        q = rope(q.view(B, 1, NQ, D), p1)
        k = rope(k.view(B, 1, NKV, D), p1)
        v = v.view(B, 1, NKV, D)
        kc[li].index_copy_(2, pos[:1], k.transpose(1, 2))
        vc[li].index_copy_(2, pos[:1], v.transpose(1, 2))
        # Grouped attention over the static cache: the 4 query heads of a KV head share one batched GEMM,
        # so K and V are read once per step (positions past the current one masked out).
        qg = q.view(B, NKV, NQ // NKV, D)
        scores = torch.matmul(qg, kc[li].transpose(-1, -2)).float() * (1.0 / math.sqrt(D)) + mask_pos
        a = torch.matmul(scores.softmax(-1).to(dt), vc[li])  # [B, NKV, rep, D]
        x = x + a.reshape(B, 1, NQ * D) @ lw["o"].t()
        h = rms(x, lw["ln2"])
        g, u = (h @ lw["gu"].t()).chunk(2, dim=-1)
        x = x + (F.silu(g) * u) @ lw["down"].t()
    return (rms(x[:, 0], norm) @ lm_head.t()).argmax(-1)

def run(B):
    S = args.input + args.output
    kc = [torch.zeros(B, NKV, S, D, device=dev, dtype=dt) for _ in range(L)]
    vc = [torch.zeros(B, NKV, S, D, device=dev, dtype=dt) for _ in range(L)]
    ids = torch.randint(0, V, (B, args.input), device=dev)
    # Static decode inputs: the graph reads these buffers; each step updates them in place.
    tok = torch.zeros(B, dtype=torch.long, device=dev)
    pos = torch.zeros(B, dtype=torch.long, device=dev)
    mask = torch.zeros(1, 1, 1, S, device=dev, dtype=torch.float32)  # additive mask over cache positions
    with torch.inference_mode():
        # Warm-up and capture (not timed): a short prefill, then the graph.
        prefill(ids[:1, :16], kc, vc, 0)
        mask.fill_(float("-inf")); mask[..., : args.input + 1] = 0
        pos.fill_(args.input)
        if GRAPH:
            s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    out = decode_step(tok, pos, kc, vc, mask)
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = decode_step(tok, pos, kc, vc, mask)
        else:
            out = torch.zeros_like(tok)
            class Plain:
                def replay(self):
                    out.copy_(decode_step(tok, pos, kc, vc, mask))
            graph = Plain()
        sync()

        t0 = time.perf_counter()
        first = []
        for b0 in range(0, B, args.prefill_chunk):
            first.append(prefill(ids[b0:b0 + args.prefill_chunk], kc, vc, b0))
        tok.copy_(torch.cat(first))
        sync()
        t1 = time.perf_counter()
        steps = args.output - 1
        done = 0
        for i in range(steps):
            p_ = args.input + i
            pos.fill_(p_)
            mask[..., p_] = 0
            graph.replay()
            tok.copy_(out)
            done += 1
            if args.max_seconds and (i & 31) == 31:
                sync()
                if time.perf_counter() - t1 > args.max_seconds:
                    break
        sync()
        t2 = time.perf_counter()
    del kc, vc, graph
    if GRAPH: torch.cuda.empty_cache()
    prefill_s, decode_s = t1 - t0, t2 - t1
    tpot = decode_s / max(done, 1)
    # Output tokens/s for the full output length: prefill + (output - 1) steps at the measured TPOT.
    total = prefill_s + tpot * (args.output - 1)
    return dict(batch=B, tok_s=B * args.output / total, tpot_ms=tpot * 1000, prefill_s=prefill_s,
                decode_s=decode_s, decode_steps=done)

print(json.dumps(dict(device=torch.cuda.get_device_name() if GRAPH else "cpu", torch=torch.__version__, input=args.input, output=args.output)), flush=True)
for B in [int(b) for b in args.batches.split(",")]:
    try:
        print(json.dumps(run(B)), flush=True)
    except torch.cuda.OutOfMemoryError:
        print(json.dumps(dict(batch=B, error="out of memory")), flush=True)
        torch.cuda.empty_cache()
