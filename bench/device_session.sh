#!/bin/bash
# One device call: set up (wheels, proxy models, dataset; skipped when already there), then run
# benchmark queues, each queue on its own GPU(s), each run through bench/run_train_bench.py.
#
#   bash bench/device_session.sh DEADLINE_S "Q1" ["Q2"]
#
# A queue is "GPU_IDS:PORT:item item ...", items run one after another; an item is a plan name
# ($PLANS/<item>.json, PLANS defaults to bench/plans), optionally "@N" to evaluate on held-out rows every
# N steps, "a|b" (b only when a did not end ok), "imports" (the Megatron stack loads), "megatron-sanity",
# the word "sanity", "fa4check" (bench/fa4_fix_check.py) or "setup" (nothing). Queues run side by side.
# No run starts when fewer than 100 s are left before DEADLINE_S (seconds after this script starts).
# BATCH (env) names the run batch: results are <BATCH>-<plan>-<n>.json, with batch_id = BATCH.
# Wheels: .whl/*.whl are installed into /tmp/site; .whl/*.tar.xz (site-packages trees packed here, for
# wheels over the transfer limit) are unpacked there; each once per machine.
# A tree too big for one call travels as .whl/<name>.partN pieces over several calls of one warm machine
# (64 MiB a call): every call copies its pieces to /tmp/parts; "bash bench/device_session.sh 0 carry" only
# does that; the first call that has all PARTS pieces (env, with PARTS_SHA256 of their concatenation) unpacks.
# Results (JSON + log tail per run) are packed into $OUT/results.tgz after every run.
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s)
DEADLINE=$((T0 + $1)); shift
W=/tmp/bench; R=$W/results; mkdir -p "$R" "$W/runs"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
pack() { (cd "$W" && tar -czf "${OUT:-/tmp}/results.tgz.tmp" results && mv "${OUT:-/tmp}/results.tgz.tmp" "${OUT:-/tmp}/results.tgz"); }
say() { echo "[session +$(( $(date +%s) - T0 ))s] $*"; }
. bench/pieces.sh

