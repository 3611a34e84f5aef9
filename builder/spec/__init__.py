"""The spec: what a user writes in modelforge.yaml, as pydantic models.

Everything here is declarative; defaults are the seed guide's job (full-parameter
fine-tune of Qwen3-30B-A3B-Thinking-2507 on 5 GPUs, then vLLM serving).
Fields whose values end up inside a Dockerfile instruction or an image reference
are held to strict patterns, because a newline there would be a new instruction
(the patterns and the other value rules are in fields.py).

One module per group of sections, in the order a spec file lists them: job.py (model, hardware, train,
serve), images.py (stack, images, volumes, build), cluster.py (k8s), root.py (eval, ui and the Spec itself);
base.py holds Strict. Import from here.
"""

from .base import Strict
from .cluster import AutoscalingSpec, K8sSpec, NcclSpec, TolerationSpec
from .images import BuildSpec, ImageSpec, ImagesSpec, StackSpec, VolumeSpec, VolumesSpec
from .job import HardwareSpec, MegatronSpec, ModelSpec, ServeSpec, TrainSpec
from .root import EvalSpec, Spec, UiSpec

__all__ = [
    "AutoscalingSpec",
    "BuildSpec",
    "EvalSpec",
    "HardwareSpec",
    "ImageSpec",
    "ImagesSpec",
    "K8sSpec",
    "MegatronSpec",
    "ModelSpec",
    "NcclSpec",
    "ServeSpec",
    "Spec",
    "StackSpec",
    "Strict",
    "TolerationSpec",
    "TrainSpec",
    "UiSpec",
    "VolumeSpec",
    "VolumesSpec",
]
