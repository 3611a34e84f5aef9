#!/usr/bin/env python3
"""Run one rendered `swift sft` command on the GPU machine and measure it.

Input is a plan file written by bench/make_plans.py (the JSON of `modelforge plan --json --set ...`
plus the same plan made for the proxy model). The rendered argv and environment are run as they
are, with only these substitutions (all recorded in the result's `substitutions`):

  --model, --dataset, --output_dir, --logging_dir   paths of the proxy model, the synthetic data, a scratch folder
  --max_steps N, --logging_steps 1                  a short run, a log line per step
  --save_strategy no                                measurement runs write no checkpoint (except --sanity)
  env HF_HOME, MODELSCOPE_CACHE, MF_OUTPUT_DIR      scratch folders instead of the container volumes
  env MF_CHECKPOINT_BYTES                           the proxy model's checkpoint size (the entrypoint checks it)
  env MASTER_PORT                                   a free port per run (two runs may share a machine)

Measurement (see docs/benchmarks.md, "Method"):
  * bench/probe/sitecustomize.py (on PYTHONPATH, inert unless MF_BENCH_PROBE is set) logs, per optimizer
    step and rank, the wall clock when the step's micro-batches are fetched and how many real
    (attention_mask) and padded tokens they hold. Step time = difference of successive step starts;
    throughput = real tokens of the measured steps (all ranks) / their wall time / GPUs. The first
    --warmup steps are left out; the last step is left out because its end has no next start.
  * peak memory: nvidia-smi memory.used polled every 0.25 s (max over the run's GPUs; includes the
    CUDA context and the caching allocator's reserve), plus torch's own peak counters from the probe.
  * MFU = 6 x active params x tokens/s/GPU / 989e12 (H200 dense bf16 peak). Active params are the
    planner's count for the model's config.json (top-8 of 128 experts, embeddings and LM head
    included); attention-score FLOPs and recomputation are not counted.
  * loss: first and last `loss` of ms-swift's logging.jsonl.

--sanity: keep the plan's checkpointing, --save_steps 5 --max_steps 10; kill the run once
checkpoint-5 is complete, then start the identical command through the rendered container
entrypoint (docker/entrypoint.sh train ...), which must resume from checkpoint-5 and finish step 10.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
H200_BF16_PEAK = 989e12
DIST_MODE_FILE = Path("/tmp/bench_dist_mode")


# ---------------------------------------------------------------- argv handling
def parse_flags(argv: list[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """['swift','sft','--a','1','--b','x','y'] -> (['swift','sft'], [('a',['1']),('b',['x','y'])])."""
    head: list[str] = []
    flags: list[tuple[str, list[str]]] = []
    for tok in argv:
        if tok.startswith("--"):
            flags.append((tok[2:], []))
        elif flags:
            flags[-1][1].append(tok)
        else:
            head.append(tok)
    return head, flags


def set_flag(flags: list[tuple[str, list[str]]], name: str, values: list[str]) -> None:
    for i, (n, _) in enumerate(flags):
        if n == name:
            flags[i] = (name, values)
            return
    flags.append((name, values))


def get_flag(flags, name, default=None):
    for n, v in flags:
        if n == name:
            return v[0] if len(v) == 1 else v
    return default


def flatten(head, flags) -> list[str]:
    out = list(head)
    for n, v in flags:
        out.append("--" + n)
        out.extend(v)
    return out


# ---------------------------------------------------------------- GPU memory poller
class MemPoller(threading.Thread):
    def __init__(self, gpu_ids: list[str], period: float = 0.25):
        super().__init__(daemon=True)
        self.gpu_ids, self.period = gpu_ids, period
        self.peak_mib: dict[str, int] = {g: 0 for g in gpu_ids}
        self.stop = threading.Event()

    def run(self) -> None:
        q = [
            "nvidia-smi",
            "--query-gpu=index,memory.used",
            "--format=csv,noheader,nounits",
            "-i",
            ",".join(self.gpu_ids),
        ]
        while not self.stop.is_set():
            try:
                for line in subprocess.run(q, capture_output=True, text=True, timeout=10).stdout.splitlines():
                    idx, used = [x.strip() for x in line.split(",")]
                    self.peak_mib[idx] = max(self.peak_mib.get(idx, 0), int(used))
            except Exception:  # noqa: BLE001
                pass
            self.stop.wait(self.period)


# ---------------------------------------------------------------- helpers
def versions() -> dict:
    from importlib.metadata import version

    out = {}
    for name in (
        "torch",
        "transformers",
        "ms-swift",
        "deepspeed",
        "peft",
        "accelerate",
        "trl",
        "megatron-core",
        "mcore-bridge",
        "transformer-engine",
        "flash-attn-4",
    ):
        try:
            out[name] = version(name)
        except Exception:  # noqa: BLE001
            out[name] = None
    return out


def gpu_name(gpu: str) -> str:
    try:
        r = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", gpu], capture_output=True, text=True
        )
        return r.stdout.strip()
    except FileNotFoundError:
        return "none"


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


def launch(argv, env, log_path: Path, cwd: Path):
    log = open(log_path, "ab")
    log.write(("\n$ " + " ".join(shlex.quote(a) for a in argv) + "\n").encode())
    log.flush()
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True), log


def kill_group(proc) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


def checkpoint_complete(d: Path) -> bool:
    """The rule `modelforge status` and the entrypoint resume by (DeepSpeed and Megatron checkpoints)."""
    from builder.runs.state import _is_complete

    return d.is_dir() and _is_complete(d)


def megatron_shim(workdir: Path) -> Path:
    """A `megatron` command for a machine whose wheels were unpacked without their scripts: the rendered argv
    runs as rendered, and the entrypoint's Megatron resume branch (it matches on `megatron`) is the one taken."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "megatron"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m swift.cli._megatron.main "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return ""


