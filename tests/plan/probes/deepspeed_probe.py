"""Runs inside the training image: parameter counts from a meta-device model built from each
config.json, and DeepSpeed's own model-state estimates for them. Prints JSON."""

import json
import sys

import torch
from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
from transformers import AutoConfig, AutoModelForCausalLM

results = {}
for folder in sys.argv[1:]:
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
    total = sum(p.numel() for p in model.parameters())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    out = {"total": total, "largest": largest}
    for gpus in (1, 5, 8):  # each estimator returns (host bytes, GPU bytes, ...): keep [GPU, host]
        z3 = dict(num_gpus_per_node=gpus, zero_init=True)
        out[f"zero3/{gpus}"] = [
            *estimate_zero3_model_states_mem_needs(total, largest, cpu_offload=False, cpu_offload_params=False, **z3)[
                1::-1
            ]
        ]
        out[f"zero3_offload/{gpus}"] = [
            *estimate_zero3_model_states_mem_needs(total, largest, cpu_offload=True, cpu_offload_params=True, **z3)[
                1::-1
            ]
        ]
        out[f"zero2/{gpus}"] = [
            *estimate_zero2_model_states_mem_needs(total, num_gpus_per_node=gpus, cpu_offload=False)[1::-1]
        ]
        out[f"zero2_offload/{gpus}"] = [
            *estimate_zero2_model_states_mem_needs(total, num_gpus_per_node=gpus, cpu_offload=True)[1::-1]
        ]
    results[folder] = out
print("RESULT " + json.dumps(results))