# ---- setup
mkdir -p /tmp/site /tmp/parts
cp -n .whl/*.part[0-9]* /tmp/parts/ 2>/dev/null
say "pieces here: $(ls /tmp/parts | tr '\n' ' ')"
[ "${1:-}" = carry ] && exit 0
if [ -n "${PARTS:-}" ] && [ ! -f /tmp/site/.parts-ok ]; then
  # PARTS_NAME: default mg, bench/pack_site.py's name
  unpack_pieces "${PARTS_NAME:-mg}" "$PARTS" "${PARTS_SHA256:-}" /tmp/site && touch /tmp/site/.parts-ok || exit 1
fi
if ls .whl/*.whl > /dev/null 2>&1 && [ ! -f /tmp/site/.ok ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && touch /tmp/site/.ok || { say "wheel install failed"; exit 1; }
fi
for t in .whl/*.tar.xz; do
  [ -f "$t" ] || continue
  m=/tmp/site/.unpacked-$(basename "$t"); [ -f "$m" ] && continue
  xz -dc "$t" | tar -C /tmp/site -xf - && touch "$m" || { say "unpack $t failed"; exit 1; }
done
# pip --target skips .pth files: nvidia-cutlass-dsl's points at its dsl_packages folder.
export PYTHONPATH=/tmp/site:/tmp/site/nvidia_cutlass_dsl/dsl_packages PATH=/tmp/site/bin:$PATH
export FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED=1
PLANS=${PLANS:-bench/plans}; BATCH=${BATCH:-}; declare -A SEEN
say "wheels ready"; nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader; nproc; df -h /tmp | tail -1
NGPU=$(nvidia-smi -L | wc -l)
[ -f $W/proxy1/model.safetensors ] || CUDA_VISIBLE_DEVICES=0 python3 bench/make_proxy_model.py $W/proxy1 --layers 1 > $W/build1.log 2>&1 &
P1=$!
[ -f $W/proxy4/model.safetensors.index.json ] || [ -f $W/proxy4/model.safetensors ] || \
  CUDA_VISIBLE_DEVICES=$((NGPU - 1)) python3 bench/make_proxy_model.py $W/proxy4 --layers 4 > $W/build4.log 2>&1 &
P4=$!
wait $P1; tail -1 $W/build1.log
[ -f $W/data.jsonl ] || python3 bench/make_dataset.py $W/data.jsonl --rows 320 --seed 0 --tokenizer $W/proxy1 | tee $W/data.log
[ -f $W/val.jsonl ] || python3 bench/make_dataset.py $W/val.jsonl --rows 32 --seed 1 --tokenizer $W/proxy1 > $W/val.log
cp $W/data.jsonl.stats.json "$R/dataset.stats.json" 2>/dev/null
wait $P4; tail -1 $W/build4.log
say "models and data ready"; ls -la $W/proxy4 | head -20

run() {  # run GPU_IDS PORT ITEM; ITEM "a|b": b runs only when a did not end with status ok
  if [[ "$3" == *"|"* ]]; then
    run "$1" "$2" "${3%%|*}"
    local first=${3%%|*} n=${SEEN[${3%%|*}]:-1}
    local res=$R/${BATCH:+$BATCH-}$first${BATCH:+-$n}.json
    python3 -c "import json,sys; sys.exit(json.load(open('$res')).get('status') != 'ok')" 2>/dev/null \
      || run "$1" "$2" "${3#*|}"
    return 0
  fi
  local ids=$1 port=$2 item=${3%@*} every= left=$((DEADLINE - $(date +%s)))
  [[ "$3" == *@* ]] && every=${3#*@}
  [ "$item" = setup ] && return 0
  if [ $left -lt 100 ]; then say "skip $item: ${left}s left"; return 0; fi
  say "start $3 on GPU $ids"
  if [ "$item" = imports ]; then  # the Megatron stack loads (its errors are cheaper here than in a run)
    python3 -c "import transformer_engine.pytorch as te, megatron.core, mcore_bridge, swift.megatron; \
import transformer_engine_torch; from importlib.metadata import version as v; \
print('TE', te.__version__, 'mcore', v('megatron-core'), 'bridge', v('mcore-bridge'), 'fa4', v('flash-attn-4'))" 2>&1 | tail -5
  elif [ "$item" = fa4check ]; then
    python3 bench/fa4_fix_check.py $R/fa4-fix-check.json > $R/fa4-fix-check.log 2>&1; tail -3 $R/fa4-fix-check.log
  elif [ "$item" = megatron-sanity ]; then
    # megatron sft as rendered on the 1-layer proxy: killed once checkpoint-5 is complete, resumed through
    # docker/entrypoint.sh (--mcore_model, --finetune false), which must go on from iteration 6 to 10
    python3 bench/run_train_bench.py --plan $PLANS/megatron-sanity-1gpu.json --model $W/proxy1 --dataset $W/data.jsonl \
      --workdir $W/runs --results $R --gpu-ids $ids --port $port --sanity --dist torchrun \
      --name ${BATCH:+$BATCH-}megatron-sanity-1gpu ${BATCH:+--batch-id $BATCH} --timeout $((left - 15))
  elif [ "$item" = sanity ]; then
    # the rendered 1-GPU command exactly as rendered (no NPROC_PER_NODE), then, if that fails, with NPROC_PER_NODE=1
    python3 bench/run_train_bench.py --plan bench/plans/sanity-1gpu.json --model $W/proxy1 --dataset $W/data.jsonl \
      --workdir $W/runs --results $R --gpu-ids $ids --port $port --sanity --dist rendered --name sanity-rendered-1gpu \
      --timeout $((left - 15)) || {
        left=$((DEADLINE - $(date +%s)))
        [ $left -gt 150 ] && python3 bench/run_train_bench.py --plan bench/plans/sanity-1gpu.json --model $W/proxy1 \
          --dataset $W/data.jsonl --workdir $W/runs --results $R --gpu-ids $ids --port $port --sanity --dist torchrun \
          --name sanity-torchrun-1gpu --timeout $((left - 15)); }
  else
    SEEN[$item]=$(( ${SEEN[$item]:-0} + 1 ))
    local name=; [ -n "$BATCH" ] && name="--name $BATCH-$item-${SEEN[$item]} --batch-id $BATCH"
    python3 bench/run_train_bench.py --plan $PLANS/$item.json --model $W/proxy4 --dataset $W/data.jsonl \
      --workdir $W/runs --results $R --gpu-ids $ids --port $port --dist torchrun --max-steps 10 --warmup 2 \
      --timeout $(( left - 15 < ${RUN_CAP:-100000} ? left - 15 : ${RUN_CAP:-100000} )) $name ${every:+--val-dataset $W/val.jsonl --eval-steps $every}
  fi
  for f in $R/*.log; do [ $(stat -c %s "$f") -gt 400000 ] && { tail -c 400000 "$f" > "$f.t"; mv "$f.t" "$f"; }; done
  pack
  say "done $item"
}

queue() {  # queue "IDS:PORT:items..."
  local spec=$1 ids port items
  ids=${spec%%:*}; spec=${spec#*:}; port=${spec%%:*}; items=${spec#*:}
  for item in $items; do run "$ids" "$port" "$item"; done
}

pids=()
for q in "$@"; do queue "$q" & pids+=($!); done
for p in "${pids[@]}"; do wait $p; done
pack
say "all done"; ls -la $R
for f in $R/*.json; do python3 -c "import json,sys; d=json.load(open('$f')); print({k: d.get(k) for k in ('name','status','tokens_per_s_per_gpu','step_time_s','peak_mem_gib','mfu','loss_first','loss_last')})" 2>/dev/null; done
