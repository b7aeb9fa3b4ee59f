"""The GRPO stages of the arms (METHOD.md §1, §5, §6), each a training run out of process; one
asset per GRPO stage of ``viss_r1.stages``, which says what each trains from and on."""

import json
from pathlib import Path

import dagster as dg

from assets.caching import Building, asset_code_version, build_or_reuse, output
from assets.configs import GRPOModelConfig
from assets.models import GROUP, curve_table, finished_training, model_location, model_revision, publish_training
from assets.launcher import StageLauncher
from assets.resources import ArtifactStoreResource, MlflowTracking
from viss_r1.artifacts import ArtifactRef
from viss_r1.code_versions import code_version
from viss_r1.data.frame_cache import shard_files
from viss_r1.process import write_config
from viss_r1.stages import StageSpec
from viss_r1.train.config import GRPORunConfig

GRPO_CODE = code_version("viss_r1.train.grpo", packages=("torch", "transformers", "trl", "accelerate", "deepspeed",
                                                      "tokenizers", "jiwer", "rouge-score"))
SUMMARY = ("stage", "global_step", "prompts", "train_loss", "first_reward", "last_reward", "kl_in_loss", "seconds")


def grpo_asset(stage: StageSpec, retry_policy: dg.RetryPolicy | None = None) -> dg.AssetsDefinition:
    """The asset of a GRPO stage: trains ``stage.model`` from the model asset ``stage.start`` on the
    pretext-sample table ``stage.samples``. A retry (``retry_policy``) resumes from the last checkpoint."""

    @dg.asset(name=stage.model, group_name=GROUP, pool="gpu", code_version=GRPO_CODE, description=stage.description,
              ins={"start_model": dg.AssetIn(stage.start)}, retry_policy=retry_policy)
    def _grpo(
        context: dg.AssetExecutionContext,
        config: GRPOModelConfig,
        start_model: ArtifactRef,
        pretext_samples: ArtifactRef,
        frame_cache: ArtifactRef,
        artifact_store: ArtifactStoreResource,
        mlflow_tracking: MlflowTracking,
        stage_launcher: StageLauncher,
    ) -> dg.Output[ArtifactRef]:
        inputs = {stage.start: start_model, "pretext_samples": pretext_samples, "frame_cache": frame_cache}

        def build(building: Building) -> None:
            work = building.work_dir()
            store = artifact_store.store()
            if finished_training(context, work) is None:
                run_config = GRPORunConfig(
                    stage=stage,
                    model=model_location(artifact_store, start_model),
                    model_revision=model_revision(artifact_store, start_model),
                    output_dir=str(work),
                    samples=str(artifact_store.local_path(pretext_samples) / f"{stage.samples}.parquet"),
                    frame_shards=shard_files(store, artifact_store.local_path(frame_cache)),
                    system_prompt=config.system_prompt,
                    prompt_wording=config.prompt_wording,
                    max_samples=config.max_samples,
                    rewards=config.rewards.apply_to(stage.rewards),
                    training=config.training.to_library(),
                    grpo=config.rollouts.to_library(),
                    mlflow=mlflow_tracking.target(building.run),
                )
                config_file = write_config(run_config, work / "grpo_config.yaml")
                stage_launcher.run(context, "viss_r1.train.grpo", str(config_file))
            publish_training(building, work, store, SUMMARY)

        built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                               config={**config.model_dump(), "stage": stage.model_dump(mode="json")}, inputs=inputs,
                               build=build)
        result = json.loads((Path(built.folder) / "result.json").read_text())
        return output(built, {
            "model": model_location(artifact_store, built.ref),
            **{k: built.summary[k] for k in SUMMARY if built.summary.get(k) is not None},
            "reward_curve": curve_table(result["rewards"], "reward"),
        })

    return _grpo

