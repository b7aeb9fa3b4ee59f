"""Train and score every arm over several training seeds, then compare the arms in one table.

For each seed, the job of each arm (``viss_r1.stages.ARMS``) runs in the state folder's Dagster
instance with that seed in every training stage's config, as far as the comparison needs it: the
arm's stages and its compared model's evaluation on the one benchmark (not the job's other
evaluations nor its leaderboard). The data plane and the base model are
the same for every seed. The Video-R1 baseline runs twice, with and without T-GRPO (its GRPO
stage's ``rewards.temporal``). Every stage is a cached artifact, so a seed that already ran is
reused whole: going from 3 seeds to 4 trains only the fourth.

Per arm (its model: ``viss_r1.evaluate.comparison.compared_stage``), on one benchmark: mean over
seeds and 95 % bootstrap interval (seeds, then eval samples) of each condition's accuracy (clean,
blind, transformed, frame drop, …), visual reliance (clean − blind, paired per sample) and
pretext accuracy. The table goes to ``<state>/arm_comparison/`` (parquet, markdown, chart, and
``runs.parquet``: which training and evaluation artifact each run built or reused), to an MLflow
run of its own (experiment ``viss_r1/arm_comparison``) and to the Dagster instance as a
materialization of the ``arm_comparison`` asset, so it shows in the UI.

    .venv/bin/python benchmarks/compare_arms.py [--seeds 3 | --seed-list 0 1 7] [--state state]
        [--config extra_run_config.yaml] [--arms full_viss_r1 pretext_grpo] [--tiny]

``--tiny``: a handful of clips, a tiny model and two steps per stage: the plumbing in minutes, the
numbers meaningless (what CI runs, with ``--seeds 1``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from pipelines.smoke import smoke_run_config  # noqa: E402
from viss_r1.evaluate.benchmarks import BENCHMARKS  # noqa: E402
from viss_r1.evaluate.comparison import (  # noqa: E402
    LABEL, LEVEL, RESAMPLES, chart, comparison_table, compared_stage, to_markdown)
from viss_r1.stages import ARMS, STAGES, VIDEO_R1_BASELINE_ARM, Arm, StageSpec  # noqa: E402

SYNTHETIC = BENCHMARKS["synthetic"].name
# Video-R1's temporal reward (T-GRPO) is an option of its own method: its arm runs with and without.
T_GRPO_ARMS = (VIDEO_R1_BASELINE_ARM,)
T_GRPO_SUFFIX = "_t_grpo"   # MLflow metric names (<row>/<metric>) allow no "+"
RUNS_FILE = "runs.parquet"
SEED_TAG, ROW_TAG = "viss_r1.compare.seed", "viss_r1.compare.row"

# --tiny runs pipelines.smoke's config: every stage and probe, nothing learns.

@dataclass(frozen=True)
class Contender:
    """One row of the table: an arm (its job trains it), the stage whose model stands for it, and
    what its runs add to the run config (T-GRPO on)."""

    label: str
    arm: Arm
    stage: StageSpec
    ops: dict[str, Any] = field(default_factory=dict)


def contenders(arms: list[Arm]) -> list[Contender]:
    found = []
    for arm in arms:
        stage = compared_stage(arm, ARMS)
        if stage.model not in arm.scored:
            raise ValueError(f"arm {arm.name!r} is compared by {stage.model!r}, which its job does not evaluate "
                             f"(scored: {list(arm.scored)}); add it to the arm's scored models")
        found.append(Contender(arm.name, arm, stage))
        if arm in T_GRPO_ARMS:
            found.append(Contender(arm.name + T_GRPO_SUFFIX, arm, stage,
                                   {stage.model: {"config": {"rewards": {"temporal": True}}}}))
    return found


def merged(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def seed_ops(seed: int) -> dict:
    """The training seed of every stage; nothing else changes with it."""
    return {stage.model: {"config": {"training": {"seed": seed}}} for stage in STAGES.values()}


def run_config(config: dict, seed: int, row: Contender, nodes: set[str]) -> dict:
    """``config`` with ``seed`` in every training stage and ``row``'s additions, keeping only the
    ops of the job's ``nodes`` (Dagster refuses config for ops a job does not have)."""
    full = merged(merged(config, {"ops": seed_ops(seed)}), {"ops": row.ops})
    return {**full, "ops": {op: value for op, value in full["ops"].items() if op in nodes}}


