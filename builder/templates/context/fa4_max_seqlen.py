"""ms-swift plugin (`swift sft --external_plugins THIS_FILE`): FlashAttention-4 with packing.

FA4's varlen kernel takes max_seqlen_q / max_seqlen_k as Python ints. Under packing (padding-free rows),
transformers 5.17 and 5.19 compute them as 0-dim tensors (modeling_flash_attention_utils.
prepare_fa_kwargs_from_position_ids: `cu_seq_lens_q.diff().max()`) and call `.item()` only while tracing
(_process_flash_attention_kwargs). flash-attn-4 4.0.0b36 then fails at the first packed step with
"ValueError: Expected IntTuple, whose leaves are integers, but got 4610" (flash_attn/cute/interface.py).
This wraps flash_attn.cute.flash_attn_varlen_func so those two arguments become ints before the call.
transformers imports the function from flash_attn.cute lazily (_lazy_imports, at the first attention
call), after ms-swift imported this plugin, so it gets the wrapper.

`python3 fa4_max_seqlen.py --check` prints JSON: whether the installed transformers still passes tensors
(the fix is needed) and whether FA4 still exposes the function with those parameters (the fix applies).
The project's tests run it inside the training image; bench/fa4_fix_check.py runs it on a GPU.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import sys

CAST = ("max_seqlen_q", "max_seqlen_k")
# The versions this fix was verified against (needed, applies, same losses): tests/render/test_fa4_plugin.py
# fails when the images' pins leave this table, so a new version is re-checked before it ships.
VERIFIED = {"transformers": ("5.17.0", "5.19.0"), "flash-attn-4": ("4.0.0b36",)}


def _as_int(value):
    if value is None or isinstance(value, int):
        return value
    if getattr(value, "ndim", None) == 0:  # a 0-dim torch tensor (one device sync, as transformers' own .item())
        return int(value)
    return value


def wrap(fn):
    if getattr(fn, "_modelforge_int_cast", False):
        return fn

    @functools.wraps(fn)  # keeps the signature: transformers inspects it to decide which kwargs to pass
    def flash_attn_varlen_func(*args, **kwargs):
        for name in CAST:
            if name in kwargs:
                kwargs[name] = _as_int(kwargs[name])
        return fn(*args, **kwargs)

    flash_attn_varlen_func._modelforge_int_cast = True
    return flash_attn_varlen_func


def apply() -> bool:
    """Patch flash_attn.cute (and its interface module); False when FA4 is not installed."""
    if importlib.util.find_spec("flash_attn") is None or importlib.util.find_spec("flash_attn.cute") is None:
        return False
    import flash_attn.cute as cute
    import flash_attn.cute.interface as interface

    cute.flash_attn_varlen_func = wrap(cute.flash_attn_varlen_func)
    interface.flash_attn_varlen_func = wrap(interface.flash_attn_varlen_func)
    return True


def check_transformers() -> dict:
    """Does the installed transformers still hand the varlen function tensors? Runs on CPU."""
    import torch
    from transformers import __version__
    from transformers import modeling_flash_attention_utils as fa_utils

    def fa4_like(
        q,
        k,
        v,
        cu_seqlens_q=None,
        cu_seqlens_k=None,
        max_seqlen_q=None,
        max_seqlen_k=None,
        softmax_scale=None,
        causal=False,
        window_size=(None, None),
        learnable_sink=None,
        softcap=0.0,
        deterministic=False,
    ):
        """FA4's parameter names (flash_attn/cute/interface.py); transformers decides what to pass by them."""

    position_ids = torch.tensor([[0, 1, 2, 3, 0, 1, 2]])  # two packed rows of 4 and 3 tokens
    _, (max_q, max_k) = fa_utils.prepare_fa_kwargs_from_position_ids(position_ids)
    process = fa_utils._lazy_define_process_function(fa4_like)
    kwargs = process(query_length=7, key_length=7, is_causal=True, max_seqlen_q=max_q, max_seqlen_k=max_k)
    passed = {name: type(kwargs.get(name)).__name__ for name in CAST}
    return {
        "transformers": __version__,
        "passed_types": passed,
        "needed": any(not isinstance(kwargs.get(name), int) for name in CAST),
    }


def check_fa4() -> dict:
    """Does FA4 still expose flash_attn_varlen_func with those parameters, and does apply() reach it?"""
    from importlib.metadata import version

    if importlib.util.find_spec("flash_attn") is None:
        return {"flash-attn-4": None, "applies": False, "reason": "flash-attn-4 is not installed"}
    import flash_attn.cute as cute

    params = inspect.signature(cute.flash_attn_varlen_func).parameters
    applied = apply()
    return {
        "flash-attn-4": version("flash-attn-4"),
        "has_params": all(n in params for n in CAST),
        "applies": applied
        and all(n in params for n in CAST)
        and getattr(cute.flash_attn_varlen_func, "_modelforge_int_cast", False),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        print(json.dumps({"verified": VERIFIED, **check_transformers(), **check_fa4()}))
    elif sys.argv[1:] == ["--check-transformers"]:
        print(json.dumps({"verified": VERIFIED, **check_transformers()}))
    else:
        sys.exit("usage: fa4_max_seqlen.py --check | --check-transformers")
else:
    try:
        if apply():
            print("[modelforge] fa4_max_seqlen: FA4 varlen max_seqlen cast to int", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - say it, and let training report its own error if FA4 is broken
        print(f"[modelforge] fa4_max_seqlen: not applied: {exc!r}", file=sys.stderr, flush=True)
