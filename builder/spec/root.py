"""The after-training sections (evaluation, the chat page) and the Spec that holds every section."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PrivateAttr, field_validator

from ..errors import nearest_source
from ..fields import Slug
from .base import Strict
from .cluster import K8sSpec
from .images import BuildSpec, ImagesSpec, StackSpec, VolumesSpec
from .job import HardwareSpec, ModelSpec, ServeSpec, TrainSpec


class EvalSpec(Strict):
    """`modelforge eval`: EvalScope scores the served model (builder/templates/context/evaluate.py)."""

    dataset: list[str] = Field(
        default_factory=list,
        description="Your own eval rows: container paths of JSONL/JSON files on the data volume, in any format "
        "`data check` reads; the last assistant turn is the reference answer. Scored with BLEU and ROUGE "
        "(EvalScope general_qa, main score ROUGE-L recall); works offline",
    )
    benchmarks: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(
        default_factory=list,
        description="Named EvalScope benchmarks (gsm8k, mmlu, ifeval, ...): their data comes from ModelScope, "
        "so they need the hub",
    )
    limit: int | None = Field(None, ge=1, description="At most this many rows per dataset (null: all)")
    max_tokens: int = Field(1024, ge=1, description="Longest answer; a thinking model needs room to reason")
    temperature: float = Field(0.0, ge=0, le=2, description="0: greedy, comparable between runs")
    concurrency: int = Field(8, ge=1, le=512, description="Requests in flight")

    @field_validator("dataset")
    @classmethod
    def _local_files(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.startswith("/") or any(c in item for c in "\n\r\x00#"):
                raise ValueError(
                    f"eval.dataset entry {item!r} must be a container path of a file on the data volume, "
                    "like /data/eval.jsonl (hub datasets go in eval.benchmarks by their EvalScope name)"
                )
        return value


class UiSpec(Strict):
    """The chat page (`make ui`, k8s.ui): builder/templates/context/chatui.py."""

    base_api: str | None = Field(
        None,
        pattern=r"^https?://[A-Za-z0-9._:/-]+$",
        description="Compare mode: the OpenAI URL of a server on the base model, as the page's container sees "
        "it (e.g. http://base:8000/v1); its key is MF_UI_BASE_KEY, or the server's key",
    )
    base_model: str | None = Field(None, pattern=r"^[A-Za-z0-9._/:-]+$", description="Its model name")
    max_tokens: int = Field(2048, ge=16, le=1_048_576, description="The page's default max tokens")


class Spec(Strict):
    name: Slug = "qwen3-30b-a3b-sft"
    model: ModelSpec = ModelSpec()
    hardware: HardwareSpec = HardwareSpec()
    train: TrainSpec = TrainSpec()
    serve: ServeSpec = ServeSpec()
    stack: StackSpec = StackSpec()
    images: ImagesSpec = ImagesSpec()
    volumes: VolumesSpec = VolumesSpec()
    build: BuildSpec = BuildSpec()
    k8s: K8sSpec = K8sSpec()
    eval: EvalSpec = EvalSpec()
    ui: UiSpec = UiSpec()
    # Where each dotted key came from ("modelforge.yaml:12", "--set #1 (...)"): set by builder/load.py.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _file: str = PrivateAttr(default="")

    def locate(self, sources: dict[str, str], file: str) -> None:
        self._sources, self._file = dict(sources), file

    def where(self, dotted: str) -> str:
        """'modelforge.yaml:31' for a key (or its section when the default applies); '' when built in code."""
        return nearest_source(dotted, self._sources, self._file)

    def at(self, dotted: str, message: str) -> str:
        """A planner's refusal of this key, prefixed with where the key was written (one line, like SpecError's)."""
        where = self.where(dotted)
        return f"{where}: {message}" if where else message

    def __eq__(self, other: object) -> bool:  # the same values are the same spec, wherever they were written
        return isinstance(other, Spec) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]
