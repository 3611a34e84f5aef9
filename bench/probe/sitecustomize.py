"""Benchmark probe, loaded by every Python process whose PYTHONPATH starts with bench/probe.

It changes nothing in the training: when MF_BENCH_PROBE names a folder, it wraps
transformers.Trainer.get_batch_samples (which fetches one optimizer step's micro-batches
from the data loader, on the host, before they reach the GPU) and appends one line per
optimizer step and rank to MF_BENCH_PROBE/probe-rank<R>.jsonl:

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
        try:
            import torch

            if torch.cuda.is_available():
                rec["max_alloc_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
                rec["max_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 3)
        except Exception:  # noqa: BLE001 - a probe never breaks training
            pass
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\n")
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


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "transformers.trainer":
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
            _patch(module)
            sys.meta_path[:] = [f for f in sys.meta_path if f is not self]

        loader.exec_module = exec_and_patch
        return spec


if _DIR:
    os.makedirs(_DIR, exist_ok=True)
    sys.meta_path.insert(0, _Hook())
