"""Model facts: config.json fields of common models, and parameter counts derived from them.

The catalog holds the fields of each model's published config.json (Hugging Face /
ModelScope model pages) so planning works offline; a local config.json wins over it.
Parameters are counted from the config, never typed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_QWEN3_30B_A3B = dict(
    model_type="qwen3_moe",
    num_hidden_layers=48,
    hidden_size=2048,
    num_attention_heads=32,
    num_key_value_heads=4,
    head_dim=128,
    num_experts=128,
    num_experts_per_tok=8,
    moe_intermediate_size=768,
    intermediate_size=6144,
    vocab_size=151936,
    tie_word_embeddings=False,
    max_position_embeddings=40960,
)
_QWEN3_30B_A3B_2507 = dict(_QWEN3_30B_A3B, max_position_embeddings=262144)
_QWEN3_235B_A22B = dict(
    model_type="qwen3_moe",
    num_hidden_layers=94,
    hidden_size=4096,
    num_attention_heads=64,
    num_key_value_heads=4,
    head_dim=128,
    num_experts=128,
    num_experts_per_tok=8,
    moe_intermediate_size=1536,
    intermediate_size=12288,
    vocab_size=151936,
    tie_word_embeddings=False,
    max_position_embeddings=40960,
)
_QWEN3_8B = dict(
    model_type="qwen3",
    num_hidden_layers=36,
    hidden_size=4096,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    intermediate_size=12288,
    vocab_size=151936,
    tie_word_embeddings=False,
    max_position_embeddings=40960,
)
_QWEN3_32B = dict(
    model_type="qwen3",
    num_hidden_layers=64,
    hidden_size=5120,
    num_attention_heads=64,
    num_key_value_heads=8,
    head_dim=128,
    intermediate_size=25600,
    vocab_size=151936,
    tie_word_embeddings=False,
    max_position_embeddings=40960,
)
_LLAMA31_8B = dict(
    model_type="llama",
    num_hidden_layers=32,
    hidden_size=4096,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    intermediate_size=14336,
    vocab_size=128256,
    tie_word_embeddings=False,
    max_position_embeddings=131072,
)
_LLAMA31_70B = dict(
    _LLAMA31_8B, num_hidden_layers=80, hidden_size=8192, num_attention_heads=64, intermediate_size=28672
)

CATALOG: dict[str, dict[str, Any]] = {
    "Qwen/Qwen3-30B-A3B": _QWEN3_30B_A3B,
    "Qwen/Qwen3-30B-A3B-Base": _QWEN3_30B_A3B,
    "Qwen/Qwen3-30B-A3B-Thinking-2507": _QWEN3_30B_A3B_2507,
    "Qwen/Qwen3-30B-A3B-Instruct-2507": _QWEN3_30B_A3B_2507,
    "Qwen/Qwen3-235B-A22B": _QWEN3_235B_A22B,
    "Qwen/Qwen3-235B-A22B-Thinking-2507": dict(_QWEN3_235B_A22B, max_position_embeddings=262144),
    "Qwen/Qwen3-235B-A22B-Instruct-2507": dict(_QWEN3_235B_A22B, max_position_embeddings=262144),
    "Qwen/Qwen3-8B": _QWEN3_8B,
    "Qwen/Qwen3-32B": _QWEN3_32B,
    "meta-llama/Llama-3.1-8B": _LLAMA31_8B,
    "meta-llama/Llama-3.1-8B-Instruct": _LLAMA31_8B,
    "meta-llama/Llama-3.1-70B": _LLAMA31_70B,
    "meta-llama/Llama-3.1-70B-Instruct": _LLAMA31_70B,
}


@dataclass(frozen=True)
class ModelFacts:
    source: str  # "catalog", or the config.json path it was read from
    arch: str  # config model_type: qwen3_moe, qwen3, llama, ...
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    intermediate: int  # dense MLP width (0 for all-MoE)
    experts: int  # 0 for dense models
    experts_per_token: int
    moe_intermediate: int
    tied_embeddings: bool
    max_position_embeddings: int

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def attention_params(self) -> int:
        q_and_o = 2 * self.hidden * self.heads * self.head_dim
        k_and_v = 2 * self.hidden * self.kv_heads * self.head_dim
        qk_norm = 2 * self.head_dim if self.arch.startswith("qwen3") else 0  # Qwen3 normalises q and k per head
        return q_and_o + k_and_v + qk_norm + 2 * self.hidden  # + the two layer norms

    @property
    def expert_params(self) -> int:
        """One expert's gate, up and down projections."""
        return 3 * self.hidden * self.moe_intermediate

    @property
    def mlp_params(self) -> int:
        if self.is_moe:
            return self.experts * self.expert_params + self.hidden * self.experts  # + router
        return 3 * self.hidden * self.intermediate

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def total_params(self) -> int:
        return self.layers * (self.attention_params + self.mlp_params) + self.embedding_params + self.hidden

    @property
    def active_params(self) -> int:
        """Parameters one token passes through (MoE: only its top-k experts)."""
        if not self.is_moe:
            return self.total_params
        per_layer = self.attention_params + self.experts_per_token * self.expert_params + self.hidden * self.experts
        return self.layers * per_layer + self.embedding_params + self.hidden

    @property
    def largest_module_params(self) -> int:
        """DeepSpeed ZeRO-3's 'largest layer': with transformers 5 the experts of a layer are one fused module."""
        largest_layer_piece = self.experts * self.expert_params if self.is_moe else self.hidden * self.intermediate
        return max(self.vocab * self.hidden, largest_layer_piece)


