"""The leaderboard refreshes itself (assets/evaluation.py, LEADERBOARD_AUTOMATION): Dagster's
automation requests it after any evaluation it reads is materialized — by a job or by hand — and
not again until another one is; the sensor that evaluates it runs by default under `dagster dev`."""

from __future__ import annotations

import dagster as dg

from assets.evaluation import eval_asset_key
from pipelines.definitions import defs

LEADERBOARD = dg.AssetKey("leaderboard")


def requested(instance: dg.DagsterInstance, cursor=None) -> tuple[bool, object]:
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                               asset_selection=dg.AssetSelection.assets(LEADERBOARD), cursor=cursor)
    return result.get_num_requested(LEADERBOARD) > 0, result.cursor


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(key))


def test_an_evaluation_materialized_requests_the_leaderboard_once():
    with dg.instance_for_test() as instance:
        asked, cursor = requested(instance)
        assert not asked                                   # nothing evaluated yet
        materialized(instance, eval_asset_key("viss_r1_model", "synthetic"))
        asked, cursor = requested(instance, cursor)
        assert asked
        materialized(instance, LEADERBOARD)
        asked, cursor = requested(instance, cursor)
        assert not asked                                   # up to date: not again
        materialized(instance, eval_asset_key("base_model", "synthetic"))
        asked, _ = requested(instance, cursor)
        assert asked


def test_the_sensor_that_evaluates_it_is_on_by_default():
    sensor = defs.resolve_sensor_def("leaderboard_refresh")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve(defs.resolve_asset_graph()) == {LEADERBOARD}
