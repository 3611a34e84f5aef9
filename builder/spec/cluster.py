"""The cluster: Kubernetes scheduling, NCCL, autoscaling and multi-node settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from ..fields import Slug
from .base import Strict

LabelKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
    ),
]
LabelValue = Annotated[str, StringConstraints(pattern=r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")]


class TolerationSpec(Strict):
    key: LabelKey | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> TolerationSpec:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key needs operator Exists (it then tolerates every taint)")
        return self


class NcclSpec(Strict):
    """NCCL across nodes. The defaults leave NCCL's own detection alone and only make failures readable."""

    socket_ifname: str | None = Field(
        None,
        pattern=r"^[\^=]?[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$",
        description="NCCL_SOCKET_IFNAME (and GLOO_SOCKET_IFNAME), e.g. eth0 or ^lo,docker; default: NCCL picks",
    )
    ib: Literal["auto", "on", "off"] = Field(
        "auto", description="InfiniBand/RoCE: auto = NCCL detects; off sets NCCL_IB_DISABLE=1"
    )
    ib_hca: str | None = Field(
        None, pattern=r"^[\^=]?[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$", description="NCCL_IB_HCA, e.g. mlx5"
    )
    debug: Literal["none", "VERSION", "WARN", "INFO"] = Field("WARN", description="NCCL_DEBUG")


class AutoscalingSpec(Strict):
    enabled: bool = Field(
        False, description="HorizontalPodAutoscaler on vLLM's waiting requests (needs a custom-metrics adapter)"
    )
    min_replicas: int = Field(1, ge=1, le=1000)
    max_replicas: int = Field(4, ge=1, le=1000)
    waiting_requests: int = Field(5, ge=1, description="Target vllm:num_requests_waiting per replica")
    metric: str = Field(
        "vllm_num_requests_waiting",
        pattern=r"^[A-Za-z_][A-Za-z0-9_:]*$",
        description="Metric name as the custom-metrics adapter exposes it",
    )


class K8sSpec(Strict):
    namespace: Slug = "modelforge"
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    secret_name: Slug = "modelforge-secrets"
    image_pull_secret: Slug | None = Field(
        None,
        description="A docker-registry Secret every pod pulls its image with (a private images.registry); "
        "kubectl create secret docker-registry NAME ... makes it",
    )
    startup_timeout_s: int = Field(
        1800, ge=60, description="How long the server may take to load before it is restarted"
    )
    # Across nodes (issue 9): see builder/plan/cluster.py and README 'Kubernetes across nodes'.
    nodes: int = Field(1, ge=1, le=512, description="Training nodes, each with hardware.gpus GPUs")
    training_operator: Literal["auto", "job", "pytorchjob", "jobset", "trainjob"] = Field(
        "auto", description="auto: a Job on one node, Kubeflow PyTorchJob on several"
    )
    trainer_runtime: Slug = Field(
        "torch-distributed", description="TrainJob only: the ClusterTrainingRuntime to run on"
    )
    master_port: int = Field(29500, ge=1024, le=65535, description="torch rendezvous port (PyTorchJob, JobSet)")
    collective_timeout_s: int = Field(
        1800, ge=60, description="Across nodes: ms-swift --ddp_timeout, so survivors of a lost node fail and restart"
    )
    gang_scheduling: Literal["none", "kueue", "volcano"] = "none"
    queue: Slug = Field("default", description="Kueue LocalQueue or Volcano queue")
    serve_replicas: int = Field(1, ge=1, le=1000, description="vLLM instances behind the Service")
    autoscaling: AutoscalingSpec = AutoscalingSpec()
    monitoring: bool = Field(
        False,
        description="Render a PodMonitor (Prometheus Operator) for the server's /metrics and a Grafana "
        "dashboard ConfigMap (label grafana_dashboard: '1') into k8s/serve/",
    )
    ui: bool = Field(
        False,
        description="Render k8s/ui/: the chat page (Deployment + ClusterIP Service on 7860) in front of the "
        "serving Service, key from the Secret",
    )
    tensorboard: bool = Field(
        False,
        description="Render k8s/tensorboard/: TensorBoard (training image) reading the run's logs from the "
        "checkpoint claim read-only, behind a ClusterIP Service on port 6006",
    )
    monitoring_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="More labels on the PodMonitor, for the Prometheus that selects it "
        "(kube-prometheus-stack: release: <its release name>)",
    )
    model_download: bool = Field(True, description="A Job fills the model cache once; pods wait for it")
    model_download_timeout_s: int = Field(21600, ge=60, description="How long pods wait for the model download")
    shared_storage_class: str | None = Field(
        None,
        pattern=r"^[a-z0-9.-]+$",
        description="ReadWriteMany storage class for the volumes pods on several nodes share",
    )
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict, description="For every pod")
    tolerations: list[TolerationSpec] = Field(default_factory=list, description="For every pod")
    extra_resources: dict[LabelKey, int] = Field(
        default_factory=dict, description="More limits for GPU pods, e.g. rdma/ib: 1 for an InfiniBand device plugin"
    )
    nccl: NcclSpec = NcclSpec()

    @model_validator(mode="after")
    def _operator_fits(self) -> K8sSpec:
        if self.training_operator == "job" and self.nodes > 1:
            raise ValueError(
                "training_operator 'job' runs one node; with k8s.nodes > 1 use auto, pytorchjob, jobset or trainjob"
            )
        if self.gang_scheduling == "volcano" and self.nodes > 1 and self.training_operator in ("jobset", "trainjob"):
            raise ValueError(
                f"gang_scheduling 'volcano' is wired for pytorchjob (the training operator's Volcano "
                f"integration) and LeaderWorkerSet; with {self.training_operator} use 'kueue'"
            )
        if (
            self.autoscaling.enabled
            and max(self.autoscaling.min_replicas, self.serve_replicas) > self.autoscaling.max_replicas
        ):
            raise ValueError("autoscaling.max_replicas is below autoscaling.min_replicas or serve_replicas (the floor)")
        return self
