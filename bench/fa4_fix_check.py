#!/usr/bin/env python3
"""On a GPU with FA4: is the int cast of builder/templates/context/fa4_max_seqlen.py needed, and does it apply?

1. FA4's varlen forward with max_seqlen as 0-dim tensors (what transformers 5.17/5.19 pass under packing)
   must fail (needed); 2. the same call through the plugin's wrapper must run, and match FA4's dense
   (non-varlen) function row by row (applies); 3. the plugin's own --check, with the installed versions.
Writes one JSON object to the path given (bench/results/fa4-fix-check.json).
"""

import json
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "docker"))
import fa4_max_seqlen  # noqa: E402
from flash_attn.cute import flash_attn_func, flash_attn_varlen_func  # noqa: E402

out = {}
torch.manual_seed(0)
lens = [4610, 3000, 582]  # 4610: the length in the error seen in the first packed run
heads, kv_heads, dim = 32, 4, 128
total = sum(lens)
q = torch.randn(total, heads, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
k = torch.randn(total, kv_heads, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
v = torch.randn(total, kv_heads, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], device="cuda", dtype=torch.int32)
max_t = cu.diff().max()  # exactly what prepare_fa_kwargs_from_position_ids returns: a 0-dim tensor
try:  # forward and backward, as training runs it
    o = flash_attn_varlen_func(
        q,
        k,
        v,
        cu_seqlens_q=cu,
        cu_seqlens_k=cu,
        max_seqlen_q=max_t,
        max_seqlen_k=max_t,
        causal=True,
        softmax_scale=dim**-0.5,
    )
    (o[0] if isinstance(o, tuple) else o).float().sum().backward()
    out["tensor_call"] = "forward and backward ran (the fix is not needed with this FA4)"
    out["needed"] = False
except Exception as exc:  # noqa: BLE001
    out["tensor_call"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    out["needed"] = True
fixed = fa4_max_seqlen.wrap(flash_attn_varlen_func)
res = fixed(
    q.detach(),
    k.detach(),
    v.detach(),
    cu_seqlens_q=cu,
    cu_seqlens_k=cu,
    max_seqlen_q=max_t,
    max_seqlen_k=max_t,
    causal=True,
)
res = res[0] if isinstance(res, tuple) else res
worst = 0.0
for i, _n in enumerate(lens):
    s, e = cu[i].item(), cu[i + 1].item()
    ref = flash_attn_func(q.detach()[None, s:e], k.detach()[None, s:e], v.detach()[None, s:e], causal=True)
    ref = ref[0] if isinstance(ref, tuple) else ref
    worst = max(worst, (res[s:e].float() - ref[0].float()).abs().max().item())
out["wrapped_call_max_abs_diff_vs_dense"] = worst
out["applies"] = worst < 1e-2
check = subprocess.run(
    [sys.executable, str(REPO / "docker" / "fa4_max_seqlen.py"), "--check"], capture_output=True, text=True
)
out["plugin_check"] = (
    json.loads(check.stdout.strip().splitlines()[-1]) if check.returncode == 0 else check.stderr[-500:]
)
out["gpu"] = torch.cuda.get_device_name(0)
Path(sys.argv[1]).write_text(json.dumps(out, indent=1) + "\n")
print(json.dumps(out))
