"""Runs inside the serving image: vLLM's own config validation of tensor-parallel sizes 1-8
for each config.json. Prints JSON {folder: {tp: error text or null}}."""

import json
import sys

from vllm.config import ModelConfig, ParallelConfig

results = {}
for folder in sys.argv[1:]:
    model = ModelConfig(model=folder, skip_tokenizer_init=True, dtype="float32")
    verdicts = {}
    for tp in range(1, 9):
        try:
            model.verify_with_parallel_config(ParallelConfig(tensor_parallel_size=tp))
            verdicts[tp] = None
        except ValueError as exc:
            verdicts[tp] = str(exc)
    results[folder] = verdicts
print("RESULT " + json.dumps(results))
