"""What every renderer shares: the header of each rendered file, the images' entrypoint path, and the build
args that follow from the spec alone."""

from __future__ import annotations

from ..spec import Spec

# Where both Dockerfiles put builder/templates/context/entrypoint.sh; compose and k8s call it by this path.
ENTRYPOINT = "/usr/local/bin/modelforge-entrypoint"


def header(spec_file: str) -> str:
    return f"Rendered by ModelForge from {spec_file}; do not edit by hand (make render)."


def pip_build_args(spec: Spec) -> dict[str, str]:
    """The build args of the spec's package sources that need no staging (a mirror, extra indexes, URL
    wheelhouses): `modelforge build` and compose's build: sections pass the same, so they share layers."""
    b = spec.build
    args = {"PIP_FIND_LINKS": " ".join(["/tmp/wheelhouse", *(e for e in b.pip_find_links if "://" in e)])}
    if b.pip_index_url:
        args["PIP_INDEX_URL"] = b.pip_index_url
    if b.pip_extra_index_urls:
        args["PIP_EXTRA_INDEX_URL"] = " ".join(b.pip_extra_index_urls)
    return args


def in_registry(spec: Spec, name: str, tag: str) -> str:
    """An image reference with images.registry in front (every rendered image reference goes through here)."""
    prefix = f"{spec.images.registry}/" if spec.images.registry else ""
    return f"{prefix}{name}:{tag}"


def registry_host(registry: str) -> str:
    """'registry.example.com:5000/team' -> 'registry.example.com:5000' (what docker login takes)."""
    return registry.split("/", 1)[0]
