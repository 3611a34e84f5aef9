"""Experiment trackers ms-swift 4.6 reports to (`--report_to`, transformers' integrations), what the training
image needs for each, and their credentials. Credentials reach the training container only: from the shell
or compose/.env (compose) or from optional keys of the k8s Secret, never from the spec or a rendered file.
Source: transformers' integration_utils (WandbCallback, MLflowCallback, the swanlab callback ms-swift adds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Tracker:
    package: str | None  # what the training image installs for it (None: already there)
    secrets: tuple[tuple[str, str], ...]  # (environment variable, key in the k8s Secret)


TRACKERS = {
    "tensorboard": Tracker(None, ()),  # stack.train_extras holds tensorboard
    "wandb": Tracker("wandb", (("WANDB_API_KEY", "wandb-api-key"),)),
    # the mlflow client alone: the tracking server runs elsewhere (MLFLOW_TRACKING_URI in train.env)
    "mlflow": Tracker(
        "mlflow-skinny==3.17.2",  # the client, the version of the server builder/render/monitor.py renders
        (
            ("MLFLOW_TRACKING_USERNAME", "mlflow-tracking-username"),
            ("MLFLOW_TRACKING_PASSWORD", "mlflow-tracking-password"),
            ("MLFLOW_TRACKING_TOKEN", "mlflow-tracking-token"),
        ),
    ),
    "swanlab": Tracker("swanlab", (("SWANLAB_API_KEY", "swanlab-api-key"),)),
}


def packages(report_to: Sequence[str]) -> list[str]:
    return [p for name in report_to if (p := TRACKERS[name].package)]


def secrets(report_to: Sequence[str]) -> list[tuple[str, str]]:
    return [pair for name in report_to for pair in TRACKERS[name].secrets]