def facts_from_config(config: dict[str, Any], source: str) -> ModelFacts:
    text = config.get("text_config", config)  # multimodal configs nest the language model
    heads = int(text["num_attention_heads"])
    hidden = int(text["hidden_size"])
    return ModelFacts(
        source=source,
        arch=str(text.get("model_type", "unknown")),
        layers=int(text["num_hidden_layers"]),
        hidden=hidden,
        heads=heads,
        kv_heads=int(text.get("num_key_value_heads") or heads),
        head_dim=int(text.get("head_dim") or hidden // heads),
        vocab=int(text["vocab_size"]),
        intermediate=int(text.get("intermediate_size") or 0),
        experts=int(text.get("num_experts") or text.get("num_local_experts") or text.get("n_routed_experts") or 0),
        experts_per_token=int(text.get("num_experts_per_tok") or 0),
        moe_intermediate=int(text.get("moe_intermediate_size") or text.get("intermediate_size") or 0),
        tied_embeddings=bool(text.get("tie_word_embeddings", False)),
        max_position_embeddings=int(text.get("max_position_embeddings") or 0),
    )


def lookup(model_id: str, config_path: str | None = None) -> ModelFacts | None:
    """A local config.json (given, or the model id itself as a folder) wins over the catalog."""
    for candidate in (config_path, model_id):
        if not candidate:
            continue
        path = Path(candidate)
        if path.is_dir():
            path = path / "config.json"
        if path.is_file():
            return facts_from_config(json.loads(path.read_text()), str(path))
    config = CATALOG.get(model_id)
    return facts_from_config(config, "catalog") if config else None


@dataclass(frozen=True)
class SwiftNames:
    """What ms-swift 4.6 and vLLM call a model: --model_type, --template, --reasoning-parser.

    ms-swift matches templates by the model folder's name, which a checkpoint folder or a
    renamed local copy breaks ("Multiple possible types found"), so known families are named
    explicitly (swift/model/models/qwen.py registers Qwen3-*-Thinking-2507 as qwen3_moe +
    qwen3_thinking).
    """

    model_type: str | None
    template: str | None
    reasoning_parser: str | None


def swift_names(model_id: str, arch: str | None) -> SwiftNames:
    name = model_id.rstrip("/").rsplit("/", 1)[-1].lower()
    if arch in ("qwen3", "qwen3_moe"):
        if "thinking" in name:
            return SwiftNames(arch, "qwen3_thinking", "qwen3")
        if "instruct-2507" in name:
            return SwiftNames(arch, "qwen3_nothinking", None)
        return SwiftNames(arch, "qwen3", "qwen3")  # hybrid thinking models
    return SwiftNames(None, None, None)  # let ms-swift match by name
