"""The training attention kernel and packing (facts/kernels.py says which kernel runs where)."""

from __future__ import annotations

from ..facts import gpus as gpu_table
from ..facts import kernels
from ..spec import Spec
from .types import Attention


def choose(spec: Spec, gpu: gpu_table.Gpu, errors: list[str]) -> Attention:
    """The attention kernel and packing: the fastest kernel the GPU runs and the image holds (facts/kernels.py).
    Packing bin-packs rows into max_length sequences: no padding and no short rows, measured 3.5-3.8x tokens/s
    with FA4 on H200 (docs/benchmarks.md); ms-swift allows it only with a flash-attention kernel."""
    t = spec.train
    arch = gpu.arch if spec.hardware.gpus > 0 else None
    have = kernels.kernels_in(spec.stack.flash_attn)
    if t.attn_impl != "auto":
        impl: str = t.attn_impl
        reason = "set in the spec"
        if impl in kernels.PACKAGE_OF:
            if impl not in have:
                errors.append(
                    spec.at(
                        "train.attn_impl",
                        f"train.attn_impl={impl} needs {kernels.PACKAGE_OF[impl]} in the training image: "
                        f"add it to stack.flash_attn, or use train.attn_impl=auto",
                    )
                )
            elif arch not in kernels.RUNS_ON[impl]:
                errors.append(
                    spec.at(
                        "train.attn_impl",
                        f"train.attn_impl={impl} has no kernels for {spec.hardware.gpu} ({arch or 'CPU'}); "
                        f"it runs on {', '.join(kernels.RUNS_ON[impl])}. Use train.attn_impl=auto",
                    )
                )
    elif arch is None:
        impl, reason = "sdpa", "CPU run: no flash attention"
    else:
        picks = [k for k in have if arch in kernels.AUTO_ARCHS[k]]
        if picks:
            impl, reason = picks[0], f"fastest kernel for {spec.hardware.gpu} ({arch}) in the image"
        elif not have:
            impl, reason = "sdpa", "the image holds no flash attention (stack.flash_attn is empty)"
        else:
            impl = "sdpa"
            reason = (
                f"{', '.join(have)} in the image, but not tuned for {spec.hardware.gpu} ({arch}) upstream and "
                f"unmeasured here; set train.attn_impl={have[0]} to try it"
            )
    if t.packing == "auto":
        packing = impl in kernels.PACKING_KERNELS
        reason += "; packing on" if packing else "; packing off (ms-swift packs only with flash attention)"
    else:
        packing = t.packing
        if packing and impl not in kernels.PACKING_KERNELS:
            errors.append(
                spec.at(
                    "train.packing",
                    f"train.packing=true needs a flash-attention kernel (ms-swift 4.6 refuses it with {impl}); "
                    f"set train.attn_impl to one of {', '.join(kernels.PACKING_KERNELS)} or train.packing=auto",
                )
            )
    if t.tokens_per_step is not None and not packing:
        errors.append(
            spec.at(
                "train.tokens_per_step",
                "train.tokens_per_step needs packing (unpacked rows vary in length, so no accumulation count "
                "gives a fixed number of tokens); set train.packing or drop tokens_per_step",
            )
        )
    return Attention(impl, packing, reason)
