"""vLLM's own defaults the planner's serving estimates rest on (vLLM 0.25.1, the version the serving image pins).

- `gpu_memory_utilization` defaults to 0.92 (vllm/config/cache.py, `CacheConfig`; since v0.21 its CUDA-graph
  memory is profiled inside that share). The spec's default is the same, so the rendered command gives the
  KV cache vLLM's out-of-the-box flags give. Measured (docs/benchmarks.md, "Serving on one H200"): at 0.92
  vLLM reported 744,080 KV-cache tokens on an H200 and 134,896 on an H100-80GB for the full Qwen3-30B-A3B in
  bf16, against 0.90's planned 715,319 and 117,631: the old default of 0.90 held 4 % and 13 % less cache.
"""

GPU_MEMORY_UTILIZATION = 0.92
