"""What a check says and how the doctor prints it: the PASS / WARN / FAIL statuses, the Check record
(name, status, detail, and the one-line fix when not PASS), the text table with its summary line, and
the `--json` document.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS / WARN / FAIL
    detail: str
    fix: str = ""


def render_text(checks: list[Check], title: str) -> str:
    lines = [title]
    width = max(len(c.name) for c in checks) + 2
    for c in checks:
        lines.append(f"{c.status}  {c.name:<{width}}{c.detail}")
        if c.fix and c.status != PASS:
            lines.append(f"{'':6}{'':<{width}}fix: {c.fix}")
    counts = Counter(c.status for c in checks)
    summary = ", ".join(f"{counts[s]} {s}" for s in (FAIL, WARN, PASS) if counts[s])
    verdict = "fix the FAIL lines before `make train`" if counts[FAIL] else "ready"
    lines.append(f"{summary}: {verdict}")
    return "\n".join(lines)


def render_json(checks: list[Check], spec_file: Path) -> str:
    failed = any(c.status == FAIL for c in checks)
    counts = Counter(c.status for c in checks)
    return json.dumps(
        {
            "spec": str(spec_file),
            "ok": not failed,
            "summary": {s: counts[s] for s in (PASS, WARN, FAIL)},
            "checks": [asdict(c) for c in checks],
        },
        indent=2,
        ensure_ascii=False,
    )
