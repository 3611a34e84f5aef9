"""The build context's static parts: entrypoint and pip wrapper (shell, copied as they are),
an empty extra-CA placeholder and a .dockerignore that keeps the context small."""

from __future__ import annotations

from pathlib import Path

from ..plan import Plan
from .dockerfiles import TEMPLATES

# The data checker runs in the training container too (stdlib only, one file).
DATA_CHECKER = Path(__file__).resolve().parents[1] / "data" / "check.py"

DOCKERIGNORE = """# Rendered by ModelForge. The build context is only what the Dockerfiles COPY.
*
!Dockerfile.*
!docker/
!.build/
"""


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    return {
        "docker/entrypoint.sh": (TEMPLATES / "entrypoint.sh").read_text(),
        "docker/pip-install.sh": (TEMPLATES / "pip-install.sh").read_text(),
        "docker/check.py": DATA_CHECKER.read_text(),
        "docker/requirements-without.py": (TEMPLATES / "requirements-without.py").read_text(),
        "docker/webui.py": (TEMPLATES / "webui.py").read_text(),
        "docker/fa4_max_seqlen.py": (TEMPLATES / "fa4_max_seqlen.py").read_text(),
        # Replaced at build time by build.ca_bundle, when the spec names one.
        "docker/extra-ca.pem": "",
        ".dockerignore": DOCKERIGNORE,
    }