def unknown_ops(config: dict, defs) -> list[str]:
    """Ops of ``config`` that no arm's job has: a typo would otherwise be dropped without a word."""
    known = {node for arm in ARMS.values() for node in defs.resolve_job_def(arm.name).graph.node_dict}
    return sorted(set(config.get("ops", {})) - known)


def prepare_state(state: Path) -> None:
    """The state folder's Dagster instance and stores, as ``scripts/configure_env.py`` sets them."""
    home = state / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO / "infra" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"], os.environ["VISS_R1_STATE_DIR"] = str(home), str(state)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=3, help="train seeds 0..N-1 (default 3)")
    seeds.add_argument("--seed-list", type=int, nargs="+", help="train these seeds")
    parser.add_argument("--state", default="state", help="Dagster home, artifacts and MLflow (default: state)")
    parser.add_argument("--config", type=Path, help="a run config (YAML) laid over the defaults, for every job")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS), help="a subset of the arms")
    parser.add_argument("--benchmark", choices=list(BENCHMARKS), default=SYNTHETIC, help="the benchmark compared on")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--tiny", action="store_true", help="a tiny model, a few clips and steps: the plumbing only")
    args = parser.parse_args(argv)
    args.seed_list = args.seed_list or list(range(args.seeds))
    if not args.seed_list or len(set(args.seed_list)) != len(args.seed_list):
        parser.error(f"seeds {args.seed_list}: give at least one, each once")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    state = Path(args.state).resolve()
    prepare_state(state)
    import dagster as dg

    from assets.comparison import ARM_COMPARISON
    from pipelines.definitions import definitions

    defs = definitions()
    config = merged(smoke_run_config() if args.tiny else {}, yaml.safe_load(args.config.read_text()) if args.config else {})
    unknown = unknown_ops(config, defs)
    if unknown:
        sys.exit(f"--config {args.config}: ops {unknown} are in no arm's job; check the names (an asset's op is "
                 "its key with '__' for '/', e.g. eval__base_model__synthetic)")
    rows = contenders([ARMS[name] for name in args.arms])
    with dg.DagsterInstance.get() as instance:
        results, runs = run_seeds(defs, instance, config, rows, args.seed_list, args.benchmark)
        table = comparison_table(results, resamples=args.resamples, models={row.label: row.stage.model for row in rows})
        figure = chart(table)
        out = write_outputs(state / ARM_COMPARISON, table, figure, runs)
        run_id = log_to_mlflow(defs, out, table, figure, args)
        report_to_dagster(instance, ARM_COMPARISON, out, table, args, run_id)
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    print(f"\narms on {args.benchmark}, seeds {args.seed_list}:\n\n{to_markdown(table)}")
    print(f"{wall:.0f} s wall, {cpu:.0f} s CPU (this process and the stage processes it started); "
          f"written to {out}; MLflow run {run_id}")


def run_seeds(defs, instance, config: dict, rows: list[Contender], seeds: list[int], benchmark: str
              ) -> tuple[dict[str, list[pl.DataFrame]], pl.DataFrame]:
    """Each row's job once per seed. Returns each row's evaluation results (``results.parquet``
    on ``benchmark``, one per seed, found by the cache key its run reported) and what every run
    built or reused."""
    from assets.evaluation import eval_asset_key

    store = defs.resources["artifact_store"].store()
    results: dict[str, list[pl.DataFrame]] = {row.label: [] for row in rows}
    runs = []
    for seed in seeds:
        for row in rows:
            job = defs.resolve_job_def(row.arm.name)
            # Only what the compared evaluation needs: the arm's stages, not its other benchmarks,
            # the other models' evaluations or the leaderboard.
            selection = compared_selection(defs, row, benchmark)
            nodes = {key.to_python_identifier() for key in selection}
            result = job.execute_in_process(run_config=run_config(config, seed, row, nodes), instance=instance,
                                            asset_selection=sorted(selection),
                                            tags={SEED_TAG: str(seed), ROW_TAG: row.label})
            made = materializations(result)
            runs += [{"seed": seed, LABEL: row.label, "run_id": result.run_id, "asset": asset, **meta}
                     for asset, meta in made.items()]
            built = sorted(asset for asset, meta in made.items() if not meta["reused"])
            print(f"seed {seed} {row.label}: built {', '.join(built) or 'nothing'}; reusing "
                  f"{sum(meta['reused'] for meta in made.values())} artifacts", flush=True)
            evaluated = eval_asset_key(row.stage.model, benchmark).to_user_string()
            if evaluated not in made:
                sys.exit(f"{row.label} seed {seed}: {evaluated} reported no artifact; give {benchmark}'s eval "
                         "file in the run config or compare on another --benchmark")
            folder = store.local_path(store.ref(evaluated, made[evaluated]["cache_key"]))
            results[row.label].append(pl.read_parquet(folder / "results.parquet"))
    return results, pl.DataFrame(runs)


