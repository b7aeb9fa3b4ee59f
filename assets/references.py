"""Model artifacts that only reference a checkpoint (a hub id or a local folder): the 7B recipe's
base model, and any checkpoint the ``evaluate`` job scores.

A module of its own for the cache key's sake: a reference's code version (``REFERENCE_CODE``)
covers this module and how a checkpoint is identified, nothing else. Under the code version of
the asset that holds it (the tiny model's builder, ``assets.models``), editing the tiny model
re-keyed the 7B base model, and with it retrained every 7B stage after it."""

from __future__ import annotations

import dagster as dg

from assets.caching import Building
from viss_r1.code_versions import code_version
from viss_r1.modeling import checkpoint_identity

REFERENCE_CODE = code_version("assets.references", "viss_r1.modeling.checkpoint_identity")


def checkpoint_digest(model: str, revision: str | None) -> str:
    """The referenced checkpoint's identity for the cache key: a local folder by its weights and
    files, a hub id by its pinned revision; a config that cannot be pinned fails the step."""
    try:
        return checkpoint_identity.checkpoint_digest(model, revision)
    except ValueError as error:
        raise dg.Failure(str(error)) from None


def reference_build(model: str, revision: str | None):
    """The build of a model artifact that only references a checkpoint (hub id or local folder)."""
    def build(building: Building) -> None:
        building.summary.update(reference=model, revision=revision)
    return build
