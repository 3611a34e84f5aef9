"""Bench-only ms-swift plugin: Liger's RMSNorm, RoPE and fused linear cross-entropy for qwen3_moe, without its
fused-MoE experts (swiglu=False keeps transformers' grouped_mm experts, which beat liger's Triton MoE kernels
here: 0.71x, docs/benchmarks.md). Patches the classes before ms-swift builds the model."""

from liger_kernel.transformers import apply_liger_kernel_to_qwen3_moe

apply_liger_kernel_to_qwen3_moe(rope=True, rms_norm=True, fused_linear_cross_entropy=True, swiglu=False)
print("[bench] liger_lite: rope, rms_norm, fused_linear_cross_entropy (experts left to transformers)", flush=True)
