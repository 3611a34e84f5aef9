"""The LoRA merge stage: the compose service and the k8s Job, and the entrypoint's merge mode and serve
preference (the real script, run with sh, with a stand-in `swift`). A real merge: test_after_training.py."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import yaml

from builder.load import validate
from builder.plan import make_plan
from builder.render import compose, render_all
from builder.render.scripts import CONTEXT

SCRIPT = CONTEXT / "entrypoint.sh"


def compose_doc(overrides: dict) -> dict:
    return yaml.safe_load(compose.render(make_plan(validate(overrides)), "x.yaml")["compose/docker-compose.yml"])


def test_compose_merge_service():
    doc = compose_doc({"train": {"tuner": "lora"}})
    merge, train = doc["services"]["merge"], doc["services"]["train"]
    assert merge["profiles"] == ["merge"]
    assert merge["image"] == train["image"]
    assert merge["entrypoint"] == ["/usr/local/bin/modelforge-entrypoint", "merge"]
    assert merge["command"] == ["swift", "export", "--merge_lora", "true"]
    assert merge["environment"]["MF_OUTPUT_DIR"] == train["environment"]["MF_OUTPUT_DIR"]
    assert "checkpoints:/checkpoints" in merge["volumes"]  # writable: merged/ goes beside the checkpoints
    assert merge["deploy"] == train["deploy"] and merge["restart"] == "no"
    # Rendered for full runs too (the entrypoint then has nothing to do), so `make merge` always exists.
    assert "merge" in compose_doc({})["services"]


def test_entrypoint_is_where_the_dockerfiles_put_it():
    files = render_all(make_plan(validate({})))
    for name in ("Dockerfile.train", "Dockerfile.serve"):
        assert f"COPY docker/entrypoint.sh {compose.ENTRYPOINT}" in files[name]


def test_k8s_merge_job():
    files = render_all(make_plan(validate({"train": {"tuner": "lora"}})))
    [job] = [d for d in yaml.safe_load_all(files["k8s/jobs/merge-job.yaml"]) if d]
    assert job["kind"] == "Job" and job["metadata"]["name"].endswith("-merge")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["/usr/local/bin/modelforge-entrypoint", "merge"]
    assert container["args"] == ["swift", "export", "--merge_lora", "true"]
    assert pod["restartPolicy"] == "Never"
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"qwen3-30b-a3b-sft-model-cache", "qwen3-30b-a3b-sft-checkpoints"}
    assert not any(m.get("readOnly") for m in container["volumeMounts"])
    # applied by hand after training, so in no kustomization
    for path, text in files.items():
        if path.endswith("kustomization.yaml"):
            assert "merge" not in text, path


def test_k8s_merge_job_passes_kubernetes_schemas():
    import kubernetes_validate

    files = render_all(make_plan(validate({"train": {"tuner": "lora"}})))
    for doc in yaml.safe_load_all(files["k8s/jobs/merge-job.yaml"]):
        kubernetes_validate.validate(doc, "1.30", strict=True)


# -- the entrypoint --------------------------------------------------------------------------------


def fake_bin(tmp_path: Path) -> Path:
    """`swift` that records its argv and writes a model into --output_dir (or fails with FAKE_FAIL=1);
    `vllm` that prints what it would serve."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "swift").write_text("""#!/bin/sh
