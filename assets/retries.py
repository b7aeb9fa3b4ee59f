"""Dagster's own retries for the stages that run for hours: training and evaluation.

Both resume — a training from the last checkpoint in its work folder, an evaluation after its
finished samples (DESIGN.md, durability) — so a retry continues where the failed attempt stopped
instead of starting over. The policy is set for the Definitions from the environment
(``VISS_R1_STAGE_RETRIES``, ``VISS_R1_STAGE_RETRY_DELAY_S``) and can be switched off for one run
with Dagster's executor config: ``execution: {config: {retries: {disabled: {}}}}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

RETRIES_VARIABLE, DELAY_VARIABLE = "VISS_R1_STAGE_RETRIES", "VISS_R1_STAGE_RETRY_DELAY_S"


class StageRetries(BaseModel):
    """How often a failed training or evaluation step is tried again, and how long Dagster waits:
    ``delay_s`` before the first retry, doubling before each next one (exponential backoff)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_retries: int = Field(2, ge=0)
    delay_s: float = Field(30.0, ge=0)

    def policy(self) -> dg.RetryPolicy | None:
        if self.max_retries == 0:
            return None
        return dg.RetryPolicy(max_retries=self.max_retries, delay=self.delay_s, backoff=dg.Backoff.EXPONENTIAL)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> StageRetries:
        """The defaults, with ``VISS_R1_STAGE_RETRIES`` and ``VISS_R1_STAGE_RETRY_DELAY_S`` where set."""
        given = {field: environ[name] for field, name in (("max_retries", RETRIES_VARIABLE),
                                                         ("delay_s", DELAY_VARIABLE)) if environ.get(name)}
        try:
            return cls(**given)
        except ValidationError as error:
            raise ValueError(f"stage retries from the environment ({RETRIES_VARIABLE}: a count ≥ 0, "
                             f"{DELAY_VARIABLE}: seconds ≥ 0): {error}") from None
