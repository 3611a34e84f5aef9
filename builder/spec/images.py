"""What the images are built from: the software stack, image names, volumes and build settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from ..fields import BaseImageRef, ContainerPath, ImageRef, PackageSpec, Quantity, Url, Version
from .base import Strict


class StackSpec(Strict):
    """Pinned software; each version is proven somewhere (see docs/versions.md)."""

    torch: PackageSpec = "torch==2.11.0"
    torch_index_url: Url | None = "https://download.pytorch.org/whl/cu130"
    ms_swift: PackageSpec = "ms-swift==4.6.0"
    deepspeed: PackageSpec | None = "deepspeed==0.19.8"
    vllm: PackageSpec = "vllm==0.25.1"
    # The version every GPU measurement in docs/benchmarks.md ran with (and the FA4 fix is verified for).
    transformers: PackageSpec | None = "transformers==5.17.0"
    # FlashAttention-4 (CuTe DSL, pure Python wheels, JIT-compiled at first use): what makes packing possible.
    # Empty: no flash attention in the image; the planner then picks sdpa without packing.
    flash_attn: list[PackageSpec] = Field(
        default_factory=lambda: ["flash-attn-4[cu13]==4.0.0b36", "nvidia-cutlass-dsl==4.8.1", "quack-kernels==0.6.5"]
    )
    train_extras: list[PackageSpec] = Field(default_factory=lambda: ["tensorboard"])
    # Megatron-SWIFT (train.backend: megatron) in the training image: its own layer. TransformerEngine's PyTorch
    # part has no wheel and compiles against the torch above (nvcc from the -devel base). Empty: no Megatron.
    megatron: list[PackageSpec] = Field(
        default_factory=list,
        description="e.g. [megatron-core==0.19.2, mcore-bridge==1.6.5, transformer-engine[pytorch]==2.20.2]",
    )
    # modelscope: vLLM downloads the base model through it (VLLM_USE_MODELSCOPE) before a checkpoint exists.
    serve_extras: list[PackageSpec] = Field(default_factory=lambda: ["openai", "modelscope"])
    exclude_packages: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]] = Field(
        default_factory=list,
        description="Declared needs left out of the images (e.g. torchvision beside a CPU torch build)",
    )


class ImageSpec(Strict):
    name: ImageRef
    tag: Version = "latest"
    base: BaseImageRef = Field(description="Base image: name:tag, or name:tag@sha256:<digest> to pin it")


class ImagesSpec(Strict):
    registry: str = Field("", pattern=r"^([a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*)?$")
    train: ImageSpec = ImageSpec(
        name="modelforge/train", tag="cu130-swift4.6.0", base="nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04"
    )
    serve: ImageSpec = ImageSpec(
        name="modelforge/serve", tag="cu130-vllm0.25.1", base="nvidia/cuda:13.0.1-base-ubuntu24.04"
    )


class VolumeSpec(Strict):
    mount: ContainerPath
    size: Quantity = "100Gi"
    host_path: str | None = Field(
        None,
        description="Bind-mount this host folder (relative to compose/) instead of a named volume",
        pattern=r"^[^\x00\n\r$]+$",
    )
    storage_class: str | None = Field(None, pattern=r"^[a-z0-9.-]+$")


class VolumesSpec(Strict):
    model_cache: VolumeSpec = VolumeSpec(mount="/models", size="300Gi")
    data: VolumeSpec = VolumeSpec(mount="/data", size="20Gi", host_path="../data")
    checkpoints: VolumeSpec = VolumeSpec(mount="/checkpoints", size="1500Gi")


class BuildSpec(Strict):
    """Build-time network settings: corporate proxies and air-gapped mirrors."""

    pip_index_url: Url | None = None
    pip_extra_index_urls: list[Url] = Field(default_factory=list)
    pip_find_links: list[str] = Field(
        default_factory=list,
        description="Wheelhouse folders inside the build context (relative paths) or URLs",
        max_length=16,
    )
    ca_bundle: str | None = Field(
        None, description="Extra CA bundle (PEM) copied into the build context and trusted by pip"
    )

    @field_validator("pip_find_links")
    @classmethod
    def _safe_links(cls, value: list[str]) -> list[str]:
        for link in value:
            if not link or any(c in link for c in " \t\n\r\"'`$\\"):
                raise ValueError(f"find-links entry {link!r} must be a plain path or URL without spaces or quotes")
        return value
