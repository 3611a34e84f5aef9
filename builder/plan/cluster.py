"""Across nodes (k8s.nodes): which engine trains, what it is told, and how serving spreads.

Training on one node is a plain Job. On several, an operator the cluster already runs starts one
pod per node and tells it who it is; ms-swift (4.6.0, swift/cli/main.py) launches torchrun when
NNODES or NPROC_PER_NODE is set and passes --nnodes/--node_rank/--master_addr/--master_port only
for those of NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT that are set; torchrun reads the rest
from PET_* variables. Who sets what (read in each engine's source):

| engine                   | NODE_RANK                               | MASTER_ADDR / MASTER_PORT                      |
|--------------------------|-----------------------------------------|------------------------------------------------|
| Kubeflow PyTorchJob (v1) | PET_NODE_RANK (master 0, worker i -> i+1) | MASTER_ADDR=<job>-master-0, MASTER_PORT=(port) |
| Kubeflow TrainJob (v2)   | PET_NODE_RANK (Indexed Job index)       | PET_MASTER_ADDR=<job>-node-0-0.<job>, :29500   |
| JobSet                   | rendered: job-completion-index          | <jobset>-node-0-0.<jobset> (DNS), master_port  |

The planner also checks the layout across nodes: training memory with GPUs per node x nodes
(DeepSpeed shards over all of them; host memory stays per node), and a vLLM instance that fits no
single node spans nodes with tensor parallel inside a node and pipeline parallel across them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..facts.models import ModelFacts
from ..spec import Spec
from . import parallel

DEFAULT_OPERATOR = "pytorchjob"
TRAINJOB_MASTER_PORT = 29500  # kubeflow/trainer pkg/constants ContainerTrainerPort
VLLM_MASTER_PORT = 29501  # vLLM's ParallelConfig.master_port default


@dataclass(frozen=True)
class ClusterPlan:
    nodes: int  # training nodes
    operator: str  # job | pytorchjob | jobset | trainjob
    operator_reason: str
    nproc_per_node: int
    train_env: dict[str, str]  # on top of the plan's training env, on k8s only
    train_args: list[str]  # appended to the training argv on k8s only
    serve_nodes: int  # nodes one vLLM instance spans: 1 = Deployment, more = LeaderWorkerSet
    serve_replicas: int
    serve_env: dict[str, str]  # on top of the plan's serving env, on k8s only
    shared_volumes: bool  # pods on several nodes share the PVCs (ReadWriteMany)
    notes: list[str] = field(default_factory=list)

    @property
    def layout(self) -> str:
        return "multi-node" if self.shared_volumes else "single-node"

    def serve_node_args(self, rank: str, leader_address: str) -> list[str]:
        """vLLM's multiprocessing multi-node flags for one node of an instance (rank '0' is the API server)."""
        if self.serve_nodes <= 1:
            return []
        args = [
            "--nnodes",
            str(self.serve_nodes),
            "--node-rank",
            rank,
            "--master-addr",
            leader_address,
            "--master-port",
            str(VLLM_MASTER_PORT),
        ]
        return args if rank == "0" else [*args, "--headless"]


def nccl_env(spec: Spec) -> dict[str, str]:
    nccl = spec.k8s.nccl
    env: dict[str, str] = {}
    if nccl.debug != "none":
        env["NCCL_DEBUG"] = nccl.debug
    if nccl.socket_ifname:
        env["NCCL_SOCKET_IFNAME"] = nccl.socket_ifname
        if not nccl.socket_ifname.startswith("^"):  # gloo (torch's CPU groups) takes names, not exclusions
            env["GLOO_SOCKET_IFNAME"] = nccl.socket_ifname.lstrip("=")
    if nccl.ib == "off":
        env["NCCL_IB_DISABLE"] = "1"
    elif nccl.ib == "on":
        env["NCCL_IB_DISABLE"] = "0"
    if nccl.ib_hca:
        env["NCCL_IB_HCA"] = nccl.ib_hca
    return env


