"""Evaluation: one asset per benchmark (its records and cached frames), one per (model,
benchmark) scored out of process, and the leaderboard over every result (METHOD.md §8).

One asset per (model, benchmark) rather than partitions: a job mixing unpartitioned training with
partitioned evaluation cannot run from one CLI command, and re-running one benchmark is then
materializing one asset. A benchmark with no eval file configured is not evaluated: its assets
say so and make no artifact and no MLflow run; the leaderboard shows it as not run.
"""

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import dagster as dg
import polars as pl

from assets.caching import Building, asset_code_version, build_or_reuse, input_summary, output, table_preview
from assets.configs import BenchmarkConfig, EvaluationConfig
from assets.models import model_location, model_revision
from assets.launcher import StageLauncher
from assets.resources import ArtifactStoreResource, MlflowTracking
from viss_r1.artifacts import ArtifactRef
from viss_r1.code_versions import code_version
from viss_r1.data.benchmark_ingest import RECORDS_FILE, ingest_benchmark
from viss_r1.data.frame_cache import shard_files, shard_refs
from viss_r1.data.records import annotation_key, load_annotation_source
from viss_r1.evaluate.benchmarks import BENCHMARKS, BenchmarkSpec
from viss_r1.evaluate.config import EvalRunConfig
from viss_r1.evaluate.leaderboard import chart, collect_scores, leaderboard_table, to_console, to_markdown
from viss_r1.evaluate.scores import score_metrics
from viss_r1.process import write_config
from viss_r1.stages import StageSpec, stage_making

GROUP = "evaluation"
# Written into an evaluation's work folder once its process succeeded: a rerun whose publish
# failed publishes those scores instead of evaluating again.
EVALUATION_FINISHED = "evaluation_finished"
NOT_CONFIGURED = "not configured"

BENCHMARK_CODE = code_version("viss_r1.data.benchmark_ingest", "viss_r1.data.records",
                              packages=("decord", "pillow", "pyvips", "pyvips-binary"))
EVAL_CODE = code_version("viss_r1.evaluate.run", packages=("torch", "transformers", "tokenizers", "jiwer", "rouge-score"))


def benchmark_asset_name(spec: BenchmarkSpec) -> str:
    return f"benchmark_{spec.name}"


def eval_asset_key(model: str, benchmark: str) -> dg.AssetKey:
    return dg.AssetKey(["eval", model, benchmark])


def _not_configured(why: str, **metadata) -> dg.Output[None]:
    return dg.Output(None, data_version=dg.DataVersion(NOT_CONFIGURED),
                     metadata={"status": NOT_CONFIGURED, "why": why, **metadata})


