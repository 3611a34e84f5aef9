#!/bin/bash
# One device call: the GPU sanity run (bench/run_train_bench.py --sanity: rendered `swift sft` with
# DeepSpeed, killed after checkpoint-5, resumed through docker/entrypoint.sh to step 10) as an
# unprivileged user (uid 1000), as the images now run. The device machine has no Docker, so this checks
# the stack itself (CUDA devices, NCCL shared memory, DeepSpeed's JIT ops, caches under HOME) without root.
#
#   bash bench/nonroot_sanity.sh PLAN GPU_IDS
set -u
cd "$(dirname "$0")/.."
PLAN=$1 IDS=$2
bash bench/device_session.sh 900 > /tmp/setup.log 2>&1 || { tail -20 /tmp/setup.log; exit 1; }  # wheels, proxy models, data
tail -3 /tmp/setup.log
id -u 1000 > /dev/null 2>&1 || useradd --uid 1000 --create-home mfuser
R=/tmp/mfrepo W=/tmp/nonroot
rm -rf "$R" "$W" && cp -r . "$R" && mkdir -p "$W/home"
chmod -R a+rX "$R" /tmp/site /tmp/bench && chown -R 1000:1000 "$W"
echo "running as: $(setpriv --reuid 1000 --regid 1000 --clear-groups id)"
cd "$R" && setpriv --reuid 1000 --regid 1000 --clear-groups env PATH="/tmp/site/bin:$PATH" PYTHONPATH=/tmp/site \
  HOME="$W/home" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false \
  python3 bench/run_train_bench.py --plan "$PLAN" --model /tmp/bench/proxy1 --dataset /tmp/bench/data.jsonl \
    --workdir "$W/runs" --results "$W/results" --gpu-ids "$IDS" --port 29633 --sanity --name "nonroot-$(basename "$PLAN" .json)" \
    --timeout 480
rc=$?
mkdir -p "${OUT:-/tmp/out}" && cp "$W"/results/* "${OUT:-/tmp/out}/" 2>/dev/null
grep -h "\[modelforge\]\|\[bench\]" "$W"/results/*.log | head -20
stat -c '%U %n' "$W/home/.cache"/* 2>/dev/null | head
python3 - "$W"/results/*.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path)); x = d.get("detail", {})
    print(d.get("name"), d.get("status"), "sanity_ok:", d.get("sanity_ok"), "resumed:", x.get("resumed_from"),
          "checkpoint bytes:", x.get("checkpoint_bytes"), "planner:", x.get("planner_checkpoint_bytes"))
PY
exit $rc
