"""The base of every spec section: unknown keys are errors, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors (with a 'did you mean'), never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)
