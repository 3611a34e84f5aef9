#!/bin/bash
# Serving benchmark, one device call: (once per machine) put the carried vLLM wheels in place and write the
# model folder (full 48-layer Qwen3-30B-A3B config + offline tokenizer, no weights: vLLM loads dummy ones),
# then run each configuration with bench/run_serve_bench.py, one after another, on the same GPU.
#
#   bash bench/serve_session.sh DEADLINE_S BATCH CONFIG [CONFIG...]     # CONFIG: $PLANS/<CONFIG>.json, or
#                                                                       # quality (bench/serve_quality.py)
#   (PLANS defaults to bench/plans/serve, written by bench/make_serve_plans.py)
#
# Wheels: vLLM 0.25.1 and what it needs beyond the machine's torch (bench/pack_serve.py packs them from the
# serving image's lock as one xz tree, .whl/bundle.part*) travel over several calls of one warm machine (64 MiB
# a call, the repo's tracked tree included); every call copies what it carries to /tmp/parts, and the first
# call that has all PIECES (checked against PIECES_SHA256 when given) unpacks them into /tmp/vsite.
# Results and server logs go to $OUT (serve-<BATCH>-<config>-<workload>-<rate>.json).
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s); DEADLINE=$((T0 + $1)); BATCH=$2; shift 2
W=/tmp/sbench; R=$W/results; mkdir -p "$R" /tmp/parts
say() { echo "[session +$(( $(date +%s) - T0 ))s] $*"; }
. bench/pieces.sh
cp -n .whl/bundle.part* /tmp/parts/ 2>/dev/null
say "pieces here: $(ls /tmp/parts | tr '\n' ' ')"
[ $# -gt 0 ] || exit 0   # a carrying call only
if [ ! -f /tmp/vsite/.vllm-ok ]; then
  unpack_pieces bundle "${PIECES:-7}" "${PIECES_SHA256:-}" /tmp/vsite && touch /tmp/vsite/.vllm-ok || exit 1
fi
export PYTHONPATH=/tmp/vsite PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
[ -f $W/m48/tokenizer.json ] || python3 bench/make_proxy_model.py $W/m48 --layers 48 --no-weights || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
status=0
for config in "$@"; do
  say "config $config"
  if [ "$config" = quality ]; then  # FP8 vs bf16 numerics on a 2-layer proxy with real weights
    [ -f $W/q2/config.json ] || python3 bench/make_proxy_model.py $W/q2 --layers 2 || exit 1
    python3 bench/serve_quality.py --model $W/q2 --out "$R/serve-$BATCH-quality.json" || status=1
    mkdir -p "${OUT:-/tmp/out}"; cp "$R"/serve-"$BATCH"-quality.json "${OUT:-/tmp/out}"/ 2>/dev/null
    continue
  fi
  python3 bench/run_serve_bench.py "${PLANS:-bench/plans/serve}/$config.json" --model $W/m48 --results "$R" \
    --batch-id "$BATCH" --deadline "$DEADLINE" || status=1
  mkdir -p "${OUT:-/tmp/out}"; cp "$R"/serve-"$BATCH"-* "${OUT:-/tmp/out}"/ 2>/dev/null
done
say "done (status $status)"
exit $status
