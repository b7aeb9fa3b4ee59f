"""Models: the base checkpoint every arm starts from, and the SFT warm starts.

Training runs out of process (``python -m viss_r1.train.sft``) through the stage launcher;
the asset writes the run config, watches, and publishes the final checkpoint. Torch is imported
only inside the builds, never by the Definitions.
"""


import errno
import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl

from assets.caching import Building, asset_code_version, build_or_reuse, input_summary, output
from assets.configs import BaseModelConfig, CheckpointConfig, SFTModelConfig, WarmupModelConfig
from assets.launcher import StageLauncher
from assets.references import REFERENCE_CODE, checkpoint_digest, reference_build
from assets.resources import ArtifactStoreResource, MlflowTracking
from viss_r1.artifacts import ArtifactRef, place_tree
from viss_r1.code_versions import code_version
from viss_r1.data.frame_cache import shard_files
from viss_r1.data.pretext_samples import TABLES
from viss_r1.own_process import ProcessLost, run_in_own_process
from viss_r1.process import write_config
from viss_r1.prompts import PromptWording
from viss_r1.stages import BASE_MODEL, CHECKPOINT, FORMAT_WARMUP, StageSpec
from viss_r1.train.config import FINAL_DIR, RESULT_FILE, SFTRunConfig

GROUP = "models"
MODEL_DIR = "model"


def model_location(artifact_store: ArtifactStoreResource, ref: ArtifactRef) -> str:
    """What ``from_pretrained`` should load for a model artifact: its own folder, or the
    checkpoint it references (a hub id or a local folder outside the store)."""
    summary = input_summary(artifact_store.store(), ref)
    if summary.get("reference"):
        return summary["reference"]
    return str(artifact_store.local_path(ref) / MODEL_DIR)


def model_revision(artifact_store: ArtifactStoreResource, ref: ArtifactRef) -> str | None:
    """The hub revision a model artifact references (None: a folder, local or in the store)."""
    return input_summary(artifact_store.store(), ref).get("revision")


@dg.asset(name=BASE_MODEL, group_name=GROUP, code_version=code_version(
    "viss_r1.modeling.tiny", "viss_r1.modeling.corpus", packages=("torch", "transformers", "tokenizers")))
def base_model(
    context: dg.AssetExecutionContext,
    config: BaseModelConfig,
    pretext_samples: ArtifactRef,
    artifact_store: ArtifactStoreResource,
    mlflow_tracking: MlflowTracking,
) -> dg.Output[ArtifactRef]:
    """The starting checkpoint. ``tiny``: a Qwen2.5-VL-architecture model built offline, its
    tokenizer trained on the pipeline's own prompts and answers (hence the pretext_samples input);
    otherwise a reference to a local folder or hub id (e.g. Qwen/Qwen2.5-VL-7B-Instruct)."""
    tiny = config.model == "tiny"
    inputs = {"pretext_samples": pretext_samples} if tiny else {}
    params = config.model_dump() if tiny else {"model": config.model, "revision": config.revision}
    extra_key = {} if tiny else {"reference": checkpoint_digest(config.model, config.revision)}

    def build(building: Building) -> None:
        from viss_r1.modeling.corpus import tokenizer_corpus
        from viss_r1.modeling.tiny import build_tiny_model

        folder = artifact_store.local_path(pretext_samples)
        rows = [row for name in TABLES for row in pl.read_parquet(folder / f"{name}.parquet").to_dicts()]
        # In a process of its own: the vision pretraining peaks near 3 GB, which this (Dagster's)
        # process would otherwise hold for the rest of the run.
        try:
            summary = run_in_own_process(build_tiny_model, building.folder / MODEL_DIR,
                                         list(tokenizer_corpus(rows, wording=PromptWording(config.prompt_wording))),
                                         config.tiny.to_library())
        except ProcessLost as lost:
            raise dg.Failure(f"building the tiny model failed: {lost}; nothing was published, a rerun "
                             "builds it again") from None
        building.summary.update(summary)
        building.summary["corpus_rows"] = len(rows)

    # A reference's key follows how a checkpoint is referenced, not the tiny model's code.
    built = build_or_reuse(context, artifact_store, mlflow_tracking,
                           code_version=asset_code_version(context) if tiny else REFERENCE_CODE,
                           config=params, inputs=inputs, build=build if tiny else reference_build(config.model, config.revision),
                           extra_key=extra_key)
    shown = ("parameters", "vocab_size", "vision_pretraining_loss_first", "vision_pretraining_loss_last")
    return output(built, {"model": model_location(artifact_store, built.ref),
                          **{k: v for k, v in built.summary.items() if k in shown}})


