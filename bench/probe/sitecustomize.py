"""Benchmark probe, loaded by every Python process whose PYTHONPATH starts with bench/probe.

It changes nothing in the training: when MF_BENCH_PROBE names a folder, it wraps
transformers.Trainer.get_batch_samples (which fetches one optimizer step's micro-batches
from the data loader, on the host, before they reach the GPU) and appends one line per
optimizer step and rank to MF_BENCH_PROBE/probe-rank<R>.jsonl. For `megatron sft` it wraps
Megatron-SWIFT's BaseMegatronTrainer.train_step (one optimizer step; t is its start) and
_prepare_batch (each micro-batch as the data loader gave it):

    t              wall clock when the step's batches were fetched (the step's start)
    real_tokens    sum of attention_mask (all input_ids when there is no mask): tokens that are not padding
    padded_tokens  input_ids.numel(): what the GPU computes on, padding included
    loss_tokens    labels != -100
    samples        rows in the step
    max_alloc_gib, max_reserved_gib   torch.cuda peak counters of this rank so far

Counting on host tensors costs no GPU synchronisation. Without MF_BENCH_PROBE it does nothing.
"""

import importlib.abc
import importlib.util
import json
import os
import sys
import time

_DIR = os.environ.get("MF_BENCH_PROBE")


def _patch(trainer_module):
    Trainer = trainer_module.Trainer
    orig = Trainer.get_batch_samples
    rank = os.environ.get("RANK", "0")
    path = os.path.join(_DIR, f"probe-rank{rank}.jsonl")

    def get_batch_samples(self, epoch_iterator, num_batches, *args, **kwargs):
        t = time.time()
        batch_samples, num_items = orig(self, epoch_iterator, num_batches, *args, **kwargs)
        real = padded = loss = rows = 0
        for b in batch_samples:
            ids = b.get("input_ids")
            if ids is None:
                continue
            padded += int(ids.numel())
            rows += int(ids.shape[0]) if ids.dim() > 1 else 1
            mask = b.get("attention_mask")
            real += int(mask.sum()) if mask is not None and mask.dim() == ids.dim() else int(ids.numel())
            labels = b.get("labels")
            if labels is not None:
                loss += int((labels != -100).sum())
        rec = {
            "t": t,
            "step": int(self.state.global_step) + 1,
            "real_tokens": real,
            "padded_tokens": padded,
            "loss_tokens": loss,
            "samples": rows,
        }
        with open(path, "a") as f:
            f.write(json.dumps(_record(rec)) + "\n")
        return batch_samples, num_items

    Trainer.get_batch_samples = get_batch_samples

    # Evaluation passes are timed so the harness can take them out of the training window.
    orig_evaluate = Trainer.evaluate

    def evaluate(self, *args, **kwargs):
        t0 = time.time()
        try:
            return orig_evaluate(self, *args, **kwargs)
        finally:
            with open(path, "a") as f:
                f.write(json.dumps({"eval_start": t0, "eval_end": time.time()}) + "\n")

    Trainer.evaluate = evaluate


def _record(rec: dict) -> dict:
    try:
        import torch

        if torch.cuda.is_available():
            rec["max_alloc_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
            rec["max_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 3)
    except Exception:  # noqa: BLE001 - a probe never breaks training
        pass
    return rec


def _patch_megatron(base_module):
    T = base_module.BaseMegatronTrainer
    orig_step, orig_prepare = T.train_step, T._prepare_batch
    path = os.path.join(_DIR, f"probe-rank{os.environ.get('RANK', '0')}.jsonl")
    counts = {"real": 0, "padded": 0, "loss": 0, "rows": 0, "step": 0}

    def _prepare_batch(self, data, *args, **kwargs):
        try:
            ids = data.get("input_ids")
            if ids is not None:
                # padding-free packing: every token of a packed row is real; padded batches carry a mask
                mask = data.get("attention_mask")
                counts["padded"] += int(ids.numel())
                counts["real"] += int(mask.sum()) if mask is not None and mask.dim() == ids.dim() else int(ids.numel())
                pos = data.get("position_ids")
                counts["rows"] += int((pos == 0).sum()) if pos is not None and pos.device.type == "cpu" else 1
                labels = data.get("labels")
                if labels is not None and labels.device.type == "cpu":
                    counts["loss"] += int((labels != -100).sum())
        except Exception:  # noqa: BLE001
            pass
        return orig_prepare(self, data, *args, **kwargs)

    def train_step(self, *args, **kwargs):
        t = time.time()
        for k in ("real", "padded", "loss", "rows"):
            counts[k] = 0
        out = orig_step(self, *args, **kwargs)
        counts["step"] += 1
        rec = {
            "t": t,
            "step": counts["step"],
            "real_tokens": counts["real"],
            "padded_tokens": counts["padded"],
            "loss_tokens": counts["loss"],
            "samples": counts["rows"],
        }
        with open(path, "a") as f:
            f.write(json.dumps(_record(rec)) + "\n")
        return out

    T._prepare_batch, T.train_step = _prepare_batch, train_step


_PATCHES = {"transformers.trainer": _patch, "swift.megatron.trainers.base": _patch_megatron}


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch(module)

        loader.exec_module = exec_and_patch
        return spec


if _DIR:
    os.makedirs(_DIR, exist_ok=True)
    sys.meta_path.insert(0, _Hook())
