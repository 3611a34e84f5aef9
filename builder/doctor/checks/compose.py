"""The "compose" check: `docker compose` must be Compose v2 (compose/ and make use it); a standalone v2
docker-compose binary only WARNs (link it as a CLI plugin), v1 or none FAILs.
"""

from __future__ import annotations

from ..parse import parse_version
from ..probe import Context, Host
from ..report import FAIL, PASS, WARN, Check


def check_compose(host: Host) -> Check:
    fix = "install Compose v2 (the docker-compose-plugin package), or `make setup` links the venv's as a docker CLI plugin"
    result = host.compose_version()
    if result and result[0] == 0:
        version = parse_version(result[1])
        if version and version[0] >= 2:
            return Check("compose", PASS, f"docker compose {'.'.join(map(str, version))}")
        return Check(
            "compose", FAIL, f"docker compose reports {result[1].strip() or 'no version'}: not Compose v2", fix
        )
    v1 = host.compose_v1_version()
    if v1 and v1[0] == 0:
        version = parse_version(v1[1])
        if version and version[0] >= 2:  # a v2 standalone binary, not a CLI plugin
            return Check(
                "compose",
                WARN,
                f"docker-compose {'.'.join(map(str, version))} (standalone), but `docker compose` fails",
                "link it as a CLI plugin: ln -s $(command -v docker-compose) ~/.docker/cli-plugins/docker-compose",
            )
        return Check(
            "compose",
            FAIL,
            f"only docker-compose {v1[1].strip()} (v1); compose/ and make need `docker compose` v2",
            fix,
        )
    reason = (result[2].strip().splitlines() or ["failed"])[0] if result else "the docker CLI is not installed"
    return Check("compose", FAIL, f"`docker compose` not available: {reason[:200]}", fix)


def v2(ctx: Context) -> list[Check]:
    return [check_compose(ctx.host)]
