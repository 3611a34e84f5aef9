"""Plan -> files. Each output kind is one module returning {relative path: text};
writing and drift checking happen here, once, for all of them."""

from __future__ import annotations

from pathlib import Path

from ..plan import Plan
from . import chat_page, compose, dockerfiles, evaluation, k8s, merge_job, monitor, scripts


def render_all(plan: Plan, spec_file: str = "modelforge.yaml") -> dict[str, str]:
    files: dict[str, str] = {}
    for module in (dockerfiles, scripts, compose, monitor, evaluation, chat_page, k8s, merge_job):
        files.update(module.render(plan, spec_file))
    return dict(sorted(files.items()))


def write(files: dict[str, str], out_dir: Path) -> list[str]:
    """Write files that changed; returns their paths."""
    changed = []
    for rel, text in files.items():
        path = out_dir / rel
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith(".sh"):
            path.chmod(0o755)
        changed.append(rel)
    return changed


def drift(files: dict[str, str], out_dir: Path) -> list[str]:
    """Paths whose content on disk differs from a fresh render (missing counts as different)."""
    stale = []
    for rel, text in files.items():
        path = out_dir / rel
        if not path.exists() or path.read_text() != text:
            stale.append(rel)
    for folder in {Path(rel).parts[0] for rel in files if len(Path(rel).parts) > 1}:
        for extra in sorted((out_dir / folder).rglob("*.y*ml")):
            rel = str(extra.relative_to(out_dir))
            if rel not in files:
                stale.append(f"{rel} (not rendered any more: delete it)")
    return stale