echo "$@" >> "$SWIFT_LOG"
[ "${FAKE_FAIL:-0}" = 1 ] && { mkdir -p "$(echo "$@" | sed 's/.*--output_dir //')"; exit 3; }
while [ $# -gt 0 ]; do [ "$1" = --output_dir ] && out=$2; shift; done
mkdir -p "$out" && echo '{}' > "$out/config.json" && echo w > "$out/model.safetensors"
""")
    (bin_dir / "vllm").write_text('#!/bin/sh\necho vllm "$@"\n')
    for tool in ("swift", "vllm"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir


def run(tmp_path: Path, mode: str, *cmd: str, **env: str) -> subprocess.CompletedProcess:
    full = {
        "PATH": f"{fake_bin(tmp_path)}:{os.environ['PATH']}",
        "MF_OUTPUT_DIR": str(tmp_path / "run"),
        "SWIFT_LOG": str(tmp_path / "swift.log"),
        "VLLM_API_KEY": "k",
        "MF_BASE_MODEL": "org/base",
        **env,
    }
    return subprocess.run(["sh", str(SCRIPT), mode, *cmd], capture_output=True, text=True, env=full, timeout=30)


def ckpt(tmp_path: Path, step: int, lora: bool = True) -> Path:
    path = tmp_path / "run" / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / ("adapter_config.json" if lora else "config.json")).write_text("{}")
    (path / "trainer_state.json").write_text('{"global_step": %d}' % step)
    return path


MERGE = ("swift", "export", "--merge_lora", "true")


def test_merge_newest_lora_checkpoint(tmp_path):
    ckpt(tmp_path, 10)
    newest = ckpt(tmp_path, 20)
    result = run(tmp_path, "merge", *MERGE)
    assert result.returncode == 0, result.stderr
    merged = tmp_path / "run" / "merged"
    assert (tmp_path / "swift.log").read_text().split() == [
        "export",
        "--merge_lora",
        "true",
        "--adapters",
        str(newest),
        "--output_dir",
        str(tmp_path / "run" / "merged.partial"),
    ]
    assert (merged / "config.json").is_file() and (merged / ".modelforge-merged-from").read_text().strip() == str(
        newest
    )
    assert not (tmp_path / "run" / "merged.partial").exists()
    # again: nothing to do
    result = run(tmp_path, "merge", *MERGE)
    assert result.returncode == 0 and "already holds" in result.stderr
    assert len((tmp_path / "swift.log").read_text().splitlines()) == 1
    # forced, or after a newer checkpoint: merged again, replacing the old one
    newer = ckpt(tmp_path, 30)
    assert run(tmp_path, "merge", *MERGE).returncode == 0
    assert (merged / ".modelforge-merged-from").read_text().strip() == str(newer)
    assert not (tmp_path / "run" / "merged.old").exists()


def test_full_parameter_run_has_nothing_to_merge(tmp_path):
    ckpt(tmp_path, 10, lora=False)
    result = run(tmp_path, "merge", *MERGE)
    assert result.returncode == 0 and "nothing to merge" in result.stderr
    assert not (tmp_path / "swift.log").exists() and not (tmp_path / "run" / "merged").exists()


def test_no_checkpoint_is_an_error(tmp_path):
    result = run(tmp_path, "merge", *MERGE)
    assert result.returncode == 1 and "train first" in result.stderr


def test_failed_merge_leaves_the_served_model_alone(tmp_path):
    ckpt(tmp_path, 10)
    assert run(tmp_path, "merge", *MERGE).returncode == 0
    ckpt(tmp_path, 20)
    result = run(tmp_path, "merge", *MERGE, FAKE_FAIL="1")
    assert result.returncode == 3
    merged = tmp_path / "run" / "merged"
    assert (merged / ".modelforge-merged-from").read_text().strip().endswith("checkpoint-10")


def serving(tmp_path: Path) -> str:
    result = run(tmp_path, "serve", "vllm", "serve", "--port", "8000")
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[2]


def test_serve_prefers_a_current_merge(tmp_path):
    ckpt(tmp_path, 10)
    result = run(tmp_path, "serve", "vllm", "serve")
    assert result.stdout.split()[2] == "org/base" and "LoRA adapter without a merged model" in result.stderr
    assert run(tmp_path, "merge", *MERGE).returncode == 0
    assert serving(tmp_path) == str(tmp_path / "run" / "merged")
    # training went on: the merge is stale; the newest checkpoint is an adapter, so the base model is served
    time.sleep(0.05)
    ckpt(tmp_path, 20)
    os.utime(tmp_path / "run" / "merged" / "config.json", (1, 1))
    result = run(tmp_path, "serve", "vllm", "serve")
    assert result.stdout.split()[2] == "org/base" and "older than the newest checkpoint" in result.stderr


def test_serve_takes_a_merge_written_after_the_checkpoint_without_marker(tmp_path):
    ckpt(tmp_path, 10)
    os.utime(tmp_path / "run" / "checkpoint-10" / "trainer_state.json", (1, 1))
    merged = tmp_path / "run" / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")  # e.g. `swift export` run by hand
    assert serving(tmp_path) == str(merged)


def test_full_checkpoint_still_served_without_merge(tmp_path):
    full = ckpt(tmp_path, 10, lora=False)
    assert serving(tmp_path) == str(full)
    (tmp_path / "run" / "merged").mkdir()  # an incomplete merge (no config.json) is ignored
    assert serving(tmp_path) == str(full)
