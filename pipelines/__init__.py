"""Dagster code location: ``defs`` is what ``dagster dev`` and ``dagster job execute -m pipelines`` load."""

from pipelines.definitions import defs

__all__ = ["defs"]
