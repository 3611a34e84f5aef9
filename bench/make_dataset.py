#!/usr/bin/env python3
"""Synthetic messages-format JSONL shaped like the seed dataset (long R1-style reasoning traces).

The seed job trains on liucong/Chinese-DeepSeek-R1-Distill-data-110k: one user question and one
assistant answer holding a long reasoning trace. Each synthetic row is

    {"messages": [{"role": "user", "content": Q},
                  {"role": "assistant", "content": "<think>\\nR\\n</think>\\n\\nA"}]}

with the sample's total length T (question + reasoning + answer, in tokens of the proxy
tokenizer) drawn from a log-normal law, median 2800 tokens, sigma 0.5, clipped to
[1024, 7936]: the 1-8K-token traces of the seed data. The clip stays under --max_length 8192 so
ms-swift's default truncation strategy ('delete') drops no row and every row costs what its
length says. The question takes 2-10% of T, the final answer 5-15%, the reasoning the rest.

    python3 bench/make_dataset.py OUT.jsonl [--rows 256] [--seed 0] [--tokenizer DIR]

With --tokenizer (the proxy model folder) every part is cut to its exact token count; without
it, word counts are used (about 1.3 tokens per word). A summary (token-length percentiles) is
printed as JSON and written next to the file as OUT.stats.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from textgen import words  # noqa: E402

MEDIAN, SIGMA, LO, HI = 2800, 0.5, 1024, 7936
TOKENS_PER_WORD = 1.3


def sample_length(rng: random.Random) -> int:
    return int(min(HI, max(LO, math.exp(rng.gauss(math.log(MEDIAN), SIGMA)))))


def text_of(rng: random.Random, n_tokens: int, tok) -> str:
    if tok is None:
        return words(rng, max(1, round(n_tokens / TOKENS_PER_WORD)))
    text = words(rng, max(1, round(n_tokens / TOKENS_PER_WORD * 1.15)) + 8)
    ids = tok.encode(text, add_special_tokens=False)
    while len(ids) < n_tokens:  # rare: the draw was short of tokens
        text += " " + words(rng, 64)
        ids = tok.encode(text, add_special_tokens=False)
    return tok.decode(ids[:n_tokens])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", default=None)
    args = ap.parse_args()
    tok = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.tokenizer)
    rng = random.Random(args.seed)
    lengths = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for _ in range(args.rows):
            total = sample_length(rng)
            q = max(16, int(total * rng.uniform(0.02, 0.10)))
            a = max(16, int(total * rng.uniform(0.05, 0.15)))
            r = total - q - a - 16  # 16: template and <think> markup
            row = {
                "messages": [
                    {"role": "user", "content": text_of(rng, q, tok)},
                    {
                        "role": "assistant",
                        "content": f"<think>\n{text_of(rng, r, tok)}\n</think>\n\n{text_of(rng, a, tok)}",
                    },
                ]
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            if tok is not None:
                ids = tok.apply_chat_template(row["messages"], tokenize=True, return_dict=False)
                lengths.append(len(ids))
            else:
                lengths.append(total)
    lengths.sort()
    pct = lambda p: lengths[min(len(lengths) - 1, int(p / 100 * len(lengths)))]  # noqa: E731
    stats = {
        "rows": args.rows,
        "seed": args.seed,
        "measured_with_tokenizer": tok is not None,
        "mean_tokens": round(sum(lengths) / len(lengths), 1),
        "p10": pct(10),
        "p50": pct(50),
        "p90": pct(90),
        "max": lengths[-1],
        "min": lengths[0],
        "total_tokens": sum(lengths),
    }
    Path(str(out) + ".stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
