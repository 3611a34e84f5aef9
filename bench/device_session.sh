#!/bin/bash
# One device call: set up (wheels, proxy models, dataset; skipped when already there), then run
# benchmark queues, each queue on its own GPU(s), each run through bench/run_train_bench.py.
#
#   bash bench/device_session.sh DEADLINE_S "Q1" ["Q2"]
#
# A queue is "GPU_IDS:PORT:item item ...", items run one after another; an item is a plan name
# (bench/plans/<item>.json) or the word "sanity". Queues run side by side. No run starts when
# fewer than 100 s are left before DEADLINE_S (seconds after this script starts).
# Results (JSON + log tail per run) are packed into $OUT/results.tgz after every run.
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s)
DEADLINE=$((T0 + $1)); shift
W=/tmp/bench; R=$W/results; mkdir -p "$R" "$W/runs"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
pack() { (cd "$W" && tar -czf "${OUT:-/tmp}/results.tgz.tmp" results && mv "${OUT:-/tmp}/results.tgz.tmp" "${OUT:-/tmp}/results.tgz"); }
say() { echo "[session +$(( $(date +%s) - T0 ))s] $*"; }

# ---- setup
if [ ! -f /tmp/site/.ok ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && touch /tmp/site/.ok || { say "wheel install failed"; exit 1; }
fi
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
say "wheels ready"; nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader; nproc; df -h /tmp | tail -1
NGPU=$(nvidia-smi -L | wc -l)
[ -f $W/proxy1/model.safetensors ] || CUDA_VISIBLE_DEVICES=0 python3 bench/make_proxy_model.py $W/proxy1 --layers 1 > $W/build1.log 2>&1 &
P1=$!
[ -f $W/proxy4/model.safetensors.index.json ] || [ -f $W/proxy4/model.safetensors ] || \
  CUDA_VISIBLE_DEVICES=$((NGPU - 1)) python3 bench/make_proxy_model.py $W/proxy4 --layers 4 > $W/build4.log 2>&1 &
P4=$!
wait $P1; tail -1 $W/build1.log
[ -f $W/data.jsonl ] || python3 bench/make_dataset.py $W/data.jsonl --rows 320 --seed 0 --tokenizer $W/proxy1 | tee $W/data.log
cp $W/data.jsonl.stats.json "$R/dataset.stats.json" 2>/dev/null
wait $P4; tail -1 $W/build4.log
say "models and data ready"; ls -la $W/proxy4 | head -20

run() {  # run GPU_IDS PORT ITEM
  local ids=$1 port=$2 item=$3 left=$((DEADLINE - $(date +%s)))
  if [ $left -lt 100 ]; then say "skip $item: ${left}s left"; return 0; fi
  say "start $item on GPU $ids"
  if [ "$item" = sanity ]; then
    # the rendered 1-GPU command exactly as rendered (no NPROC_PER_NODE), then, if that fails, with NPROC_PER_NODE=1
    python3 bench/run_train_bench.py --plan bench/plans/sanity-1gpu.json --model $W/proxy1 --dataset $W/data.jsonl \
      --workdir $W/runs --results $R --gpu-ids $ids --port $port --sanity --dist rendered --name sanity-rendered-1gpu \
      --timeout $((left - 15)) || {
        left=$((DEADLINE - $(date +%s)))
        [ $left -gt 150 ] && python3 bench/run_train_bench.py --plan bench/plans/sanity-1gpu.json --model $W/proxy1 \
          --dataset $W/data.jsonl --workdir $W/runs --results $R --gpu-ids $ids --port $port --sanity --dist torchrun \
          --name sanity-torchrun-1gpu --timeout $((left - 15)); }
  else
    python3 bench/run_train_bench.py --plan bench/plans/$item.json --model $W/proxy4 --dataset $W/data.jsonl \
      --workdir $W/runs --results $R --gpu-ids $ids --port $port --dist torchrun --max-steps 10 --warmup 2 \
      --timeout $((left - 15))
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
