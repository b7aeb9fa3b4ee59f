"""Typed run configs of the training processes, read from a YAML or JSON file.

The same objects are written by the Dagster assets and by a user launching a stage by hand, so
a run config in ``infra/configs/`` and an asset run mean exactly the same thing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MlflowTarget(_Strict):
    """The MLflow run that receives the step metrics (the asset's nested run)."""

    tracking_uri: str
    run_id: str


class OptimSettings(_Strict):
    """Trainer settings shared by SFT and GRPO. Defaults: the release's 7B recipe (METHOD.md §6);
    the embedded default overrides them for the tiny model (``viss_r1.embedded``)."""

    num_train_epochs: float = 1.0
    max_steps: int = -1                      # > 0 overrides epochs
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = 0.0               # an int: steps; a float in [0, 1): fraction of all steps
    weight_decay: float = 0.01
    max_grad_norm: float = 5.0
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 2     # 8 GPUs × 1 × 2 = effective batch 16
    bf16: bool = True
    activation_checkpointing: bool = True    # a.k.a. gradient checkpointing
    deepspeed: str | None = None             # a ZeRO JSON from infra/deepspeed/
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 1
    seed: int = 42
    dataloader_num_workers: int = 0


class SFTRunConfig(_Strict):
    """One SFT run: the model to start from, the samples, how to present them, how to train."""

    model: str                               # local folder or hub id; trust_remote_code stays off
    output_dir: str                          # checkpoints/ and final/ go here
    samples: str                             # Parquet table of the SFT use (pretext_samples)
    frame_shards: list[Path]                 # frame-cache shard files holding the samples' clips
    prompt_format: Literal["viss_r1", "r1"] = "viss_r1"  # SSL-CoT (ViSS-R1) or plain CoT (Video-R1)
    system_prompt: str | None = None         # None: viss_r1.prompts.DEFAULT_SYSTEM_PROMPT
    max_samples: int | None = None
    training: OptimSettings = Field(default_factory=OptimSettings)
    mlflow: MlflowTarget | None = None

    @property
    def transform_media(self) -> bool:
        """SSL-CoT trains on transformed media; plain CoT on the original clips."""
        return self.prompt_format == "viss_r1"


class CotAnnotationRunConfig(_Strict):
    """One SSL-CoT re-annotation run (``python -m viss_r1.data.cot_annotation``)."""

    annotator: str                      # local checkpoint or hub id (the release: Qwen2.5-VL-72B-Instruct)
    samples: str                        # pretext-sample table (SFT use): record + transform spec
    frame_shards: list[Path]
    output_dir: str
    min_answer_accuracy: float = 1.0    # kept only if the answer scores at least this (free-form: ROUGE)
    max_samples: int | None = None
    max_new_tokens: int = 1024
    temperature: float = 0.01
    top_p: float = 0.001
    batch_size: int = 8


def load_config(path: str | Path, model: type[_Strict]) -> _Strict:
    text = Path(path).read_text()
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    return model.model_validate(data)


def write_config(config: _Strict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path
