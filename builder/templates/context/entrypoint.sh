#!/bin/sh
# ModelForge container entrypoint, shared by both images:
#   modelforge-entrypoint train CMD...   resume CMD (swift sft or megatron sft ...) from the newest complete checkpoint
#   modelforge-entrypoint serve CMD...   serve the newest complete checkpoint (its merged model for LoRA), or the base model
#   modelforge-entrypoint merge CMD...   merge the newest complete LoRA checkpoint (CMD: swift export ...) into
#                                        MF_OUTPUT_DIR/merged; full-parameter runs have nothing to merge
# The run config comes from the environment (MF_OUTPUT_DIR, MF_BASE_MODEL, MF_MODEL_SOURCE) and the
# command, both set by compose/ or k8s/; nothing here changes with a hyperparameter.
set -eu

log() { echo "[modelforge] $*" >&2; }

# Complete = trainer_state.json is there and parses (a full disk can cut it short). The Trainer
# writes it last, after DeepSpeed's save_checkpoint, which ends in a barrier across ranks: every
# rank's shards are on disk by then. DeepSpeed's 'latest' tag (written by rank 0) is required too.
is_complete() {
  if [ -e "$1/latest_checkpointed_iteration.txt" ]; then is_complete_megatron "$1"; return; fi
  [ -s "$1/trainer_state.json" ] || return 1
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1/trainer_state.json" 2> /dev/null || return 1
  if ls -d "$1"/global_step* > /dev/null 2>&1; then [ -s "$1/latest" ] || return 1; fi
  return 0
}

# Megatron-SWIFT (megatron sft) writes, per checkpoint-N: the mcore checkpoint iter_<N, 7 digits>/ whose
# metadata.json megatron-core writes only once it is complete, then latest_checkpointed_iteration.txt, then
# the HF copy (mcore-bridge: config.json, safetensors; the shard index last). All of them, or it is not done.
is_complete_megatron() {
  iteration=$(cat "$1/latest_checkpointed_iteration.txt" 2> /dev/null) || return 1
  case "$iteration" in ''|*[!0-9]*) return 1 ;; esac
  [ -s "$1/$(printf 'iter_%07d' "$iteration")/metadata.json" ] || return 1
  [ -s "$1/config.json" ] || return 1
  [ -s "$1/model.safetensors.index.json" ] || [ -s "$1/model.safetensors" ] || return 1
  return 0
}

# ms-swift swaps output_dir/last-checkpoint atomically once all ranks have saved: trust it first.
# Without it (older runs, or a kill between save and swap), walk checkpoint-N from newest down.
latest_checkpoint() {
  root=$1
  if [ -L "$root/last-checkpoint" ] && is_complete "$root/last-checkpoint"; then
    readlink -f "$root/last-checkpoint"
    return 0
  fi
  for step in $(ls -1 "$root" 2> /dev/null | sed -n 's/^checkpoint-\([0-9][0-9]*\)$/\1/p' | sort -rn); do
    if is_complete "$root/checkpoint-$step"; then
      echo "$root/checkpoint-$step"
      return 0
    fi
    log "skipping incomplete checkpoint $root/checkpoint-$step"
  done
  return 1
}

# OUTPUT_DIR/merged is the merged LoRA model (merge mode). It is served when it is complete (config.json;
# it is moved into place only after `swift export` succeeded) and not older than the newest checkpoint:
# made from it (.modelforge-merged-from), or written after it. Without a checkpoint, a merged model counts.
current_merge() {
  merged=$1/merged
  [ -f "$merged/config.json" ] || return 1
  [ -n "$2" ] || { echo "$merged"; return 0; }
  if [ "$(cat "$merged/.modelforge-merged-from" 2> /dev/null)" = "$2" ] || [ "$merged/config.json" -nt "$2/trainer_state.json" ]; then
    echo "$merged"
    return 0
  fi
  log "$merged is older than the newest checkpoint $2: not serving it (merge again)"
  return 1
}

