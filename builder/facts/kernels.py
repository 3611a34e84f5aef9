"""Attention kernels: which GPU architectures run them, which package brings them, and what packing needs.

Sources (pinned versions):
- flash-attn-4 4.0.0b36, flash_attn/cute/interface.py: kernels for sm80 (FlashAttentionForwardSm80, tiles marked
  "should tune"), sm90 and sm100; the arch assert admits 8.x-12.x. Measured here on H200 (sm90) only.
- flash-attn 2.x (package `flash-attn`): Ampere, Ada and Hopper (sm80-sm90). flash-attn-3: Hopper only.
- ms-swift 4.6.0, swift/arguments/sft_args.py::_check_padding_free: packing and padding_free need
  flash_attn / flash_attention_2 / _3 / _4 (sdpa, flex_attention and eager are refused).
- transformers 5.17: sdpa is the default everywhere (get_correct_attn_implementation).
"""

from __future__ import annotations

import re

# The distribution in the image that brings each kernel, as transformers names the kernel.
PACKAGE_OF = {
    "flash_attention_4": "flash-attn-4",
    "flash_attention_3": "flash-attn-3",
    "flash_attention_2": "flash-attn",
}

# Architectures where the planner picks a kernel on `auto`: where it is tuned upstream (FA4 on sm80 is not).
AUTO_ARCHS = {
    "flash_attention_4": ("sm90", "sm100"),
    "flash_attention_3": ("sm90",),
    "flash_attention_2": ("sm80", "sm86", "sm89", "sm90"),
}
# Architectures where the kernel runs at all (an explicit train.attn_impl outside these is refused).
RUNS_ON = {
    "flash_attention_4": ("sm80", "sm86", "sm89", "sm90", "sm100", "sm120"),
    "flash_attention_3": ("sm90",),
    "flash_attention_2": ("sm80", "sm86", "sm89", "sm90"),
}
PREFERENCE = ("flash_attention_4", "flash_attention_3", "flash_attention_2")  # fastest first
PACKING_KERNELS = ("flash_attention_2", "flash_attention_3", "flash_attention_4")

# transformers 5.17/5.19 hand FA4's varlen function max_seqlen as 0-dim tensors under packing; this ms-swift
# plugin (--external_plugins) casts them to int. Source: builder/templates/context/fa4_max_seqlen.py.
FA4_PLUGIN = "/usr/local/lib/modelforge/plugins/fa4_max_seqlen.py"


def packages_in(flash_attn: list[str]) -> set[str]:
    """Distribution names of the stack's flash-attention packages ('flash-attn-4[cu13]==4.0.0b36' -> 'flash-attn-4')."""
    return {re.split(r"[\[=<>!~]", spec, maxsplit=1)[0].lower() for spec in flash_attn}


def kernels_in(flash_attn: list[str]) -> list[str]:
    have = packages_in(flash_attn)
    return [k for k in PREFERENCE if PACKAGE_OF[k] in have]
