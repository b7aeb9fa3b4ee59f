"""RL stages of the three arms (METHOD.md §1, §5, §6), each a GRPO run out of process:

- ViSS-R1:       sft_model → viss_r1_model (transform + user question; KL logged, not in the loss)
- Pretext-GRPO:  base_model → pretext_grpo_model (stage I, pretext only, β 0.04)
                 → pretext_grpo_stage2_model (stage II: ordinary GRPO on the real questions)
- Video-R1:      cot_sft_model → grpo_baseline_model (β 0.04)
"""

import json
from pathlib import Path

import dagster as dg

from assets.caching import Building, asset_code_version, build_or_reuse, output
from assets.configs import GRPOModelConfig
from assets.models import GROUP, _curve_table, finished_training, model_location, model_revision, publish_training
from assets.resources import ArtifactStoreResource, MlflowTracking, StageLauncher
from viss_r1.artifacts import ArtifactRef
from viss_r1.code_versions import code_version
from viss_r1.data.frame_cache import shard_files
from viss_r1.process import write_config
from viss_r1.train.config import GRPORunConfig, MlflowTarget

GRPO_CODE = code_version("viss_r1.train.grpo", packages=("torch", "transformers", "trl", "accelerate", "deepspeed",
                                                      "tokenizers", "jiwer", "rouge-score"))
SUMMARY = ("stage", "global_step", "prompts", "train_loss", "first_reward", "last_reward", "kl_in_loss", "seconds")


def grpo_asset(name: str, stage: str, start: str, table: str, description: str) -> dg.AssetsDefinition:
    """A GRPO stage that starts from the model asset ``start`` and trains on the pretext-sample
    table ``table`` (``viss_r1_rl``: videos; ``pretext_grpo``: every medium)."""

    @dg.asset(name=name, group_name=GROUP, pool="gpu", code_version=GRPO_CODE, description=description,
              ins={"start_model": dg.AssetIn(start)})
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
        inputs = {start: start_model, "pretext_samples": pretext_samples, "frame_cache": frame_cache}

        def build(building: Building) -> None:
            work = building.work_dir()
            store = artifact_store.store()
            if finished_training(context, work) is None:
                run_config = GRPORunConfig(
                    stage=stage,
                    model=model_location(artifact_store, start_model),
                    model_revision=model_revision(artifact_store, start_model),
                    output_dir=str(work),
                    samples=str(artifact_store.local_path(pretext_samples) / f"{table}.parquet"),
                    frame_shards=shard_files(store, artifact_store.local_path(frame_cache)),
                    system_prompt=config.system_prompt,
                    prompt_wording=config.prompt_wording,
                    max_samples=config.max_samples,
                    rewards=config.rewards.overrides(),
                    training=config.training.to_library(),
                    grpo=config.rollouts.to_library(),
                    mlflow=MlflowTarget(tracking_uri=building.run.tracking_uri, run_id=building.run.run_id),
                )
                config_file = write_config(run_config, work / "grpo_config.yaml")
                stage_launcher.run(context, "viss_r1.train.grpo", str(config_file))
            publish_training(building, work, store, SUMMARY)

        built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                               config={**config.model_dump(), "stage": stage, "table": table}, inputs=inputs,
                               build=build)
        result = json.loads((Path(built.folder) / "result.json").read_text())
        return output(built, {
            "model": model_location(artifact_store, built.ref),
            **{k: built.summary[k] for k in SUMMARY if built.summary.get(k) is not None},
            "reward_curve": dg.MetadataValue.md(_curve_table(result["rewards"], "reward")),
        })

    return _grpo


viss_r1_model = grpo_asset(
    "viss_r1_model", "viss_r1", "sft_model", "viss_r1_rl",
    "ViSS-R1 RL: transformed video, transform + user question; accuracy + 0.5·transform + format + length.")
pretext_grpo_model = grpo_asset(
    "pretext_grpo_model", "pretext_grpo", "base_model", "pretext_grpo",
    "Pretext-GRPO stage I: transformed video/image, pretext question only; pretext accuracy + format, β 0.04.")
pretext_grpo_stage2_model = grpo_asset(
    "pretext_grpo_stage2_model", "video_r1", "pretext_grpo_model", "pretext_grpo",
    "Pretext-GRPO stage II: ordinary GRPO on the real questions from the stage-I model, β 0.04.")
grpo_baseline_model = grpo_asset(
    "grpo_baseline_model", "video_r1", "cot_sft_model", "pretext_grpo",
    "Video-R1 baseline GRPO from the plain-CoT SFT model: original media, accuracy + format + length, β 0.04.")