def _step_of(row: dict) -> int | None:
    from builder.runs.state import progress_of  # the rule `modelforge status` reads ms-swift's rows with

    return progress_of(row)[0]


# ---------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", required=True, help="bench/plans/<name>.json")
    ap.add_argument("--model", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--workdir", required=True, help="scratch folder; <workdir>/<name> is the run's output_dir")
    ap.add_argument("--results", required=True, help="folder for <config>-<gpus>gpu.json and the log")
    ap.add_argument("--gpu-ids", required=True, help="physical GPU indices, e.g. 0 or 0,1")
    ap.add_argument("--max-steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--port", type=int, default=29500)
    ap.add_argument(
        "--dist",
        choices=["auto", "rendered", "torchrun", "single"],
        default="auto",
        help="1-GPU launch: as rendered; NPROC_PER_NODE=1 (torchrun); or the single-process dist env",
    )
    ap.add_argument("--sanity", action="store_true")
    ap.add_argument("--timeout", type=int, default=420)
    ap.add_argument("--name", default=None, help="result name (default <config>-<gpus>gpu)")
    ap.add_argument(
        "--val-dataset", default=None, help="held-out rows: adds --val_dataset and evaluation every --eval-steps"
    )
    ap.add_argument("--eval-steps", type=int, default=0)
    ap.add_argument("--batch-id", default=None, help="names the run batch (runs made back to back on one machine)")
    args = ap.parse_args()

    spec = json.loads(Path(args.plan).read_text())
    plan, proxy_plan = spec["plan"], spec.get("proxy_plan") or {}
    config, gpus = spec["config"], int(spec["gpus"])
    name = args.name or f"{config}-{gpus}gpu"
    gpu_ids = args.gpu_ids.split(",")
    assert len(gpu_ids) == gpus, f"{name}: plan is for {gpus} GPUs, got --gpu-ids {args.gpu_ids}"
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    out_dir = Path(args.workdir) / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    probe_dir = out_dir / "probe"
    log_path = results / f"{name}.log"
    log_path.write_text("")

    head, flags = parse_flags(plan["train"]["command"])
    megatron = head[:1] == ["megatron"]
    subs = {
        "model": args.model,
        "dataset": args.dataset,
        "output_dir": str(out_dir),
        "logging_dir": str(out_dir / "runs"),
        "max_steps": str(args.max_steps),
        "logging_steps": "1",
    }
    if megatron:  # Megatron-SWIFT's names for the same things
        flags = [(n, v) for n, v in flags if n != "num_train_epochs"]
        del subs["logging_dir"], subs["max_steps"]
        subs.update(tensorboard_dir=str(out_dir / "runs"), train_iters=str(args.max_steps))
    if args.sanity:
        subs["save_steps"] = "5"
    elif megatron:
        # Megatron-SWIFT always saves at the last iteration (after the measured window): weights only, no optimizer
        subs.update(save_steps=str(args.max_steps), no_save_optim="true")
    else:
        subs["save_strategy"] = "no"
    if args.val_dataset and args.eval_steps:
        subs.update(
            val_dataset=args.val_dataset,
            eval_strategy="steps",
            eval_steps=str(args.eval_steps),
            per_device_eval_batch_size="1",
        )
    for k, v in subs.items():
        set_flag(flags, k, [v])
    # The image's plugins are the rendered copies in docker/ here; bench-only plugins are appended.
    rendered = next((v for n, v in flags if n == "external_plugins"), [])
    plugins = [
        str(REPO / "docker" / Path(p).name) if p.startswith("/usr/local/lib/modelforge/") else p for p in rendered
    ]
    plugins += [str(REPO / p) for p in spec.get("extra_plugins", [])]
    if plugins:
        set_flag(flags, "external_plugins", plugins)
        subs["external_plugins"] = " ".join(plugins)
    shim_dir = None
    if shutil.which(head[0]) is None:  # wheels unpacked without their scripts
        if head[0] == "swift":
            head = [sys.executable, "-m", "swift.cli.main", *head[1:]]
        elif head[0] == "megatron":
            shim_dir = megatron_shim(Path(args.workdir))
    argv = flatten(head, flags)

    env_rendered = dict(plan["train"]["env"])
    env_rendered.update(
        HF_HOME=str(Path(args.workdir) / "hf"),
        MODELSCOPE_CACHE=str(Path(args.workdir) / "ms"),
        MF_OUTPUT_DIR=str(out_dir),
    )
    proxy_env = (proxy_plan.get("train") or {}).get("env") or {}
    if "MF_CHECKPOINT_BYTES" in env_rendered and "MF_CHECKPOINT_BYTES" in proxy_env:
        env_rendered["MF_CHECKPOINT_BYTES"] = proxy_env[
            "MF_CHECKPOINT_BYTES"
        ]  # the proxy's checkpoints, not 400 GiB ones
    dist = args.dist
    if dist == "auto":
        dist = (
            "rendered"
            if gpus > 1 or "NPROC_PER_NODE" in env_rendered
            else (DIST_MODE_FILE.read_text().strip() if DIST_MODE_FILE.exists() else "rendered")
        )
    env_added = {"MASTER_PORT": str(args.port), "CUDA_VISIBLE_DEVICES": args.gpu_ids}
    if gpus == 1 and "NPROC_PER_NODE" not in env_rendered:
        if dist == "torchrun":
            env_added["NPROC_PER_NODE"] = "1"
        elif dist == "single":
            env_added.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    env = dict(os.environ)
    env.update(env_rendered)
    env.update(env_added)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "bench" / "probe"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if shim_dir:
        env["PATH"] = os.pathsep.join([str(shim_dir), env.get("PATH", "")])
    env["MF_BENCH_PROBE"] = str(probe_dir)

    poller = MemPoller(gpu_ids)
    poller.start()
    t0 = time.time()
    status, resumed_from, notes = "ok", None, []
    proc, log = launch(argv, env, log_path, REPO)
    try:
        if args.sanity:
            ck = out_dir / "checkpoint-5"
            while proc.poll() is None and not checkpoint_complete(ck) and time.time() - t0 < args.timeout:
                time.sleep(1)
            if proc.poll() is None and checkpoint_complete(ck):
                time.sleep(2)  # let the last-checkpoint link swap finish
                kill_group(proc)
                notes.append("killed after checkpoint-5 was complete")
                log.write(b"\n[bench] killed the run after checkpoint-5; resuming through docker/entrypoint.sh\n")
                log.flush()
                proc, log = launch(["sh", str(REPO / "docker" / "entrypoint.sh"), "train", *argv], env, log_path, REPO)
            else:
                status = "failed: no complete checkpoint-5"
        proc.wait(timeout=max(10, args.timeout - (time.time() - t0)))
    except subprocess.TimeoutExpired:
        kill_group(proc)
        status = "timeout"
    finally:
        poller.stop.set()
        log.close()
    wall = time.time() - t0
    rc = proc.returncode
    if rc not in (0, None) and status == "ok":
        status = f"failed rc={rc}"

    # ---------------------------------------------------------------- metrics
    all_logs = read_jsonl(out_dir / "logging.jsonl")
    logs = [r for r in all_logs if "loss" in r]
    eval_rows = [r for r in all_logs if "eval_loss" in r]
    probes = {p.name: read_jsonl(p) for p in sorted(probe_dir.glob("probe-rank*.jsonl"))}
    r0 = probes.get("probe-rank0.jsonl", [])
    # Evaluation passes (probe rows with eval_start/eval_end) are not training time: taken out of the window.
    evals = [row for row in r0 if "eval_start" in row]
    r0 = [row for row in r0 if "step" in row]
    by_step: dict[int, dict] = {}
    for rows in probes.values():
        for row in rows:
            if "step" not in row:
                continue
            s = by_step.setdefault(row["step"], {"real": 0, "padded": 0, "samples": 0})
            s["real"] += row["real_tokens"]
            s["padded"] += row["padded_tokens"]
            s["samples"] += row["samples"]
    t_of = {row["step"]: row["t"] for row in r0}
    first_step = min(t_of) if t_of else 1
    a = first_step + args.warmup
    b = max(t_of) if t_of else 0  # start of the last step: end of the measured window
    measured = [s for s in range(a, b) if s in t_of and s + 1 in t_of]
    tok_s_gpu = step_time = mfu = None
    real = padded = 0
    eval_s = sum(
        e["eval_end"] - e["eval_start"] for e in evals if t_of and t_of.get(a, 0) <= e["eval_start"] < t_of.get(b, 0)
    )
    if len(measured) >= 2 and not args.sanity:  # a killed-and-resumed run has no clean timing
        duration = t_of[b] - t_of[a] - eval_s
        real = sum(by_step[s]["real"] for s in range(a, b))
        padded = sum(by_step[s]["padded"] for s in range(a, b))
        step_time = duration / (b - a)
        tok_s_gpu = real / duration / gpus
    from builder.facts.models import facts_from_config

    facts = facts_from_config(json.loads((Path(args.model) / "config.json").read_text()), "proxy")
    if tok_s_gpu:
        mfu = 6 * facts.active_params * tok_s_gpu / H200_BF16_PEAK
    torch_peaks = [
        row.get("max_reserved_gib") for rows in probes.values() for row in rows if row.get("max_reserved_gib")
    ]
    torch_alloc = [row.get("max_alloc_gib") for rows in probes.values() for row in rows if row.get("max_alloc_gib")]
    swift_mem = [r.get("memory(GiB)") for r in logs if r.get("memory(GiB)")]
    peak_mib = max(poller.peak_mib.values()) if poller.peak_mib else 0
    ptrain = proxy_plan.get("train", {})
    mega = ptrain.get("megatron") or {}
    result = {
        "config": config,
        "backend": "megatron" if megatron else "deepspeed",
        "name": name,
        "batch_id": args.batch_id,
        "gpus": gpus,
        "plan_gpus": spec.get("plan_gpus", gpus),
        "gpu_name": gpu_name(gpu_ids[0]),
        "status": status,
        "tokens_per_s_per_gpu": round(tok_s_gpu, 1) if tok_s_gpu else None,
        "step_time_s": round(step_time, 3) if step_time else None,
        "peak_mem_gib": round(peak_mib / 1024, 2),
        "mfu": round(mfu, 4) if mfu else None,
        "layers": facts.layers,
        "seq_len": int(get_flag(flags, "max_length")),
        "loss_first": logs[0]["loss"] if logs else None,
        "loss_last": logs[-1]["loss"] if logs else None,
        "command": argv,
        "command_line": " ".join(shlex.quote(x) for x in argv),
        "env_rendered": env_rendered,
        "env_added": env_added,
        "dist_mode": dist,
        "substitutions": subs,
        "versions": versions(),
        "git_commit": spec.get("git_commit"),
        "git_dirty": spec.get("git_dirty"),
        "plan_sets": spec.get("sets"),
        "detail": {
            "per_device_train_batch_size": int(
                get_flag(flags, "micro_batch_size" if megatron else "per_device_train_batch_size", 1)
            ),
            # Megatron has no such flag: the plan's micro-batches per data-parallel rank and step
            "gradient_accumulation_steps": plan["train"]["grad_accum"]
            if megatron
            else int(get_flag(flags, "gradient_accumulation_steps", 1)),
            "gradient_checkpointing": get_flag(flags, "gradient_checkpointing"),
            "deepspeed": get_flag(flags, "deepspeed"),
            "measured_steps": [a, b - 1] if measured else None,
            "warmup_steps": args.warmup,
            "real_tokens_measured": real,
            "padded_tokens_measured": padded,
            "padding_fraction": round(1 - real / padded, 4) if padded else None,
            "steps_logged": len(logs),
            "first_logged_step": first_step if t_of else None,
            "peak_mem_gib_per_gpu_nvidia_smi": {k: round(v / 1024, 2) for k, v in poller.peak_mib.items()},
            "torch_max_reserved_gib": max(torch_peaks) if torch_peaks else None,
            "torch_max_allocated_gib": max(torch_alloc) if torch_alloc else None,
            "swift_logged_memory_gib": max(swift_mem) if swift_mem else None,
            "active_params": facts.active_params,
            "total_params": facts.total_params,
            "losses": [r["loss"] for r in logs],
            "real_tokens_per_step": [by_step[s]["real"] for s in sorted(by_step)],
            "eval": [
                {
                    "step": _step_of(r),
                    "eval_loss": r["eval_loss"],
                    "real_tokens_seen": sum(v["real"] for k, v in by_step.items() if k <= (_step_of(r) or 0)),
                }
                for r in eval_rows
            ],
            "eval_seconds_excluded": round(eval_s, 2),
            "step_times_s": [round(t_of[s + 1] - t_of[s], 3) for s in sorted(t_of) if s + 1 in t_of],
            "wall_s": round(wall, 1),
            "resumed_from": resumed_from,
            "notes": notes,
            "checkpoint_files": sorted(
                str(f.relative_to(out_dir)) for f in out_dir.glob("checkpoint-*/**/*") if f.is_file()
            )[:60],
        },
        "planner": {
            "proxy_gpu_mem_gib": ptrain.get("gpu_mem_gib"),
            "proxy_model_states_gib": ptrain.get("model_states_gib"),
            "proxy_activations_gib": ptrain.get("activations_gib"),
            "proxy_deepspeed": ptrain.get("deepspeed"),
            "real_model_gpu_mem_gib": plan["train"].get("gpu_mem_gib"),
            "real_model_deepspeed": plan["train"].get("deepspeed"),
            "real_model_fits": plan["train"].get("fits"),
            # train.backend: megatron: the layout and the per-GPU estimate (builder/plan/megatron.py) for what ran
            "megatron_layout": mega.get("layout"),
            "megatron_gpu_gib": mega.get("gpu_gib"),
            "megatron_weights_grads_gib": mega.get("weights_grads_gib"),
            "megatron_optimizer_gib": mega.get("optimizer_gib"),
            "megatron_activations_gib": mega.get("activations_gib"),
            "megatron_expected_step_s": mega.get("expected_step_s"),
        },
    }
    if args.sanity:
        text = log_path.read_text(errors="replace")
        resumed = [ln for ln in text.splitlines() if "[modelforge] resuming from" in ln]
        result["detail"]["resumed_from"] = resumed[-1].split("resuming from", 1)[1].strip() if resumed else None
        ckpts = sorted(p.name for p in out_dir.glob("checkpoint-*"))
        state = out_dir / "checkpoint-10" / "trainer_state.json"
        result["detail"]["checkpoints"] = ckpts
        result["detail"]["checkpoints_complete"] = {
            p.name: checkpoint_complete(p) for p in out_dir.glob("checkpoint-*")
        }
        # On-disk size of each checkpoint against the planner's estimate the entrypoint checks free space with.
        result["detail"]["checkpoint_bytes"] = {
            p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            for p in sorted(out_dir.glob("checkpoint-*"))
        }
        result["detail"]["planner_checkpoint_bytes"] = int(env_rendered.get("MF_CHECKPOINT_BYTES", 0)) or None
        iters: list[int] = []
        if megatron:  # Megatron-SWIFT: its iteration counter ("N/M") in the log
            iters = [i for i in (_step_of(r) for r in all_logs if r.get("iteration")) if i]
            result["detail"]["iterations_logged"] = iters
            result["detail"]["final_global_step"] = max(iters, default=None)
        else:
            result["detail"]["final_global_step"] = (
                json.loads(state.read_text())["global_step"] if state.exists() else None
            )
        steps_after_resume = [row["step"] for row in r0]
        result["detail"]["probe_steps_rank0"] = steps_after_resume
        ok = (result["detail"]["resumed_from"] or "").endswith("checkpoint-5") and result["detail"][
            "final_global_step"
        ] == 10
        if megatron:  # the resumed run goes on from iteration 6 (--finetune false), it does not start over
            drop = next((k for k in range(1, len(iters)) if iters[k] <= iters[k - 1]), len(iters))
            ok = ok and all(i > 5 for i in iters[drop:])
        result["sanity_ok"] = bool(ok)
        if status == "ok" and not ok:
            result["status"] = "failed: resume check"
    if result["status"] != "ok":
        result["error_tail"] = tail(log_path, 60)
    out = results / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "name",
                    "status",
                    "tokens_per_s_per_gpu",
                    "step_time_s",
                    "peak_mem_gib",
                    "mfu",
                    "loss_first",
                    "loss_last",
                )
            }
            | {"wall_s": round(wall, 1)}
        ),
        flush=True,
    )
    if args.sanity:
        # the checkpoints are large and no longer needed
        for p in out_dir.glob("checkpoint-*"):
            shutil.rmtree(p, ignore_errors=True)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