@dg.asset(name=CHECKPOINT, group_name=GROUP, code_version=REFERENCE_CODE)
def checkpoint(
    context: dg.AssetExecutionContext,
    config: CheckpointConfig,
    artifact_store: ArtifactStoreResource,
    mlflow_tracking: MlflowTracking,
) -> dg.Output[ArtifactRef]:
    """Any checkpoint to score with the ``evaluate`` job: a local folder or a hub id (e.g.
    Qwen/Qwen2.5-VL-7B-Instruct, or a Video-R1-7B release), referenced, not copied."""
    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                           config={"model": config.model, "revision": config.revision}, inputs={},
                           build=reference_build(config.model, config.revision),
                           extra_key={"reference": checkpoint_digest(config.model, config.revision)})
    return output(built, {"model": model_location(artifact_store, built.ref)})


SFT_CODE = code_version("viss_r1.train.sft",
                        packages=("torch", "transformers", "trl", "accelerate", "deepspeed", "tokenizers"))


# SFT settings that change no result (a store of decoded clips): left out of the cache key.
RESULT_NEUTRAL_SFT_SETTINGS = {"decoded_clip_memory_mb"}

# The run config of an SFT stage whose embedded defaults are its own (the others: SFTModelConfig).
SFT_CONFIGS: dict[str, type[SFTModelConfig]] = {FORMAT_WARMUP.name: WarmupModelConfig}


def sft_asset(stage: StageSpec, retry_policy: dg.RetryPolicy | None = None) -> dg.AssetsDefinition:
    """The asset of an SFT stage (the warm-up, SSL-CoT or plain CoT, ``viss_r1.stages``). Trains out
    of process through the stage launcher; step metrics go to the asset's MLflow run; the checkpoint
    is logged as a model. A retry (``retry_policy``) resumes from the last checkpoint."""
    config_type = SFT_CONFIGS.get(stage.name, SFTModelConfig)

    @dg.asset(name=stage.model, group_name=GROUP, pool="gpu", code_version=SFT_CODE, description=stage.description,
              ins={"start_model": dg.AssetIn(stage.start)}, retry_policy=retry_policy)
    def _sft(
        context: dg.AssetExecutionContext,
        config: config_type,
        start_model: ArtifactRef,
        pretext_samples: ArtifactRef,
        frame_cache: ArtifactRef,
        artifact_store: ArtifactStoreResource,
        mlflow_tracking: MlflowTracking,
        stage_launcher: StageLauncher,
    ) -> dg.Output[ArtifactRef]:
        inputs = {stage.start: start_model, "pretext_samples": pretext_samples, "frame_cache": frame_cache}
        start = input_summary(artifact_store.store(), start_model) \
            if stage.only_from_scratch else {}
        if start.get("reference"):   # a checkpoint, not a model built here
            context.log.info(f"{stage.name}: the start model is the checkpoint {start['reference']}, which already "
                             "does what this warm-up teaches a model built from scratch: published untrained")
            built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                                   config={"stage": stage.model_dump(mode="json")}, inputs={stage.start: start_model},
                                   build=reference_build(start["reference"], start.get("revision")))
            return output(built, {"model": model_location(artifact_store, built.ref), "trained": False})

        def build(building: Building) -> None:
            work = building.work_dir()   # checkpoints survive a crash: a rerun resumes
            store = artifact_store.store()
            if finished_training(context, work) is None:
                run_config = SFTRunConfig(
                    stage=stage,
                    model=model_location(artifact_store, start_model),
                    model_revision=model_revision(artifact_store, start_model),
                    output_dir=str(work),
                    samples=str(artifact_store.local_path(pretext_samples) / f"{stage.samples}.parquet"),
                    frame_shards=shard_files(store, artifact_store.local_path(frame_cache)),
                    prompt_wording=config.prompt_wording,
                    loss_on=config.loss_on,
                    empty_clip_fraction=config.empty_clip_fraction,
                    thought_names_transform=config.thought_names_transform,
                    rehearsal_fraction=config.rehearsal_fraction,
                    length_grouped_batches=config.length_grouped_batches,
                    lm_head_loss=config.lm_head_loss,
                    system_prompt=config.system_prompt,
                    max_samples=config.max_samples,
                    decoded_clip_memory_mb=config.decoded_clip_memory_mb,
                    training=config.training.to_library(),
                    mlflow=mlflow_tracking.target(building.run),
                )
                config_file = write_config(run_config, work / "sft_config.yaml")
                stage_launcher.run(context, "viss_r1.train.sft", str(config_file))
            publish_training(building, work, store, ("global_step", "samples", "train_loss", "first_loss",
                                                     "last_loss", "tokens_seen", "seconds"))

        built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                               config={**config.model_dump(exclude=RESULT_NEUTRAL_SFT_SETTINGS),
                                       "stage": stage.model_dump(mode="json")}, inputs=inputs,
                               build=build)
        result = json.loads((built.folder / "result.json").read_text())
        return output(built, {
            "model": model_location(artifact_store, built.ref),
            **{k: built.summary[k] for k in ("global_step", "samples", "first_loss", "last_loss", "train_loss")},
            "loss_curve": curve_table(result["losses"], "loss"),
        })

    return _sft