def _benchmark(context: dg.AssetExecutionContext, spec: BenchmarkSpec, config: BenchmarkConfig,
               artifact_store: ArtifactStoreResource, mlflow_tracking: MlflowTracking,
               video_sources: Optional[ArtifactRef] = None) -> dg.Output:
    """Records (validated; bad ones quarantined), media probed (missing/unreadable counted), frames
    sampled into the shared frame cache with the benchmark's own sampling
    (``viss_r1.data.benchmark_ingest``)."""
    store = artifact_store.store()
    inputs, extra_key = {}, {}
    if config.annotations:
        path, media_root = Path(config.annotations), Path(config.media_root)
        if not path.is_file():
            raise dg.Failure(f"{benchmark_asset_name(spec)}: annotations {path} does not exist "
                             f"(the release names this benchmark's file {spec.eval_file})")
        if not media_root.is_dir():
            raise dg.Failure(f"{benchmark_asset_name(spec)}: media_root {media_root} is not a folder")
        extra_key["annotations"] = annotation_key(path, str(media_root))
    elif video_sources is not None:
        eval_split = pl.read_parquet(artifact_store.local_path(video_sources) / "records.parquet",
                                     columns=["split"]).filter(pl.col("split") == "eval")
        if eval_split.is_empty():
            return _not_configured("video_sources has no eval-split records (give a source split: eval, "
                                   f"or set ops.{benchmark_asset_name(spec)}.config.annotations)")
        inputs["video_sources"] = video_sources
    else:
        context.log.info(f"{spec.title}: no eval file configured; not evaluated")
        return _not_configured(f"set ops.{benchmark_asset_name(spec)}.config.annotations (the release's "
                               f"{spec.eval_file}) and media_root to evaluate {spec.title}")

    def build(building: Building) -> None:
        if config.annotations:
            records, quarantine = load_annotation_source(Path(config.annotations), spec.name, config.media_root, "eval")
        else:
            table = pl.read_parquet(artifact_store.local_path(video_sources) / "records.parquet")
            records, quarantine = table.filter(pl.col("split") == "eval").to_dicts(), []
        counts = ingest_benchmark(store, building.folder, records, quarantine, min_frames=config.min_frames,
                                  sampling=config.sampling.to_library(), encoding=config.to_encoding(),
                                  num_shards=config.num_shards, code_version=asset_code_version(context),
                                  workers=config.workers, timeout_s=config.decode_timeout_s, log=context.log.info)
        building.summary.update(asdict(counts), sampling=config.sampling.model_dump())
        building.parts.extend(shard_refs(store, building.folder))
        if counts.missing:
            context.log.warning(f"{spec.title}: {counts.missing} of {counts.records} records have no usable video "
                                f"(counted as missing, never scored)")

    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                           config={**config.model_dump(exclude={"workers"}), "benchmark": spec.name},
                           inputs=inputs, build=build, extra_key=extra_key)
    joined = pl.read_parquet(built.folder / RECORDS_FILE)
    return output(built, {
        "benchmark": spec.title,
        **{k: built.summary[k] for k in ("records", "usable", "missing", "quarantined")},
        "sampling": dg.MetadataValue.json(built.summary["sampling"]),
        "missing_preview": table_preview(joined.filter(pl.col("reason").is_not_null())
                                          .select("path", "reason").head(10)),
        "preview": table_preview(joined.select("problem_id", "problem_type", "path", "solution").head(8)),
    })


def benchmark_asset(spec: BenchmarkSpec) -> dg.AssetsDefinition:
    """The synthetic benchmark defaults to video_sources' eval split; the others need a file."""
    common = dict(name=benchmark_asset_name(spec), group_name=GROUP, code_version=BENCHMARK_CODE,
                  description=f"{spec.title}: records, missing videos, frames in the cache (eval file: {spec.eval_file}).")
    if spec.name == "synthetic":
        @dg.asset(**common)
        def _from_sources(context: dg.AssetExecutionContext, config: BenchmarkConfig, video_sources: ArtifactRef,
                          artifact_store: ArtifactStoreResource, mlflow_tracking: MlflowTracking) -> dg.Output:
            return _benchmark(context, spec, config, artifact_store, mlflow_tracking, video_sources)

        return _from_sources

    @dg.asset(**common)
    def _from_file(context: dg.AssetExecutionContext, config: BenchmarkConfig,
                   artifact_store: ArtifactStoreResource, mlflow_tracking: MlflowTracking) -> dg.Output:
        return _benchmark(context, spec, config, artifact_store, mlflow_tracking)

    return _from_file


