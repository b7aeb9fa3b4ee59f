"""SFT stage: ``python -m viss_r1.train.sft --config FILE`` (also under ``accelerate launch``).

SSL-CoT SFT (ViSS-R1's warm start) trains on transformed clips with the ViSS-R1 prompt and the
target ``<think>…</think>\\n<transform>X</transform>\\n<answer>…</answer>``; ``prompt_format: r1``
gives the Video-R1 baseline's plain-CoT SFT on the original clips. TRL's ``SFTTrainer`` does the
training with our video collator. Checkpoints every ``save_steps``; a rerun with the same
``output_dir`` resumes from the last one. The final model and processor go to ``output_dir/final``
and a ``result.json`` beside it says what happened.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

from viss_r1.train.config import SFTRunConfig, load_config
from viss_r1.train.reporting import StepReporter, end_distributed, is_main_process, pipes_session

FINAL_DIR = "final"
CHECKPOINT_DIR = "checkpoints"
RESULT_FILE = "result.json"


def trainer_arguments(config: SFTRunConfig):
    """TRL ``SFTConfig`` from our settings; dataset preparation is skipped because the collator
    builds every batch from the frame cache."""
    import torch
    from trl import SFTConfig

    optim = config.training
    # On a machine without an accelerator say so: only then do several ranks (torchrun) form a
    # gloo process group on CPU instead of training side by side unaware of each other.
    cpu_only = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    return SFTConfig(
        output_dir=str(Path(config.output_dir) / CHECKPOINT_DIR),
        **optim.model_dump(exclude={"deepspeed", "freeze_vision_tower"}),
        deepspeed=optim.deepspeed,
        save_strategy="steps",
        logging_strategy="steps",
        report_to=[],
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        use_cpu=cpu_only,
    )


def run_sft(config: SFTRunConfig, pipes: Any | None = None, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train, save ``final/`` and ``result.json``; ``callbacks`` are extra ``TrainerCallback``s."""
    import datasets
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTTrainer

    from viss_r1.data.frame_cache import FrameCacheReader
    from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT
    from viss_r1.train.policy import load_policy, restore_checkpoint_weights
    from viss_r1.train.sft_data import VideoSFTCollator, load_sft_rows

    started = time.perf_counter()
    output = Path(config.output_dir)
    # The training arguments come first: with a ZeRO-3 config they switch on deepspeed.zero.Init,
    # so from_pretrained shards the weights as it loads instead of putting 7B on every rank.
    arguments = trainer_arguments(config)
    model, processor = load_policy(config.model, config.training.bf16, config.training.freeze_vision_tower)
    rows = load_sft_rows(config.samples, config.max_samples)
    collator = VideoSFTCollator(processor, FrameCacheReader(config.frame_shards), config.prompt_format,
                                config.system_prompt or DEFAULT_SYSTEM_PROMPT, config.transform_media)
    reporter = StepReporter(config.mlflow, pipes)
    trainer = SFTTrainer(model=model, args=arguments, train_dataset=datasets.Dataset.from_list(rows),
                         data_collator=collator, processing_class=processor, callbacks=[reporter, *callbacks])
    checkpoints = output / CHECKPOINT_DIR
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if resume and not config.training.deepspeed:
        restore_checkpoint_weights(model, resume)
    if pipes is not None and resume:
        pipes.log.info(f"resuming from {resume}")
    train = trainer.train(resume_from_checkpoint=resume)
    final = output / FINAL_DIR
    trainer.save_model(str(final))
    result = {
        "final_model": str(final),
        "resumed_from": resume,
        "global_step": trainer.state.global_step,
        "world_size": trainer.args.world_size,
        "samples": len(rows),
        "train_loss": train.training_loss,
        "first_loss": reporter.losses[0][1] if reporter.losses else None,
        "last_loss": reporter.losses[-1][1] if reporter.losses else None,
        "losses": reporter.losses,
        "tokens_seen": int(trainer.state.num_input_tokens_seen or 0),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if is_main_process():
        processor.save_pretrained(str(final))
        (output / RESULT_FILE).write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML or JSON file holding an SFTRunConfig")
    args, _ = parser.parse_known_args(argv)  # Pipes may append its own arguments
    config = load_config(args.config, SFTRunConfig)
    with pipes_session() as pipes:
        result = run_sft(config, pipes)
        if pipes is not None:
            pipes.report_asset_materialization(metadata={
                k: v for k, v in result.items() if k != "losses" and v is not None})
    end_distributed()


if __name__ == "__main__":
    main()
