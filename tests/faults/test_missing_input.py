"""An input artifact deleted or damaged after it was published (a disk cleanup, a copy cut short)
fails the stage that must read it with what to do — never a FileNotFoundError deep in a build, never
a build on what is left of it. Training runs through test_publish's stand-in launcher, so the test
costs the small data plane."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from faults.test_publish import ASSETS, TRAINING, launches, run_config  # noqa: F401  (launches: a fixture)

from assets.caching import input_summary
from pipelines.definitions import resources
from viss_r1.artifacts import ArtifactStore


def materialize(selection: list[str], instance) -> dg.ExecuteInJobResult:
    return dg.materialize(ASSETS, selection=selection, resources=resources(), run_config=run_config(selection),
                          instance=instance, raise_on_error=False)


def failure_message(result: dg.ExecuteInJobResult, step: str) -> str:
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key == step
    return failure.step_failure_data.error.message


@pytest.mark.parametrize("harm", ["deleted", "damaged"])
def test_a_stage_whose_input_artifact_was_harmed_fails_saying_which_and_what_to_do(
        isolated_state, launches, harm):  # noqa: F811
    with dg.instance_for_test() as instance:
        assert materialize(TRAINING, instance).success
        warmed = next((isolated_state / "artifacts" / "instruct_model").iterdir())
        if harm == "deleted":
            shutil.rmtree(warmed)
        else:
            (warmed / "model" / "model.safetensors").write_bytes(b"cut")
        shutil.rmtree(isolated_state / "artifacts" / "sft_model")   # so the SFT must build again
        launched = len(launches)

        # The SFT alone: its input is the warm-up's artifact of the earlier run.
        result = materialize(["sft_model"], instance)
        assert not result.success
        message = failure_message(result, "sft_model")
        assert f"artifact instruct_model/{warmed.name}" in message
        assert ("is not in the store" if harm == "deleted" else "is damaged") in message
        assert "Materialize instruct_model again" in message
        assert len(launches) == launched   # nothing trained on what was left

        # Doing what it says: the warm-up is rebuilt under the same key, then the SFT trains.
        assert materialize(["instruct_model", "sft_model"], instance).success
        assert (warmed / "manifest.json").is_file()


def test_reading_the_summary_of_a_missing_input_fails_the_step_saying_so(tmp_path):
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(dg.Failure, match=r"artifact sft_model/abc is not in the store .*Materialize sft_model again"):
        input_summary(store, store.ref("sft_model", "abc"))
