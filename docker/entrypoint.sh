#!/bin/sh
# ModelForge container entrypoint, shared by both images:
#   modelforge-entrypoint train CMD...   resume CMD (swift sft ...) from the newest complete checkpoint
#   modelforge-entrypoint serve CMD...   serve the newest complete checkpoint, or the base model
# The run config comes from the environment (MF_OUTPUT_DIR, MF_BASE_MODEL, MF_MODEL_SOURCE) and the
# command, both set by compose/ or k8s/; nothing here changes with a hyperparameter.
set -eu

log() { echo "[modelforge] $*" >&2; }

# Complete = ms-swift has written trainer_state.json (rank 0's last write) and, for DeepSpeed
# runs, the 'latest' tag that DeepSpeed writes after every rank's shards are on disk.
is_complete() {
  [ -s "$1/trainer_state.json" ] || return 1
  if ls -d "$1"/global_step* > /dev/null 2>&1; then [ -s "$1/latest" ] || return 1; fi
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

# The data check (builder/data/check.py, stdlib only) on the mounted data, before the GPUs spin up:
# the --dataset values of the training command, local files and hub names. MF_SKIP_DATA_CHECK=1 skips it.
check_data() {
  checker=${MF_DATA_CHECKER:-/usr/local/lib/modelforge/check.py}
  if [ "${MF_SKIP_DATA_CHECK:-0}" = 1 ]; then log "data check skipped (MF_SKIP_DATA_CHECK=1)"; return 0; fi
  if [ ! -f "$checker" ]; then log "no data checker at $checker: data not checked"; return 0; fi
  log "checking the training data (MF_SKIP_DATA_CHECK=1 skips this)"
  python3 "$checker" --from-command -- "$@" >&2 && return 0
  log "the data check failed: fix the data above, or set MF_SKIP_DATA_CHECK=1 to train anyway"
  exit 1
}

mode=${1:-}
[ $# -gt 0 ] && shift
output_dir=${MF_OUTPUT_DIR:?MF_OUTPUT_DIR is not set: run this image through compose/ or k8s/}

case "$mode" in
  train)
    [ $# -gt 0 ] || { log "no training command given"; exit 2; }
    check_data "$@"
    mkdir -p "$output_dir"
    if checkpoint=$(latest_checkpoint "$output_dir"); then
      log "resuming from $checkpoint"
      exec "$@" --resume_from_checkpoint "$checkpoint"
    fi
    log "no complete checkpoint in $output_dir: starting a new run"
    exec "$@"
    ;;
  serve)
    [ $# -gt 0 ] || { log "no server command given"; exit 2; }
    if [ -z "${VLLM_API_KEY:-}" ] && [ "${MF_ALLOW_NO_API_KEY:-0}" != 1 ]; then
      log "VLLM_API_KEY is not set. Set it (compose: in your shell or compose/.env; k8s: the Secret),"
      log "or set MF_ALLOW_NO_API_KEY=1 to serve without authentication."
      exit 2
    fi
    model=${MF_BASE_MODEL:?MF_BASE_MODEL is not set}
    if [ "${MF_MODEL_SOURCE:-latest_checkpoint}" = latest_checkpoint ]; then
      if checkpoint=$(latest_checkpoint "$output_dir") && [ -f "$checkpoint/config.json" ]; then
        model=$checkpoint
      else
        log "no complete checkpoint with weights in $output_dir yet: serving the base model"
      fi
    fi
    log "serving $model"
    if [ "$1" = vllm ] && [ "${2:-}" = serve ]; then
      shift 2
      exec vllm serve "$model" "$@"
    fi
    exec "$@" --model "$model"
    ;;
  *)
    log "usage: modelforge-entrypoint train|serve COMMAND..."
    exit 2
    ;;
esac