def compared_selection(defs, row: Contender, benchmark: str) -> set:
    """The asset keys a row's run materializes: its compared model's evaluation on ``benchmark``
    and everything upstream of it."""
    import dagster as dg

    from assets.evaluation import eval_asset_key

    evaluated = eval_asset_key(row.stage.model, benchmark)
    return set(dg.AssetSelection.assets(evaluated).upstream().resolve(defs.resolve_asset_graph()))


def materializations(result) -> dict[str, dict[str, Any]]:
    """The cached artifacts a run reported: asset → {cache_key, reused}. (A benchmark with no eval
    file reports no artifact, hence no cache key: it is left out.)"""
    made = {}
    for event in result.get_asset_materialization_events():
        metadata = event.step_materialization_data.materialization.metadata
        if "cache_key" in metadata:
            made[event.asset_key.to_user_string()] = {"cache_key": metadata["cache_key"].value,
                                                      "reused": bool(metadata["reused"].value)}
    return made


def write_outputs(out: Path, table: pl.DataFrame, figure, runs: pl.DataFrame) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out / "arm_comparison.parquet")
    (out / "arm_comparison.md").write_text(to_markdown(table))
    figure.savefig(out / "arm_comparison.png")
    runs.write_parquet(out / RUNS_FILE)
    return out


def log_to_mlflow(defs, out: Path, table: pl.DataFrame, figure, args: argparse.Namespace) -> str:
    """A run of its own: the table, its chart, the means as metrics (``<arm>/<metric>``)."""
    from viss_r1.tracking import STAGE_TAG, Tracker

    tracking = defs.resources["mlflow_tracking"]
    tracker = Tracker(tracking.tracking_uri, f"{tracking.experiment_prefix}/{out.name}")
    client = tracker.client
    run = client.create_run(tracker.experiment_id, run_name=f"{out.name}-{len(args.seed_list)}seeds",
                            tags={STAGE_TAG: out.name})
    run_id = run.info.run_id
    for name, value in {"seeds": args.seed_list, "arms": list(table[LABEL]), "benchmark": args.benchmark,
                        "resamples": args.resamples, "level": LEVEL, "tiny": args.tiny,
                        "config": str(args.config or "")}.items():
        client.log_param(run_id, name, str(value))
    for row in table.iter_rows(named=True):
        for name, value in row.items():
            if isinstance(value, float):
                client.log_metric(run_id, f"{row[LABEL]}/{name}", value)
    client.log_table(run_id, data=table.to_pandas(), artifact_file="arm_comparison.json")
    client.log_figure(run_id, figure, "arm_comparison.png")
    for name in ("arm_comparison.md", RUNS_FILE):
        client.log_artifact(run_id, str(out / name))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def report_to_dagster(instance, asset: str, out: Path, table: pl.DataFrame, args: argparse.Namespace,
                      run_id: str) -> None:
    """A runless materialization of the ``arm_comparison`` asset: the table, its markdown, chart."""
    import dagster as dg

    types = {pl.String: "string", pl.Int64: "int", pl.Float64: "float"}
    schema = dg.TableSchema(columns=[dg.TableColumn(name, types[dtype]) for name, dtype in table.schema.items()])
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, metadata={
        "table": dg.MetadataValue.table(records=[dg.TableRecord(row) for row in table.iter_rows(named=True)],
                                        schema=schema),
        "markdown": dg.MetadataValue.md(to_markdown(table)),
        "chart": dg.MetadataValue.path(str(out / "arm_comparison.png")),
        "seeds": dg.MetadataValue.json(args.seed_list),
        "benchmark": args.benchmark,
        "mlflow_run_id": run_id,
        "path": dg.MetadataValue.path(str(out)),
    }))


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
