"""benchmarks/compare_arms.py: the run configs it gives each job (a seed in every training stage,
nothing else changed; T-GRPO only in its own row), and — slow, what CI runs — the tiny comparison
of every arm with one seed into a fresh state folder (table, MLflow run, Dagster materialization),
then with two seeds, which trains only the new seed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.comparison import ARM_COMPARISON
from pipelines.definitions import definitions
from pipelines.smoke import SMOKE_STEPS, smoke_run_config
from viss_r1.evaluate.comparison import compared_stages
from viss_r1.stages import ARMS, BASE_MODEL, PRETEXT_GRPO_ARM, STAGES, VIDEO_R1_BASELINE_ARM

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "compare_arms.py"
# What the issue asks the table for (the condition names are the evaluation's).
METRICS = ("clean_accuracy", "blind_accuracy", "visual_reliance", "transformed_accuracy", "pretext_accuracy",
           "frame_drop_0.50_accuracy")


def compare_arms():
    spec = importlib.util.spec_from_file_location("compare_arms", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def test_rows_are_the_arms_and_the_baseline_with_t_grpo():
    compare = compare_arms()
    rows = compare.contenders(list(ARMS.values()))
    stand_for = compared_stages(ARMS)
    t_grpo_label = VIDEO_R1_BASELINE_ARM.name + compare.T_GRPO_SUFFIX
    assert [row.label for row in rows] == [label for name in ARMS for label in
                                           ([name, t_grpo_label] if name == VIDEO_R1_BASELINE_ARM.name else [name])]
    assert {row.label: row.stage for row in rows if row.label in ARMS} == stand_for
    (t_grpo,) = [row for row in rows if row.ops]
    assert t_grpo.arm == VIDEO_R1_BASELINE_ARM
    assert t_grpo.ops == {stand_for[VIDEO_R1_BASELINE_ARM.name].model: {"config": {"rewards": {"temporal": True}}}}


def test_each_seed_changes_only_the_training_seeds_and_every_run_config_is_valid_for_its_job(isolated_state):
    compare, defs = compare_arms(), definitions()
    tiny = smoke_run_config()
    assert compare.unknown_ops(tiny, defs) == []
    typo = "eval__no_such_model__synthetic"
    assert compare.unknown_ops({"ops": {typo: {}}}, defs) == [typo]
    for row in compare.contenders(list(ARMS.values())):
        job = defs.resolve_job_def(row.arm.name)
        nodes = set(job.graph.node_dict)
        configs = {seed: compare.run_config(tiny, seed, row, nodes) for seed in (0, 7)}
        for seed, config in configs.items():
            assert dg.validate_run_config(job, config)
            assert set(config["ops"]) <= nodes
            for stage in row.arm.stages:
                assert config["ops"][stage.model]["config"]["training"]["seed"] == seed
                assert config["ops"][stage.model]["config"]["training"]["max_steps"] == SMOKE_STEPS["max_steps"]
        # The data plane and the base model are the same for every seed.
        trained = {stage.model for stage in row.arm.stages}
        assert {op: v for op, v in configs[0]["ops"].items() if op not in trained} \
            == {op: v for op, v in configs[7]["ops"].items() if op not in trained}
        assert configs[0]["ops"][BASE_MODEL] == tiny["ops"][BASE_MODEL]
        rewards = configs[0]["ops"][row.stage.model]["config"].get("rewards")
        assert rewards == ({"temporal": True} if row.ops else None)


def materialized_keys(state: Path, asset: str) -> set[str]:
    """The published artifacts of ``asset`` (a folder per cache key with its manifest)."""
    return {folder.name for folder in (state / "artifacts" / asset).glob("*") if (folder / "manifest.json").is_file()}


def run_script(state: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT", "DAGSTER_HOME", "VISS_R1_STATE_DIR")}
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--state", str(state), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1500)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return done.stdout


@pytest.mark.slow
def test_tiny_comparison_of_every_arm_then_one_more_seed_trains_only_that_seed(tmp_path):
    from mlflow.tracking import MlflowClient

    compare = compare_arms()
    rows = compare.contenders(list(ARMS.values()))
    state = tmp_path / "state"
    printed = run_script(state, "--seeds", "1")

    out = state / ARM_COMPARISON
    table = pl.read_parquet(out / "arm_comparison.parquet")
    assert table["arm"].to_list() == [row.label for row in rows]
    assert table["model"].to_list() == [row.stage.model for row in rows]
    assert table["seeds"].to_list() == [1] * len(rows) and table["samples"].to_list() == [6] * len(rows)
    for name in METRICS:
        for part in ("", "_low", "_high"):
            assert table[name + part].null_count() == 0, name + part
        assert (table[name + "_low"] <= table[name]).all() and (table[name] <= table[name + "_high"]).all()
    assert (out / "arm_comparison.md").read_text() in printed and "s wall" in printed

    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"viss_r1/{ARM_COMPARISON}")
    (run,) = client.search_runs([experiment.experiment_id])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"arm_comparison.json", "arm_comparison.png"}
    assert run.data.metrics[f"{rows[0].label}/clean_accuracy"] == table["clean_accuracy"][0]

    with dg.DagsterInstance.from_config(str(state / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(ARM_COMPARISON))
        metadata = event.asset_materialization.metadata
        assert [record.data["arm"] for record in metadata["table"].value.records] == [row.label for row in rows]
        assert metadata["mlflow_run_id"].value == run.info.run_id
    # One model per stage; the baseline's GRPO twice (with and without T-GRPO).
    first = {stage.model: materialized_keys(state, stage.model) for stage in STAGES.values()}
    t_grpo_model = compared_stages(ARMS)[VIDEO_R1_BASELINE_ARM.name].model
    assert {model: len(keys) for model, keys in first.items()} == \
        {model: 2 if model == t_grpo_model else 1 for model in first}

    # One more seed, for one arm: seed 0 is reused whole, seed 1 trained.
    run_script(state, "--seeds", "2", "--arms", PRETEXT_GRPO_ARM.name)
    runs = pl.read_parquet(out / compare.RUNS_FILE)
    models = [stage.model for stage in PRETEXT_GRPO_ARM.stages]
    trained = runs.filter(pl.col("asset").is_in(models))
    assert trained.filter(pl.col("seed") == 0)["reused"].to_list() == [True] * len(models)
    assert trained.filter(pl.col("seed") == 1)["reused"].to_list() == [False] * len(models)
    assert runs.filter((pl.col("seed") == 0) & ~pl.col("reused")).is_empty()   # evaluations too
    second = {stage.model: materialized_keys(state, stage.model) for stage in STAGES.values()}
    assert {model: len(second[model] - first[model]) for model in second} == \
        {model: 1 if model in models else 0 for model in second}
    assert pl.read_parquet(out / "arm_comparison.parquet")["seeds"].to_list() == [2]
