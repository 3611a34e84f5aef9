"""Megatron-SWIFT (`megatron sft`) as measured on one H200 (issue 20): what the plan renders and why.

Source: bench/results/i20b*.json (docs/benchmarks.md, "Megatron-SWIFT on one H200"): the 4-layer Qwen3-30B-A3B
proxy, 8K packed rows, 4 rows per step, ms-swift 4.6.0, megatron-core 0.19.2, mcore-bridge 1.6.5,
TransformerEngine 2.20.2, flash-attn-4 4.0.0b36, torch 2.11.0+cu130; run batches i20b1-i20b4.
"""

from __future__ import annotations

# Megatron's attention backend. ms-swift's default, `flash`, makes TE take flash-attn-4 (the image's only flash
# kernel: flash-attn 2/3 have no wheels) and its losses were wrong from step 1 (12.349 vs 12.180 at step 1,
# 11.414 vs 10.541 at step 10) while `fused` (cuDNN) matched the DeepSpeed run to 3-4 decimals at every step,
# same data, same weights (i20b3).
ATTENTION_BACKEND = "fused"

# The caching allocator without expandable segments reserved 106 GiB for 68 GiB of tensors (i20b1-b3);
# with them 68.4 GiB for 68.0, at the same speed (33,702 vs 33,977 tokens/s/GPU; i20b4 vs i20b3).
ALLOC_ENV = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}

# Step-time model calibration (builder/plan/megatron.py): the share of the dense bf16 peak reached
# (6 x active params x tokens/s over 989 TFLOPS: 0.175 with fused attention, i20b3) and the cost of full
# recompute (1.408 vs 0.985 s per step in the same batch: 1.43x, i20b2).
MFU = 0.175
RECOMPUTE_COST = 1.43

# On one GPU there is no ZeRO-3 traffic for Megatron to save: the DeepSpeed default (FA4 + packing) ran 37,225
# tokens/s/GPU against Megatron's 33,977 in the same batch (1.10x, i20b3). `auto` keeps DeepSpeed there.
SINGLE_GPU = "one GPU: the DeepSpeed default ran 1.10x Megatron's tokens/s on one H200 (no ZeRO-3 traffic to save)"