def evaluation_asset(model: str, spec: BenchmarkSpec, prompt_format: str = "r1",
                     retry_policy: dg.RetryPolicy | None = None) -> dg.AssetsDefinition:
    """Scores ``model`` on ``spec`` under every configured condition, out of process; asked in
    ``prompt_format`` when the run config leaves it open (the format the model was trained on:
    ``viss_r1.stages.StageSpec.evaluation_prompt_format``). A retry (``retry_policy``) asks only
    the samples not yet finished."""

    @dg.asset(key=eval_asset_key(model, spec.name), group_name=GROUP, pool="gpu", code_version=EVAL_CODE,
              ins={"model_ref": dg.AssetIn(model), "benchmark": dg.AssetIn(benchmark_asset_name(spec))},
              retry_policy=retry_policy,
              description=f"{model} on {spec.title}: clean, blind, no-video, transformed and frame-drop "
                          "scores, with each condition's format compliance.")
    def _evaluate(
        context: dg.AssetExecutionContext,
        config: EvaluationConfig,
        model_ref: ArtifactRef,
        benchmark: Optional[ArtifactRef],
        artifact_store: ArtifactStoreResource,
        mlflow_tracking: MlflowTracking,
        stage_launcher: StageLauncher,
    ) -> dg.Output:
        if benchmark is None:
            return _not_configured(f"{benchmark_asset_name(spec)} has no eval file configured")
        store = artifact_store.store()
        bench_folder = artifact_store.local_path(benchmark)
        sampling = input_summary(store, benchmark)["sampling"]
        settings = config.to_library()
        if settings.prompt_format is None:
            settings = settings.model_copy(update={"prompt_format": prompt_format})

        def build(building: Building) -> None:
            work = building.work_dir()   # finished samples survive a crash: a rerun resumes
            reference = model_location(artifact_store, model_ref)
            finished = work / EVALUATION_FINISHED
            if finished.is_file():
                context.log.info(f"{work} holds a finished evaluation: publishing it without evaluating again")
            else:
                run_config = EvalRunConfig(
                    model=reference, model_revision=model_revision(artifact_store, model_ref),
                    benchmark=spec.name, records=str(bench_folder / RECORDS_FILE),
                    frame_shards=shard_files(store, bench_folder), output_dir=str(work), settings=settings,
                    mlflow=mlflow_tracking.target(building.run))
                config_file = write_config(run_config, work / "eval_config.yaml")
                stage_launcher.run(context, "viss_r1.evaluate.run", str(config_file))
                # scores.json alone does not mean success: a run with too many failed samples writes
                # it, then fails. The launcher returning does.
                finished.touch()
            scores = json.loads((work / "scores.json").read_text())
            for name in ("results.parquet", "scores.json"):
                shutil.copy(work / name, building.folder / name)
            long_scores(model, reference, spec, score_metrics(scores)).write_parquet(building.folder / "scores.parquet")
            building.summary.update(score_metrics(scores))
            building.summary["resumed_samples"] = scores["resumed"]
            building.remove_after_publish(work)   # only once published: a failed publish keeps the scores

        built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                               config={**settings.model_dump(mode="json"), "benchmark": spec.name, "sampling": sampling},
                               inputs={model: model_ref, "benchmark": benchmark}, build=build,
                               log_files=("scores.json", "results.parquet"))
        return output(built, evaluation_metadata(built.folder, spec))

    return _evaluate


def long_scores(model: str, reference: str, spec: BenchmarkSpec, metrics: dict) -> pl.DataFrame:
    """One row per metric: the shard of the leaderboard this result contributes."""
    return pl.DataFrame(
        [{"model": model, "reference": reference, "benchmark": spec.name, "metric": name, "value": float(value)}
         for name, value in metrics.items()],
        schema={"model": pl.String, "reference": pl.String, "benchmark": pl.String, "metric": pl.String,
                "value": pl.Float64})


def evaluation_metadata(folder: Path, spec: BenchmarkSpec) -> dict:
    scores = json.loads((folder / "scores.json").read_text())
    results = pl.read_parquet(folder / "results.parquet")
    formats = scores.get("format") or {}
    conditions = [{"condition": name, "score": s["overall"], "format": formats.get(name), "scored": s["scored"],
                   "missing": s["missing"], "failed": s["failed"]} for name, s in scores["conditions"].items()]
    clean = scores["conditions"].get("clean", {})
    return {
        "benchmark": spec.title,
        "score": clean.get("overall"),
        "visual_reliance": scores.get("visual_reliance"),                    # clean − blind
        "visual_reliance_no_video": scores.get("visual_reliance_no_video"),  # clean − no_video
        "format_compliance": dg.MetadataValue.json(formats),                 # % in the asked format, per condition
        "pretext_accuracy": dg.MetadataValue.json(scores.get("pretext_accuracy") or {}),
        "conditions": table_preview(conditions, limit=20),
        "tasks": dg.MetadataValue.json(clean.get("tasks") or {}),
        "predictions": table_preview(results.filter(pl.col("condition") == "clean")
                                      .select("sample_id", "problem_type", "truth", "answer", "score", "status")
                                      .head(10)),
    }


benchmark_assets = [benchmark_asset(spec) for spec in BENCHMARKS.values()]