def finished_training(context: dg.AssetExecutionContext, work: Path) -> dict | None:
    """The result of a run that already finished in ``work`` (its artifact not yet published:
    the publish failed or was killed), or None when training must be launched (again)."""
    try:
        result = json.loads((work / RESULT_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):   # not finished, or killed while writing it
        return None
    # result.json is written last, after final/; without final's config it belongs to no model.
    if not (work / FINAL_DIR / "config.json").is_file():
        return None
    context.log.info(f"{work} holds a finished training run ({RESULT_FILE}, {FINAL_DIR}/): publishing it "
                     "without training again")
    return result


def publish_training(building: Building, work: Path, store, summary_keys: tuple[str, ...]) -> None:
    """Copy a finished training run's final model and result into the artifact and log the model
    to MLflow. The work folder (checkpoints, final model) goes only once the artifact is
    published: a publish that fails leaves it for a rerun, which then publishes without training."""
    result = json.loads((work / RESULT_FILE).read_text())
    try:
        place_tree(work / FINAL_DIR, building.folder / MODEL_DIR)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise dg.Failure(f"{building.asset}: cannot publish the trained model: {error.strerror}. The finished "
                         f"run stays in {work}: free space and rerun, and it is published without training "
                         "again") from None
    shutil.copy(work / RESULT_FILE, building.folder / RESULT_FILE)
    building.summary.update({k: result[k] for k in summary_keys})
    building.summary["resumed"] = bool(result["resumed_from"])
    building.run.log_model(building.asset, building.folder / MODEL_DIR, store.uri(building.asset, building.key))
    building.remove_after_publish(work)




def curve_table(points: list[list[float]], name: str, rows: int = 12) -> dg.TableMetadataValue:
    """A training curve (loss, reward), thinned to a few rows, as table metadata for the UI."""
    stride = max(1, -(-len(points) // rows))   # at most ``rows`` rows, and the last step
    shown = points[::stride] + ([points[-1]] if points and (len(points) - 1) % stride else [])
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"step": int(step), name: float(value)}) for step, value in shown],
        schema=dg.TableSchema(columns=[dg.TableColumn("step", "int"), dg.TableColumn(name, "float")]))
