"""k8s.monitoring: what a cluster's Prometheus Operator and Grafana pick up for the vLLM server.

- A PodMonitor (monitoring.coreos.com/v1) for the serving pods' `http` port, /metrics (no API key needed).
  A Prometheus selects PodMonitors by label: kube-prometheus-stack's default wants `release: <its release>`,
  which k8s.monitoring_labels adds.
- The Grafana dashboard (builder/render/monitor.py) in a ConfigMap labelled `grafana_dashboard: "1"`, the
  label Grafana's dashboard sidecar (kube-prometheus-stack, the Grafana chart) watches by default.
"""

from __future__ import annotations

import json
from typing import Any

from ...plan import Plan
from .. import monitor
from .common import meta
from .serve import selector

DASHBOARD_LABEL = {"grafana_dashboard": "1"}
SCRAPE_INTERVAL = "15s"


def pod_monitor(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    metadata = meta(spec, f"{spec.name}-serve", "serve")
    metadata["labels"].update(spec.k8s.monitoring_labels)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": selector(plan)},
            # only pods with the named port: across nodes, the LeaderWorkerSet leaders (the API servers)
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": SCRAPE_INTERVAL}],
        },
    }


def dashboard_config_map(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    metadata = meta(spec, f"{spec.name}-grafana-dashboard", "serve")
    metadata["labels"].update(DASHBOARD_LABEL)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {f"{spec.name}-vllm.json": json.dumps(monitor.dashboard(spec), indent=1)},
    }