def evaluation_assets(models: tuple[str, ...], stages: dict[str, StageSpec],
                      retry_policy: dg.RetryPolicy | None = None) -> list[dg.AssetsDefinition]:
    """Every model scored on every benchmark, each asked in the prompt it was trained on."""
    def prompt_format(model: str) -> str:
        stage = stage_making(model, stages)
        return stage.evaluation_prompt_format if stage else "r1"   # the base model, a checkpoint: Video-R1's
    return [evaluation_asset(model, spec, prompt_format(model), retry_policy)
            for model in models for spec in BENCHMARKS.values()]


# The leaderboard refreshes itself whenever an evaluation it reads is materialized (by any job, or
# by hand in the UI), once no evaluation is still running: Dagster's declarative automation, which
# `dagster dev` evaluates (README, "Looking at runs"). Evaluations never run do not hold it back.
LEADERBOARD_AUTOMATION = (dg.AutomationCondition.any_deps_updated() & ~dg.AutomationCondition.any_deps_in_progress()
                          & ~dg.AutomationCondition.in_progress())


def leaderboard_asset(models: tuple[str, ...]) -> dg.AssetsDefinition:
    """The leaderboard over ``models`` (in its row order) × every benchmark."""

    @dg.asset(name="leaderboard", group_name=GROUP,
              code_version=code_version("viss_r1.evaluate.leaderboard", packages=("duckdb",)),
              deps=[eval_asset_key(model, spec.name) for model in models for spec in BENCHMARKS.values()],
              automation_condition=LEADERBOARD_AUTOMATION)
    def _leaderboard(
        context: dg.AssetExecutionContext,
        artifact_store: ArtifactStoreResource,
        mlflow_tracking: MlflowTracking,
    ) -> dg.Output[ArtifactRef]:
        """Models × benchmarks like the paper's Table 1, plus robustness columns, from the newest
        result of every (model, benchmark) asset — whichever job made it — queried with DuckDB."""
        return _build_leaderboard(context, artifact_store, mlflow_tracking, models)

    return _leaderboard


def _build_leaderboard(context: dg.AssetExecutionContext, artifact_store: ArtifactStoreResource,
                       mlflow_tracking: MlflowTracking, models: tuple[str, ...]) -> dg.Output[ArtifactRef]:
    store = artifact_store.store()
    results = {}
    for model in models:
        for spec in BENCHMARKS.values():
            key = eval_asset_key(model, spec.name)
            event = context.instance.get_latest_materialization_event(key)
            metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
            if "cache_key" in metadata:   # evaluated (not a benchmark without an eval file)
                results[key.to_user_string()] = store.ref(key.to_user_string(), metadata["cache_key"].value)

    def build(building: Building) -> None:
        scores = collect_scores([store.local_path(ref) / "scores.parquet" for ref in results.values()])
        table = leaderboard_table(scores, models)
        scores.write_parquet(building.folder / "scores.parquet")
        table.write_parquet(building.folder / "leaderboard.parquet")
        (building.folder / "leaderboard.md").write_text(to_markdown(table))
        chart(table, building.folder / "leaderboard.png")
        building.summary.update(models=table.height, results=len(results))

    def log_run(run, folder: Path) -> None:
        run.log_table(pl.read_parquet(folder / "leaderboard.parquet").to_dict(as_series=False), "leaderboard.json")

    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                           config={"models": list(models)}, inputs=results, build=build, log_files=("leaderboard.png",),
                           log_run=log_run)
    board = pl.read_parquet(built.folder / "leaderboard.parquet")
    # The job's last word on the console; every column is in the markdown, the metadata and MLflow.
    context.log.info(f"leaderboard, accuracy in % ({len(results)} results; every column: "
                     f"{built.folder / 'leaderboard.md'}):\n{to_console(board)}")
    context.log.debug(f"leaderboard ({len(results)} results):\n{(built.folder / 'leaderboard.md').read_text()}")
    return output(built, {"leaderboard": table_preview(board, limit=board.height), "dagster/row_count": board.height,
                          "results": len(results),
                          "chart": dg.MetadataValue.path(str(built.folder / "leaderboard.png"))})