# The module names an adapter trained (adapter_config.json target_modules, last path part each), one line;
# nothing when it names them by a pattern (vLLM then gives every supported layer a LoRA slot).
lora_targets() {
  python3 - "$1/adapter_config.json" << 'EOF'
import json, re, sys
targets = json.load(open(sys.argv[1])).get("target_modules")
if isinstance(targets, list):
    names = sorted({t.rsplit(".", 1)[-1] for t in targets})
    print(" ".join(n for n in names if re.fullmatch(r"[A-Za-z0-9_]+", n)))
EOF
}

# The data check (builder/data/check/, stdlib only) on the mounted data, before the GPUs spin up:
# the --dataset values of the training command, local files and hub names. MF_SKIP_DATA_CHECK=1 skips it.
check_data() {
  checker=${MF_DATA_CHECKER:-/usr/local/lib/modelforge/check}
  if [ "${MF_SKIP_DATA_CHECK:-0}" = 1 ]; then log "data check skipped (MF_SKIP_DATA_CHECK=1)"; return 0; fi
  if [ ! -f "$checker/__main__.py" ]; then log "no data checker at $checker: data not checked"; return 0; fi
  log "checking the training data (MF_SKIP_DATA_CHECK=1 skips this)"
  # a package run with -m (its modules import each other), from its parent folder
  PYTHONPATH="$(dirname "$checker")${PYTHONPATH:+:$PYTHONPATH}" python3 -m "$(basename "$checker")" \
    --from-command -- "$@" >&2 && return 0
  log "the data check failed: fix the data above, or set MF_SKIP_DATA_CHECK=1 to train anyway"
  exit 1
}

# -- the checkpoint volume: writable, and room for a checkpoint -----------------------------------
volume=${MF_CHECKPOINT_VOLUME:-the checkpoint volume}
bytes_free() { df -Pk "$1" | awk 'NR == 2 { printf "%.0f", $4 * 1024 }'; }
checkpoint_bytes() { case "${MF_CHECKPOINT_BYTES:-0}" in ''|*[!0-9]*) echo 0 ;; *) echo "${MF_CHECKPOINT_BYTES:-0}" ;; esac; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.1f GiB", b / 1073741824; else printf "%.1f MiB", b / 1048576 }'; }

# Images run as an unprivileged user; a volume created by an older image (as root) is not theirs.
need_writable() {
  if mkdir -p "$1" 2> /dev/null && [ -w "$1" ] && [ -x "$1" ]; then return 0; fi
  parent=$1
  while [ ! -d "$parent" ]; do parent=$(dirname "$parent"); done
  log "$1 is not writable by this container's user (uid $(id -u)); $parent belongs to uid $(stat -c %u "$parent")."
  log "The $volume was probably made by an older image that ran as root. Hand it over once:"
  log "  docker run --rm --user 0 --entrypoint chown -v VOLUME:/v IMAGE -R $(id -u):$(id -g) /v"
  log "(k8s: the pod's fsGroup does this; a host folder: chown it on the host)"
  exit 1
}

# One checkpoint must fit before a GPU spins up; the run keeps save_total_limit of them and writes
# the next before it deletes the oldest. MF_CHECKPOINT_BYTES is the planner's estimate.
check_space() {
  need=$(checkpoint_bytes)
  [ "$need" -gt 0 ] || return 0
  if [ "${MF_SKIP_SPACE_CHECK:-0}" = 1 ]; then log "free-space check skipped (MF_SKIP_SPACE_CHECK=1)"; return 0; fi
  free=$(bytes_free "$output_dir")
  if [ "$free" -lt "$need" ]; then
    log "the $volume has $(human "$free") free at $output_dir, but one checkpoint of this run takes about $(human "$need"): not starting."
    log "Free space there or grow volumes.checkpoints.size (MF_SKIP_SPACE_CHECK=1 starts anyway)."
    exit 1
  fi
  kept=${MF_CHECKPOINTS_KEPT:-1}
  have=$(ls -1 "$output_dir" | grep -c '^checkpoint-[0-9][0-9]*$' || true)
  [ "$have" -le "$kept" ] || have=$kept
  more=$((kept + 1 - have))
  if [ "$free" -lt $((need * more)) ]; then
    log "warning: the $volume has $(human "$free") free; this run keeps up to $((kept + 1)) checkpoints of about $(human "$need")"
    log "while it saves, so it needs about $(human $((need * more))) free: it will stop at a later checkpoint with a full disk."
  else
    log "the $volume has $(human "$free") free; a checkpoint takes about $(human "$need")"
  fi
}

