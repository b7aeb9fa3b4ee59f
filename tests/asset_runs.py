"""Assets materialized in-process with the project's own resources (those of the environment the
test set up), and the metadata they reported."""

from __future__ import annotations

import dagster as dg

from pipelines.definitions import resources


def materialize_assets(assets: list, run_config: dict, instance: dg.DagsterInstance,
                       selection: list[str] | None = None) -> dg.ExecuteInJobResult:
    result = dg.materialize(assets, selection=selection, resources=resources(), run_config=run_config,
                            instance=instance)
    assert result.success
    return result


def metadata(result: dg.ExecuteInJobResult, node: str) -> dict:
    """The values of the one materialization ``node`` reported."""
    (event,) = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in event.metadata.items()}
