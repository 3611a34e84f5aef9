"""Deterministic pseudo-language text for the proxy tokenizer and the synthetic dataset.

Words are built from syllables and drawn with a Zipf-like law, mixed with numbers, arithmetic
and punctuation, so a byte-level BPE trained on it gives a realistic mix of whole-word and
split-word tokens (about 1.3 tokens per word). Compute does not depend on which tokens appear,
only on how many, which is what make_dataset.py controls.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwxz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
_CONNECTIVES = ["so", "then", "but", "wait", "therefore", "because", "now", "hence", "let", "check", "if", "we"]
_PUNCT = [".", ",", ";", ":", "?", "!"]


def _lexicon(seed: int, size: int = 6000) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        n = rng.choices([1, 2, 3, 4], weights=[3, 5, 3, 1])[0]
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(n)))
    return sorted(words)


_LEX = _lexicon(7)
_WEIGHTS = [1.0 / (i + 1) ** 1.07 for i in range(len(_LEX))]


def words(rng: random.Random, n: int) -> str:
    """About n words of running text with sentence punctuation, numbers and small formulas."""
    out: list[str] = []
    picks = rng.choices(_LEX, weights=_WEIGHTS, k=n)
    for i, w in enumerate(picks):
        r = rng.random()
        if r < 0.04:
            out.append(str(rng.randint(0, 99999)))
        elif r < 0.06:
            out.append(f"{rng.randint(2, 999)} {rng.choice('+-*/=')} {rng.randint(2, 999)}")
        elif r < 0.10:
            out.append(rng.choice(_CONNECTIVES))
        else:
            out.append(w.capitalize() if i == 0 or (out and out[-1][-1:] in ".?!") else w)
        if rng.random() < 0.09:
            out[-1] += rng.choice(_PUNCT)
        if rng.random() < 0.012:
            out[-1] += "\n\n"
    return " ".join(out).replace("\n\n ", "\n\n")


def corpus(seed: int, n_docs: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n_docs):
        yield words(rng, rng.randint(50, 600))