# Runs training as a child, not exec'd, to say why it stopped when the volume filled up. Signals are
# passed on, so `docker stop` and pod deletion still stop training cleanly.
run_training() {
  "$@" &
  child=$!
  signalled=0
  trap 'signalled=1; kill -TERM "$child" 2> /dev/null || true' TERM INT
  status=0
  wait "$child" || status=$?
  # A signal ends `wait` early (status 128+N); the shell keeps the child's own status until it is waited for.
  while [ "$signalled" = 1 ]; do
    signalled=0
    status=0
    wait "$child" || status=$?
  done
  trap - TERM INT
  [ "$status" -ne 0 ] || exit 0
  need=$(checkpoint_bytes)
  full=268435456  # "full": less free than one checkpoint, or than 256 MiB when checkpoints are larger
  [ "$need" -eq 0 ] || [ "$need" -ge "$full" ] || full=$need
  free=$(bytes_free "$output_dir")
  if [ "$free" -lt "$full" ]; then
    log "training stopped (exit $status) with the $volume full: $(human "$free") free at $output_dir,"
    log "and a checkpoint of this run takes about $(human "$need")."
    if checkpoint=$(latest_checkpoint "$output_dir"); then
      log "The newest complete checkpoint is $checkpoint; one left half-written after it is skipped."
    fi
    log "Free space there, grow volumes.checkpoints.size or lower train.save_total_limit, then start"
    log "training again: it resumes from the newest complete checkpoint."
  fi
  exit "$status"
}

