"""Cross-section checks of the plan: evaluation and validation data, and each volume's size against what the
run writes there."""

from __future__ import annotations

import re

from ..facts.models import ModelFacts
from ..spec import Spec
from . import memory


def check_eval(spec: Spec, errors: list[str]) -> None:
    """ms-swift quietly drops split_dataset_ratio when val_dataset is set, and never evaluates without
    validation data: say so here instead of after hours."""
    t = spec.train
    if t.val_dataset and t.split_dataset_ratio:
        errors.append(
            spec.at(
                "train.split_dataset_ratio",
                "train.split_dataset_ratio and train.val_dataset both name validation data; ms-swift would ignore "
                "the ratio: keep one",
            )
        )
    mounts = [spec.volumes.data.mount.rstrip("/") + "/", spec.volumes.checkpoints.mount.rstrip("/") + "/"]
    for i, path in enumerate(spec.eval.dataset):
        if not any(path.startswith(m) for m in mounts):
            errors.append(
                spec.at(
                    f"eval.dataset.{i}",
                    f"eval.dataset entry {path} is on neither volume the eval container mounts: put it under "
                    f"{mounts[0]} (volumes.data) or {mounts[1]} (volumes.checkpoints)",
                )
            )
    if spec.k8s.tensorboard and "tensorboard" not in t.report_to:
        errors.append(
            spec.at(
                "k8s.tensorboard",
                "k8s.tensorboard shows what training writes for TensorBoard, and train.report_to has no "
                "tensorboard: add it, or turn k8s.tensorboard off",
            )
        )
    if t.eval_steps and not (t.val_dataset or t.split_dataset_ratio):
        errors.append(
            spec.at(
                "train.eval_steps",
                "train.eval_steps has nothing to evaluate: set train.val_dataset, or train.split_dataset_ratio "
                "(e.g. 0.02) to hold out part of train.dataset",
            )
        )


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
          "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "": 1}  # fmt: skip


def quantity_gib(size: str) -> float:
    """A Kubernetes quantity (the spec's volume sizes: '1500Gi', '2T') in GiB."""
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", size).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit] / 2**30


def check_volumes(spec: Spec, m: ModelFacts | None, ckpt: float, errors: list[str]) -> None:
    """Each volume's size (the PVC k8s gets) against what the plan will write there."""
    t = spec.train
    needs = {"checkpoints": (ckpt * (t.save_total_limit + 1), f"{t.save_total_limit}+1 checkpoints x {ckpt:.0f} GiB")}
    if m is not None:  # the base model's weights in the hub cache (bf16)
        needs["model_cache"] = (
            m.total_params * 2 / memory.GIB,
            f"the base model's {m.total_params / 1e9:.1f}B bf16 weights",
        )
    for key, (need, what) in needs.items():
        size = getattr(spec.volumes, key).size
        if quantity_gib(size) < need:
            lever = " or lower train.save_total_limit" if key == "checkpoints" else ""
            errors.append(
                spec.at(
                    f"volumes.{key}.size",
                    f"volumes.{key}.size {size} is less than the ~{need:.0f} GiB the run writes there ({what}): "
                    f"raise volumes.{key}.size{lever}",
                )
            )