def operator(spec: Spec) -> tuple[str, str]:
    k = spec.k8s
    if k.training_operator != "auto":
        return k.training_operator, "set in the spec"
    if k.nodes == 1:
        return "job", "one node: a plain Job"
    return DEFAULT_OPERATOR, (
        "the most widely deployed multi-node training operator (Kubeflow Training Operator); "
        "k8s.training_operator picks jobset or trainjob instead"
    )


def plan_cluster(
    spec: Spec, layout: parallel.Layout, warnings: list[str], errors: list[str], train_gpus: int | None = None
) -> ClusterPlan:
    """`train_gpus`: the processes per node training runs when not every GPU (a Megatron layout on fewer)."""
    k = spec.k8s
    engine, reason = operator(spec)
    nproc = train_gpus or max(spec.hardware.gpus, 1)
    train_env: dict[str, str] = {}
    train_args: list[str] = []
    if k.nodes > 1:
        # NNODES makes ms-swift start torchrun; NPROC_PER_NODE is torchrun's process count per node.
        train_env.update(NNODES=str(k.nodes), NPROC_PER_NODE=str(nproc))
        if engine == "jobset":
            train_env["MASTER_PORT"] = str(k.master_port)
        if spec.hardware.gpus == 0:
            # transformers/accelerate treat a CPU run as distributed (gloo DDP) only when told it is a CPU run;
            # without it every node trains alone on an initialised but unused process group.
            train_env["ACCELERATE_USE_CPU"] = "true"
        train_env.update(nccl_env(spec))
        # ms-swift's default ddp_timeout is 18000000 s: survivors of a lost node would wait on it for months.
        if "ddp_timeout" not in spec.train.extra_args:
            train_args = ["--ddp_timeout", str(k.collective_timeout_s)]
        warnings.append(
            f"k8s.nodes={k.nodes}: the training plan (DeepSpeed stage, memory) is for {k.nodes} nodes; "
            "compose/ runs one node and is not checked for it"
        )
    gpus = spec.hardware.gpus
    group = layout.tp * layout.pp * layout.dp
    serve_nodes = -(-group // gpus) if gpus and group > gpus else 1
    if serve_nodes > k.nodes:
        errors.append(
            spec.at(
                "serve.tensor_parallel",
                f"one vLLM instance (tp={layout.tp} x pp={layout.pp} x dp={layout.dp} = {group} GPUs) spans "
                f"{serve_nodes} nodes of {gpus} GPUs but k8s.nodes is {k.nodes}",
            )
        )
    elif serve_nodes > 1 and group % gpus:
        errors.append(
            spec.at(
                "serve.tensor_parallel",
                f"a vLLM instance across nodes needs tp*pp*dp ({group}) to be a multiple of the GPUs per node ({gpus})",
            )
        )
    replicas = k.serve_replicas
    if k.autoscaling.enabled:
        replicas = max(replicas, k.autoscaling.min_replicas)
    scales = k.autoscaling.enabled and k.autoscaling.max_replicas > 1
    shared = k.nodes > 1 or serve_nodes > 1 or replicas > 1 or scales
    serve_env = nccl_env(spec) if serve_nodes > 1 else {}
    notes = []
    if shared:
        notes.append(
            "pods on several nodes share the model cache, data and checkpoint volumes: ReadWriteMany"
            + (
                f" (storage class {k.shared_storage_class})"
                if k.shared_storage_class
                else " (set k8s.shared_storage_class to a class that offers it)"
            )
        )
    return ClusterPlan(
        k.nodes,
        engine,
        reason,
        nproc,
        dict(sorted(train_env.items())),
        train_args,
        serve_nodes,
        replicas,
        dict(sorted(serve_env.items())),
        shared,
        notes,
    )


def multi_node_layout(spec: Spec, m: ModelFacts, gpu_gib: float, errors: list[str]) -> parallel.Layout | None:
    """A vLLM layout whose instance spans nodes, or None when one node holds an instance (replicas then)."""
    s = spec.serve
    gpus, nodes = spec.hardware.gpus, spec.k8s.nodes
    bytes_per_param, kv = parallel.serve_bytes(m, s.dtype, s.kv_cache_dtype, s.quantization)
    all_auto = (
        s.tensor_parallel == "auto"
        and s.data_parallel == "auto"
        and s.pipeline_parallel == 1
        and s.expert_parallel == "auto"
    )
    if all_auto:
        one = parallel.choose(m, gpus, gpu_gib, s.gpu_memory_utilization, s.max_model_len, bytes_per_param, kv)
        if one.pp == 1 and one.kv_cache_tokens >= s.max_model_len:
            return None
        # Tensor parallel inside a node (NVLink), pipeline parallel across nodes: the fewest nodes that hold it.
        ep = m.is_moe
        tps = parallel.valid_tps(m, gpus, ep)
        tp = tps[-1]
        for n in range(2, nodes + 1):
            layout = parallel.evaluate(m, tp, n, 1, ep, gpu_gib, s.gpu_memory_utilization, bytes_per_param, "", kv)
            if layout.kv_cache_tokens >= s.max_model_len:
                idle = f"; {gpus - tp} GPU(s) per node idle: no valid tp uses them" if gpus > tp else ""
                return parallel.Layout(
                    tp,
                    n,
                    1,
                    ep,
                    layout.weights_gib_per_gpu,
                    layout.kv_cache_tokens,
                    f"no single node of {gpus} GPUs holds the model: tp={tp} inside a node, "
                    f"pp={n} across {n} nodes{idle}",
                )
        layout = parallel.evaluate(m, tp, nodes, 1, ep, gpu_gib, s.gpu_memory_utilization, bytes_per_param, "", kv)
        errors.append(
            spec.at(
                "k8s.nodes",
                f"serving does not fit even across all {nodes} nodes (tp={tp}, pp={nodes}): "
                f"{layout.weights_gib_per_gpu:.1f} GiB of weights per GPU leave KV cache for "
                f"{layout.kv_cache_tokens} tokens < serve.max_model_len {s.max_model_len}",
            )
        )
        return parallel.Layout(tp, nodes, 1, ep, layout.weights_gib_per_gpu, layout.kv_cache_tokens, "does not fit")
    tp = s.tensor_parallel if s.tensor_parallel != "auto" else 1
    pp = s.pipeline_parallel
    if tp * pp <= gpus:
        return None  # one node holds an instance: the single-node rules apply
    dp = s.data_parallel if s.data_parallel != "auto" else 1
    ep = s.expert_parallel if s.expert_parallel != "auto" else m.is_moe
    problems = parallel.layout_problems(m, tp, pp, ep)
    if dp != 1:
        problems.append("an instance across nodes runs data_parallel=1; more instances come from k8s.serve_replicas")
    if tp * pp % gpus:
        problems.append(f"tp*pp = {tp * pp} is not a multiple of hardware.gpus ({gpus}), the GPUs per node")
    elif tp * pp // gpus > nodes:
        problems.append(f"tp*pp = {tp * pp} GPUs need {tp * pp // gpus} nodes but k8s.nodes is {nodes}")
    if problems:
        errors.append(
            spec.at(
                "serve.tensor_parallel",
                f"serve layout tp={tp} pp={pp} across nodes cannot start: " + "; ".join(problems),
            )
        )
    layout = parallel.evaluate(
        m,
        tp,
        pp,
        1,
        ep,
        gpu_gib,
        s.gpu_memory_utilization,
        bytes_per_param,
        f"set in the spec: {tp * pp // max(gpus, 1)} nodes of {gpus} GPUs",
        kv,
    )
    short = parallel.kv_too_small(layout, s.max_model_len)
    if not problems and short:
        errors.append(spec.at("serve.max_model_len", short))
    return layout