mode=${1:-}
[ $# -gt 0 ] && shift
output_dir=${MF_OUTPUT_DIR:?MF_OUTPUT_DIR is not set: run this image through compose/ or k8s/}

case "$mode" in
  train)
    [ $# -gt 0 ] || { log "no training command given"; exit 2; }
    check_data "$@"
    need_writable "$output_dir"
    check_space
    if checkpoint=$(latest_checkpoint "$output_dir"); then
      log "resuming from $checkpoint"
      if [ "$1" = megatron ]; then
        # Megatron-SWIFT resumes from the mcore checkpoint (weights, optimizer, iteration, data position);
        # --model stays the base: mcore-bridge reads its config. --finetune false keeps the iteration.
        run_training "$@" --mcore_model "$checkpoint" --finetune false
      fi
      if [ -f "$checkpoint/config.json" ] && ls "$checkpoint"/*.safetensors > /dev/null 2>&1; then
        # Full-parameter checkpoint: load its weights as the model too. transformers 5 holds MoE experts
        # fused in memory but saves them per expert, and the resume path (load_state_dict, strict=False)
        # silently leaves them at the base model's values.
        set -- "$@" --model "$checkpoint"
      fi
      run_training "$@" --resume_from_checkpoint "$checkpoint"
    fi
    log "no complete checkpoint in $output_dir: starting a new run"
    run_training "$@"
    ;;
  serve)
    [ $# -gt 0 ] || { log "no server command given"; exit 2; }
    if [ -z "${VLLM_API_KEY:-}" ] && [ "${MF_ALLOW_NO_API_KEY:-0}" != 1 ]; then
      log "VLLM_API_KEY is not set. Set it (compose: in your shell or compose/.env; k8s: the Secret),"
      log "or set MF_ALLOW_NO_API_KEY=1 to serve without authentication."
      exit 2
    fi
    model=${MF_BASE_MODEL:?MF_BASE_MODEL is not set}
    lora=${MF_LORA_NAME:-}  # serve.lora: adapter: the adapter's name; the base is rendered as MF_LORA_BASE_NAME
    base_name=${MF_LORA_BASE_NAME:-}
    adapter=
    if [ "${MF_MODEL_SOURCE:-latest_checkpoint}" = latest_checkpoint ]; then
      checkpoint=$(latest_checkpoint "$output_dir") || checkpoint=
      if [ -n "$lora" ] && [ -n "$checkpoint" ] && [ -f "$checkpoint/adapter_config.json" ]; then
        adapter=$checkpoint
      elif merged=$(current_merge "$output_dir" "$checkpoint"); then
        model=$merged
      elif [ -n "$checkpoint" ] && [ -f "$checkpoint/config.json" ]; then
        model=$checkpoint
      elif [ -n "$checkpoint" ] && [ -f "$checkpoint/adapter_config.json" ]; then
        log "the newest checkpoint $checkpoint is a LoRA adapter without a merged model: serving the base model"
        log "(merge it first: make merge, or docker compose --profile merge run --rm merge)"
      else
        log "no complete checkpoint with weights in $output_dir yet: serving the base model"
      fi
    fi
    if [ -n "$adapter" ]; then
      log "serving the base model $model as $base_name and the LoRA adapter $adapter as $lora"
      set -- "$@" --lora-modules "$lora=$adapter"
      # only the layers the adapter trained get LoRA slots (vllm --lora-target-modules)
      targets=$(lora_targets "$adapter")
      [ -z "$targets" ] || set -- "$@" --lora-target-modules $targets
    else
      log "serving $model"
      if [ -n "$lora" ]; then
        log "no LoRA adapter to serve yet: $lora names the base model too, until a checkpoint exists"
        set -- "$@" --served-model-name "$lora" "$base_name"
      fi
    fi
    if [ "$1" = vllm ] && [ "${2:-}" = serve ]; then
      shift 2
      exec vllm serve "$model" "$@"
    fi
    exec "$@" --model "$model"
    ;;
  merge)
    [ $# -gt 0 ] || { log "no merge command given"; exit 2; }
    if ! checkpoint=$(latest_checkpoint "$output_dir"); then
      log "no complete checkpoint in $output_dir: nothing to merge (train first)"
      exit 1
    fi
    if [ ! -f "$checkpoint/adapter_config.json" ]; then
      log "$checkpoint holds full weights (not a LoRA adapter): nothing to merge; serving uses it as it is"
      exit 0
    fi
    merged=$output_dir/merged
    need_writable "$output_dir"
    if [ -f "$merged/config.json" ] && [ "$(cat "$merged/.modelforge-merged-from" 2> /dev/null)" = "$checkpoint" ] \
        && [ "${MF_FORCE_MERGE:-0}" != 1 ]; then
      log "$merged already holds $checkpoint merged: nothing to do (MF_FORCE_MERGE=1 merges again)"
      exit 0
    fi
    partial=$output_dir/merged.partial
    rm -rf "$partial" "$output_dir/merged.old"
    log "merging the LoRA adapter $checkpoint into $merged"
    "$@" --adapters "$checkpoint" --output_dir "$partial"
    [ -f "$partial/config.json" ] || { log "the merge wrote no config.json into $partial"; exit 1; }
    echo "$checkpoint" > "$partial/.modelforge-merged-from"
    # Moved into place only when complete: a server never sees half a merged model.
    if [ -d "$merged" ]; then mv "$merged" "$output_dir/merged.old"; fi
    mv "$partial" "$merged"
    rm -rf "$output_dir/merged.old"
    log "merged model in $merged (restart the server to serve it)"
    ;;
  *)
    log "usage: modelforge-entrypoint train|serve|merge COMMAND..."
    exit 2
    ;;
esac
