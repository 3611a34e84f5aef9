"""What every renderer shares: the header of each rendered file and the images' entrypoint path."""

from __future__ import annotations

# Where both Dockerfiles put builder/templates/context/entrypoint.sh; compose and k8s call it by this path.
ENTRYPOINT = "/usr/local/bin/modelforge-entrypoint"


def header(spec_file: str) -> str:
    return f"Rendered by ModelForge from {spec_file}; do not edit by hand (make render)."
