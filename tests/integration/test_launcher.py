"""The stage launcher: its command lines, and a failing process becomes a clear Dagster failure."""

import sys

import dagster as dg
import pytest

from assets.launcher import DAGSTER_PRIVATE_API, DAGSTER_VERSION
from assets.references import checkpoint_digest
from assets.launcher import StageLauncher


def test_command_lines_per_launcher():
    assert StageLauncher().command("viss_r1.train.sft", "c.yaml") == [
        sys.executable, "-m", "viss_r1.train.sft", "--config", "c.yaml"]
    accelerate = StageLauncher(launcher="accelerate", launcher_args=["--config_file", "a.yaml"])
    assert accelerate.command("m", "c.yaml")[1:] == ["-m", "accelerate.commands.launch", "--config_file", "a.yaml",
                                                     "-m", "m", "--config", "c.yaml"]
    with pytest.raises(ValueError, match="need launcher .accelerate. or .torchrun."):
        StageLauncher(launcher_args=["--nproc_per_node", "8"]).command("m", "c.yaml")


def test_a_launcher_tool_is_started_so_that_it_dies_with_dagster():
    """accelerate and torchrun go through viss_r1.exec_with_launcher (tests/faults/test_orphan_stage.py
    kills Dagster under one); a python stage asks for it itself."""
    plain = StageLauncher().command("m", "c.yaml")
    assert StageLauncher().dying_with_dagster(plain) == plain
    for tool in ("accelerate", "torchrun"):
        command = StageLauncher(launcher=tool).command("m", "c.yaml")
        assert StageLauncher(launcher=tool).dying_with_dagster(command) == [
            sys.executable, "-m", "viss_r1.exec_with_launcher", *command]


def test_one_stage_can_have_its_own_launcher_arguments():
    launcher = StageLauncher(launcher="accelerate", launcher_args=["--config_file", "zero2.yaml"],
                             stage_launcher_args={"viss_r1.train.grpo": ["--config_file", "zero3.yaml"]})
    assert launcher.command("viss_r1.train.sft", "c.yaml")[3:5] == ["--config_file", "zero2.yaml"]
    assert launcher.command("viss_r1.train.grpo", "c.yaml")[3:5] == ["--config_file", "zero3.yaml"]


def test_a_failing_process_is_a_failure_that_says_how_to_rerun_it(tmp_path):
    bad_config = tmp_path / "sft.yaml"
    bad_config.write_text("model: x\n")  # output_dir, samples and frame_shards missing

    @dg.asset
    def trains(stage_launcher: StageLauncher) -> None:
        stage_launcher.run(dg.AssetExecutionContext.get(), "viss_r1.train.sft", str(bad_config))

    with dg.instance_for_test() as instance:
        result = dg.materialize([trains], resources={"stage_launcher": StageLauncher()}, instance=instance,
                                raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "viss_r1.train.sft failed" in message and f"--config {bad_config}" in message


def test_another_dagster_stops_a_local_launch_naming_the_private_api_it_follows(tmp_path, monkeypatch):
    import viss_r1.pinned_versions

    installed = viss_r1.pinned_versions.installed_version
    monkeypatch.setattr(viss_r1.pinned_versions, "installed_version",
                        lambda distribution: "1.14.0" if distribution == "dagster" else installed(distribution))
    started = tmp_path / "started"

    @dg.asset
    def trains(stage_launcher: StageLauncher) -> None:
        stage_launcher.run(dg.AssetExecutionContext.get(), "viss_r1.train.sft", str(tmp_path / "sft.yaml"))
        started.touch()

    with dg.instance_for_test() as instance:
        result = dg.materialize([trains], resources={"stage_launcher": StageLauncher()}, instance=instance,
                                raise_on_error=False)
    assert not result.success and not started.exists()
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert all(name in message for name in DAGSTER_PRIVATE_API)
    assert f"dagster=={DAGSTER_VERSION}" in message and "dagster 1.14.0 is installed" in message


def test_a_referenced_checkpoint_must_be_pinned_or_a_checkpoint_folder(tmp_path):
    # An unpinned hub id used to share the one key "hub" with every other hub id and revision.
    with pytest.raises(dg.Failure, match="hub id without a revision"):
        checkpoint_digest("Qwen/Qwen2.5-VL-7B-Instruct", None)
    pinned = checkpoint_digest("Qwen/Qwen2.5-VL-7B-Instruct", "cc594898137f460bfe9f0759e9844b3ce807cfb5")
    assert pinned == "hub:Qwen/Qwen2.5-VL-7B-Instruct@cc594898137f460bfe9f0759e9844b3ce807cfb5"
    with pytest.raises(dg.Failure, match="config.json"):
        checkpoint_digest(str(tmp_path), None)
    (tmp_path / "config.json").write_text("{}")
    first = checkpoint_digest(str(tmp_path), None)
    (tmp_path / "config.json").write_text('{"changed": 1}')
    assert checkpoint_digest(str(tmp_path), None) != first