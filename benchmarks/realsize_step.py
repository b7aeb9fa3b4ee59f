"""A real-size ViSS-R1 step, built offline: what one GRPO step and one SSL-CoT SFT step cost at 3B or 7B.

    .venv/bin/python benchmarks/realsize_step.py [--size 3b|7b] [--steps 2] [--json OUT] [--workdir DIR]
    .venv/bin/python benchmarks/realsize_step.py --cpu --tiny [--json OUT]     # the plumbing, on a CPU, in a minute

Builds a Qwen2.5-VL model with the 3B or 7B checkpoint's dimensions (``viss_r1.modeling.sizes``) and
random weights — bf16, made on the GPU, nothing downloaded — with the tiny model's offline tokenizer,
and saves it. Then, each in its own process, as the recipe runs them
(``infra/configs/viss_r1_qwen2_5_vl_7b.yaml``: its frame sampling, the ViSS-R1 RL stage's training
and rollout settings, the SSL-CoT SFT stage's; release prompt wording, activation checkpointing):

- **ours**: ``VideoGRPOTrainer`` (the GRPO stage's own trainer arguments, ``viss_r1.train.grpo``)
  on ViSS-R1 prompts with a 32-frame clip at 128·28·28 px (arrow-transformed), G = 8 rollouts of
  exactly 768 tokens (``min_new_tokens``: a random model would otherwise stop anywhere), the
  stage's rewards, reference model scoring every rollout, KL logged only;
- **trl**: TRL's own ``GRPOTrainer``, same model, prompts, rewards and settings, the clip given as
  images — every second frame, as each image is repeated into one temporal patch — so both put the
  same number of vision tokens in a prompt (the report counts them in the prompts generation saw);
- **sft**: one SSL-CoT SFT step (TRL's ``SFTTrainer`` with our ``VideoSFTCollator``: transformed
  clip, ``<think><transform><answer>`` target, the recipe's loss masking and batch 1 × 2).

Rollouts are generated with transformers (the stage's default without a vLLM server). Each step is
split into phases timed inside the trainers (CUDA synchronised at every boundary): rollout
generation, the log-prob forward without gradients (the reference model's), the policy's log-prob
forward for the loss, backward + optimizer step (with DeepSpeed the engine steps inside backward),
and the rest (prompt encoding, rewards, padding). Also: peak GPU memory per step
(``torch.cuda.max_memory_allocated``; on a CPU, the process's max RSS) and rollout tokens per
second of generation. The first of ``--steps`` is a warm-up; figures are medians of the others.

DeepSpeed: the recipe's files (ZeRO-3 for GRPO, ZeRO-2 for SFT), on one GPU (one process, its own
rendezvous), when their state fits the card (16 bytes a parameter, + 2 for the GRPO reference
model); otherwise — the 7B on one 141 GB card — plain bf16 (weights, gradients and AdamW moments
in bf16: 8 bytes a parameter), and the report says why. A part that fails under DeepSpeed is run
again in plain bf16, and the report keeps DeepSpeed's error.

``--cpu --tiny`` runs the very same code on the tiny dimensions (4 frames, G = 2, 16-token
completions, fp32, no DeepSpeed): it proves the plumbing; its figures are not GPU figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "infra/configs/viss_r1_qwen2_5_vl_7b.yaml"
PARTS = ("ours", "trl", "sft")
# A real 16:9 clip (the benchmarks' 640×360), sampled and resized as the recipe's frame cache does.
SOURCE_CLIP = {"height": 360, "width": 640, "fps": 30.0, "total_frames": 600}
# The --tiny sizes: the least that runs every code path.
TINY = {"num_frames": 4, "pixels": 56 * 56, "num_generations": 2, "completion": 16}
# On one GPU a ZeRO stage keeps bf16 weights and gradients, fp32 master weights and two fp32 Adam
# moments: 16 bytes a parameter; the GRPO reference model adds its bf16 weights. Plain bf16 keeps
# weights, gradients and both AdamW moments in bf16: 8 bytes. Activations, the KV cache and the
# vision tower's patches need the rest of the card, hence the margin.
ZERO_BYTES_PER_PARAMETER = 16
PLAIN_BF16_BYTES_PER_PARAMETER = 8
REFERENCE_BYTES_PER_PARAMETER = 2
STATE_FRACTION_OF_CARD = 0.75
THINK = ("Let me look at the frames in order. The objects move from one side to the other, and the light changes "
         "as the camera pans. Wait, the motion runs against what the scene suggests, so the clip plays backward. "
         "Undoing that, the person first picks up the cup and then puts it down on the table. ")


# ----------------------------------------------------------------------------------- the plan
def recipe() -> dict[str, Any]:
    """The recipe's frame sampling and the two stages' settings, read from the 7B run config."""
    from viss_r1.stages import SSL_COT_SFT, VISS_R1_GRPO

    ops = yaml.safe_load(RECIPE.read_text())["ops"]
    return {"sampling": ops["frame_cache"]["config"]["sampling"],
            "grpo": ops[VISS_R1_GRPO.model]["config"], "sft": ops[SSL_COT_SFT.model]["config"]}


def frame_sampling(tiny: bool):
    from viss_r1.video.sampling import FrameSampling

    sampling = recipe()["sampling"]
    if tiny:
        return FrameSampling(num_frames=TINY["num_frames"], min_pixels=TINY["pixels"], max_pixels=TINY["pixels"])
    return FrameSampling(**{k: sampling[k] for k in ("num_frames", "fps", "min_frames", "max_frames", "min_pixels",
                                                     "max_pixels", "image_min_pixels", "image_max_pixels")})


def sample_rows(count: int, num_frames: int) -> list[dict[str, Any]]:
    """ViSS-R1 pretext-sample rows: a multiple-choice question on an arrow-reversed clip (the
    release's active RL transform), with a chain of thought for SFT."""
    from viss_r1.pretext.questions import pretext_question
    from viss_r1.pretext.transforms import TransformSpec

    spec = TransformSpec.of("video", "arrow", 1)
    return [{"sample_id": f"s{i}", "data_type": "video", "problem_type": "multiple choice",
             "problem": "What does the person do with the cup after picking it up?",
             "options": ["A. drinks from it", "B. puts it down on the table", "C. hands it over", "D. drops it"],
             "solution": "<answer>B</answer>", "process": f"<think>{THINK * 3}</think>",
             "transform_media": "video", "transform_name": spec.name, "transform_param": spec.param,
             "transform_letter": spec.letter, "num_frames": num_frames,
             "pretext_question": pretext_question("video", spec.name, num_frames)} for i in range(count)]


def clips(rows: list[dict[str, Any]], sampling, seed: int = 0) -> dict[str, Any]:
    """Per sample id: the transformed frames [T, C, H, W] uint8 and their timing, as the frame
    cache and ``viss_r1.data.loader`` would hand them over."""
    from viss_r1.data.loader import clip_metadata
    from viss_r1.pretext.transforms import TransformSpec, apply_transform
    from viss_r1.video.media import MediaInput
    from viss_r1.video.sampling import resized_frame_size, sample_frame_indices

    height, width = resized_frame_size(SOURCE_CLIP["height"], SOURCE_CLIP["width"], sampling)
    indices, _ = sample_frame_indices(SOURCE_CLIP["total_frames"], SOURCE_CLIP["fps"], sampling)
    rng = np.random.default_rng(seed)
    out = {}
    for row in rows:
        frames = rng.integers(0, 256, (len(indices), 3, height, width), dtype=np.uint8)
        frames = apply_transform(frames, TransformSpec.of("video", row["transform_name"], row["transform_param"]))
        timing = {"total_num_frames": SOURCE_CLIP["total_frames"], "fps": SOURCE_CLIP["fps"],
                  "frames_indices": indices.tolist()}
        out[row["sample_id"]] = MediaInput("video", frames, clip_metadata(timing, frames))
    return out


def build_model(plan: dict[str, Any]) -> dict[str, Any]:
    """Tokenizer, processor and random model of the plan's size, saved to ``plan["model_dir"]``."""
    import torch

    from viss_r1.modeling.sizes import QWEN2_5_VL_DIMS, build_random_model, count_parameters, qwen2_5_vl_config
    from viss_r1.modeling.tiny import TinyModelSpec, build_processor, train_tokenizer
    from viss_r1.prompts import PromptWording, build_prompt

    rows = sample_rows(4, plan["num_frames"])
    corpus = [build_prompt("transform_answer", row, PromptWording("release", stage)) for row in rows
              for stage in ("grpo", "sft")] + [row["process"] + row["solution"] for row in rows]
    tokenizer = train_tokenizer(corpus * 20, 4096)
    # Frames come sized from the "cache"; images (TRL's run) must keep that size too.
    pixels = plan["frame_size"][0] * plan["frame_size"][1]
    processor = build_processor(tokenizer, TinyModelSpec(min_pixels=pixels, max_pixels=pixels))
    config = qwen2_5_vl_config(QWEN2_5_VL_DIMS[plan["dims"]], tokenizer)
    started = time.perf_counter()
    model = build_random_model(config, tokenizer, torch.bfloat16 if plan["gpu"] else torch.float32,
                               "cuda" if plan["gpu"] else "cpu")
    model_dir = Path(plan["model_dir"])
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    parameters = count_parameters(config)
    del model
    if plan["gpu"]:
        torch.cuda.empty_cache()
    return {"parameters": parameters, "tokenizer_size": len(tokenizer), "vocab_size": config.text_config.vocab_size,
            "build_and_save_s": round(time.perf_counter() - started, 2)}


def choose_deepspeed(stage_file: str | None, parameters: int, gpu_bytes: int | None, reference: bool) -> tuple[str | None, str]:
    """(DeepSpeed file or None, why): the recipe's file when its state fits one card, else plain bf16."""
    if gpu_bytes is None:
        return None, "CPU: fp32, no DeepSpeed"
    if stage_file is None:
        return None, "the recipe names no DeepSpeed file"
    extra = REFERENCE_BYTES_PER_PARAMETER if reference else 0
    need = parameters * (ZERO_BYTES_PER_PARAMETER + extra)
    if need <= STATE_FRACTION_OF_CARD * gpu_bytes:
        return stage_file, f"{stage_file}: {need / 2**30:.0f} GiB of state on a {gpu_bytes / 2**30:.0f} GiB card"
    plain = parameters * (PLAIN_BF16_BYTES_PER_PARAMETER + extra)
    return None, (f"{stage_file} on one GPU would hold {need / 2**30:.0f} GiB of state ({ZERO_BYTES_PER_PARAMETER}"
                  f"{f' + {extra}' if extra else ''} B a parameter), over {STATE_FRACTION_OF_CARD:.0%} of the "
                  f"{gpu_bytes / 2**30:.0f} GiB card: plain bf16 instead ({plain / 2**30:.0f} GiB)")


# ----------------------------------------------------------------------------------- timing
class PhaseClock:
    """Seconds per phase of each optimizer step, peak memory per step and token counts.

    ``timed`` wraps a trainer's method so its time goes to a phase; the callback marks the steps
    and times the optimizer step. CUDA is synchronised at every boundary, so a phase's time is its
    kernels' time, not the launch of them."""

    def __init__(self, cuda: bool):
        from transformers import TrainerCallback

        self.cuda, self.steps = cuda, []
        self.counts: dict[str, int] = defaultdict(int)
        self._phases: dict[str, float] | None = None
        self._pending: dict[str, float] = defaultdict(float)   # timed before a step begins (its batch)
        clock = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                clock._sync()
                if clock.cuda:
                    import torch

                    torch.cuda.reset_peak_memory_stats()
                # The step's batch was collated before the step began: its time counts in the step.
                clock._phases, clock.counts, clock._pending = clock._pending, defaultdict(int), defaultdict(float)
                clock._begin = time.perf_counter() - sum(clock._phases.values())

            def on_pre_optimizer_step(self, args, state, control, **kwargs):
                clock._sync()
                clock._optimizer = time.perf_counter()

            def on_optimizer_step(self, args, state, control, **kwargs):
                clock._sync()
                clock._add("backward_optimizer_s", time.perf_counter() - clock._optimizer)

            def on_step_end(self, args, state, control, **kwargs):
                clock._sync()
                step = {"step_s": time.perf_counter() - clock._begin, **clock._phases, **clock.counts,
                        "peak_memory_gb": clock.peak_memory_gb()}
                clock.steps.append(step)
                clock._phases = None

        self.callback = Callback()

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def _add(self, phase: str, seconds: float) -> None:
        (self._phases if self._phases is not None else self._pending)[phase] += seconds

    def peak_memory_gb(self) -> float:
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**30
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # KiB on Linux

    def timed(self, phase: str | Callable[[], str], method, count: Callable[..., dict[str, int]] | None = None):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            self._sync()
            started = time.perf_counter()
            out = method(*args, **kwargs)
            self._sync()
            self._add(phase() if callable(phase) else phase, time.perf_counter() - started)
            if count is not None and self._phases is not None:
                for name, value in count(out, *args, **kwargs).items():
                    self.counts[name] += value
            return out
        return wrapper


def instrument_grpo(trainer, clock: PhaseClock, placeholders: set[int]) -> None:
    """Time TRL's methods that both trainers run: generation, the log-prob forwards, backward."""
    import torch

    def rollouts(out, prompt_ids, *args, **kwargs):
        completion_ids = out[0]
        return {"rollout_tokens": sum(len(ids) for ids in completion_ids), "rollouts": len(completion_ids),
                "vision_tokens_per_prompt": sum(1 for t in prompt_ids[0] if t in placeholders)}

    trainer._generate_single_turn = clock.timed("generation_s", trainer._generate_single_turn, rollouts)
    # Without gradients: the reference model (and the old policy when a batch is reused, which the
    # recipe's one iteration per batch never does); with them: the policy's forward for the loss.
    trainer._get_per_token_logps_and_entropies = clock.timed(
        lambda: "policy_forward_s" if torch.is_grad_enabled() else "reference_forward_s",
        trainer._get_per_token_logps_and_entropies)
    trainer.accelerator.backward = clock.timed("backward_optimizer_s", trainer.accelerator.backward)
    trainer._clip_grad_norm = clock.timed("backward_optimizer_s", trainer._clip_grad_norm)
    trainer.add_callback(clock.callback)


def instrument_sft(trainer, clock: PhaseClock) -> None:
    def tokens(out, model, inputs, *args, **kwargs):
        return {"tokens": int(inputs["attention_mask"].sum())}

    # Frames → processor → padded batch with labels: before the step, in this process (0 workers).
    trainer.data_collator = clock.timed("collate_s", trainer.data_collator)
    trainer.compute_loss = clock.timed("forward_s", trainer.compute_loss, tokens)
    trainer.accelerator.backward = clock.timed("backward_optimizer_s", trainer.accelerator.backward)
    trainer._clip_grad_norm = clock.timed("backward_optimizer_s", trainer._clip_grad_norm)
    trainer.add_callback(clock.callback)


def summary(steps: list[dict[str, float]], phases: tuple[str, ...]) -> dict[str, float]:
    """Medians over the steps after the first (the warm-up), or the only step; ``other_s`` is the
    step's time outside the named phases; tokens per second of generation (GRPO) or of the step (SFT)."""
    measured = steps[1:] if len(steps) > 1 else steps
    out = {name: statistics.median(step.get(name, 0.0) for step in measured)
           for name in ("step_s", *phases, "peak_memory_gb", "rollout_tokens", "rollouts",
                        "vision_tokens_per_prompt", "tokens") if any(name in step for step in measured)}
    out["other_s"] = statistics.median(step["step_s"] - sum(step.get(p, 0.0) for p in phases) for step in measured)
    if "rollout_tokens" in out:
        out["rollout_tokens_per_s"] = statistics.median(
            step["rollout_tokens"] / step["generation_s"] for step in measured if step.get("generation_s"))
    if "tokens" in out:
        out["tokens_per_s"] = statistics.median(step["tokens"] / step["step_s"] for step in measured)
    out["measured_steps"] = len(measured)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


GRPO_PHASES = ("generation_s", "reference_forward_s", "policy_forward_s", "backward_optimizer_s")
SFT_PHASES = ("collate_s", "forward_s", "backward_optimizer_s")


# ----------------------------------------------------------------------------------- the parts
def single_process_rendezvous() -> None:
    """What a launcher gives one process, so DeepSpeed forms a world of one under
    torch.distributed instead of looking for MPI (benchmarks/gpu_smoke.py says more)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})


def grpo_arguments(plan: dict[str, Any], part: str, out: Path):
    """The GRPO stage's own trainer arguments for the recipe's ViSS-R1 RL settings, ``--steps`` long."""
    from viss_r1.rewards import stage_rewards
    from viss_r1.stages import VISS_R1_GRPO
    from viss_r1.train.config import GRPORunConfig, GRPOSettings, OptimSettings
    from viss_r1.train.grpo import trainer_arguments

    settings = recipe()["grpo"]
    grpo = GRPOSettings(**settings["rollouts"])
    if plan["tiny"]:
        grpo = grpo.model_copy(update={"num_generations": TINY["num_generations"],
                                       "max_completion_length": TINY["completion"]})
    config = GRPORunConfig(
        stage=VISS_R1_GRPO, model=plan["model_dir"], output_dir=str(out), samples="(in memory)", frame_shards=[],
        prompt_wording=settings["prompt_wording"], grpo=grpo,
        training=stage_training(settings["training"], plan, part))
    rewards = stage_rewards(VISS_R1_GRPO.prompt_format, config.rewards)
    return config, rewards, without_checkpoints(trainer_arguments(config, rewards.weights))


def without_checkpoints(arguments):
    """The stage's arguments save every save_steps and at the end; a timed step saves nothing (a
    ZeRO checkpoint of a real-size model is tens of GB)."""
    from transformers.trainer_utils import SaveStrategy

    arguments.save_strategy = SaveStrategy.NO
    return arguments


def stage_training(training: dict[str, Any], plan: dict[str, Any], part: str):
    from viss_r1.train.config import OptimSettings

    deepspeed = plan["deepspeed"][part]
    return OptimSettings(**training).model_copy(update={
        "max_steps": plan["steps"], "bf16": plan["gpu"], "deepspeed": str(REPO / deepspeed) if deepspeed else None,
        "logging_steps": 1, "dataloader_num_workers": 0,
        "schedule_horizon_steps": None, "schedule_horizon_epochs": None})


def run_grpo_part(plan: dict[str, Any], part: str, out: Path) -> dict[str, Any]:
    import datasets
    from PIL import Image
    from trl import GRPOTrainer

    from viss_r1.modeling.tiny import VISION_TOKENS
    from viss_r1.prompts import build_prompt, chat_messages, system_prompt_for
    from viss_r1.train.grpo import ROW_COLUMNS
    from viss_r1.train.policy import load_policy
    from viss_r1.train.video_grpo import VideoGRPOTrainer

    config, rewards, arguments = grpo_arguments(plan, part, out)   # before the model: ZeRO-3 loads it sharded
    model, processor = load_policy(config.model, config.training)
    vision_ids = processor.tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
    placeholders = set(processor.tokenizer.convert_tokens_to_ids(["<|image_pad|>", "<|video_pad|>"]))
    length = config.grpo.max_completion_length
    # Every rollout exactly `length` tokens, never a vision placeholder: both trainers alike.
    arguments.generation_kwargs = {**arguments.generation_kwargs, "min_new_tokens": length,
                                   "suppress_tokens": vision_ids}
    rows = sample_rows(plan["steps"] + 1, plan["num_frames"])
    media = clips(rows, frame_sampling(plan["tiny"]))
    stage = config.stage
    system = system_prompt_for(stage.prompt_format, config.wording, config.system_prompt)
    text = {row["sample_id"]: build_prompt(stage.prompt_format, row, config.wording) for row in rows}
    columns = [{k: row.get(k) for k in ROW_COLUMNS} for row in rows]
    clock = PhaseClock(plan["gpu"])
    if part == "ours":
        def prompt_request(row):
            return chat_messages(text[row["sample_id"]], "video", system), media[row["sample_id"]]

        dataset = datasets.Dataset.from_list([
            {"prompt": chat_messages(text[c["sample_id"]], "video", system), **c} for c in columns])
        trainer = VideoGRPOTrainer(model=model, reward_funcs=rewards.funcs, args=arguments, train_dataset=dataset,
                                   processing_class=processor, prompt_request=prompt_request)
    else:
        # One image per temporal patch: each image is repeated into a patch of its own, so every
        # second frame gives TRL the clip's vision tokens (and patches) exactly.
        step = processor.video_processor.temporal_patch_size
        images = {sid: [Image.fromarray(frame.transpose(1, 2, 0)) for frame in clip.frames[::step]]
                  for sid, clip in media.items()}

        def messages(sid):
            count = len(images[sid])
            return [{"role": "system", "content": [{"type": "text", "text": system}]},
                    {"role": "user", "content": [{"type": "image"}] * count + [{"type": "text", "text": text[sid]}]}]

        def with_images(batch):
            batch["images"] = [images[sid] for sid in batch["sample_id"]]
            return batch

        dataset = datasets.Dataset.from_list([{"prompt": messages(c["sample_id"]), **c} for c in columns])
        trainer = GRPOTrainer(model=model, reward_funcs=rewards.funcs, args=arguments,
                              train_dataset=dataset.with_transform(with_images), processing_class=processor)
    instrument_grpo(trainer, clock, placeholders)
    trainer.train()
    return {"steps": clock.steps, "measured": summary(clock.steps, GRPO_PHASES),
            "kl_in_loss": getattr(arguments, "kl_in_loss", None) if part == "ours" else arguments.beta != 0}


def run_sft_part(plan: dict[str, Any], out: Path) -> dict[str, Any]:
    import datasets
    from trl import SFTTrainer

    from viss_r1.prompts import system_prompt_for
    from viss_r1.stages import SSL_COT_SFT
    from viss_r1.train.config import SFTRunConfig
    from viss_r1.train.policy import load_policy
    from viss_r1.train.sft import trainer_arguments
    from viss_r1.train.sft_data import VideoSFTCollator

    settings = recipe()["sft"]
    config = SFTRunConfig(stage=SSL_COT_SFT, model=plan["model_dir"], output_dir=str(out), samples="(in memory)",
                          frame_shards=[], prompt_wording=settings["prompt_wording"], loss_on=settings["loss_on"],
                          training=stage_training(settings["training"], plan, "sft"))
    arguments = without_checkpoints(trainer_arguments(config))   # before the model: under ZeRO-3 it loads sharded
    model, processor = load_policy(config.model, config.training)
    training = config.training
    rows = sample_rows(plan["steps"] * training.per_device_train_batch_size * training.gradient_accumulation_steps
                       + 1, plan["num_frames"])
    media = clips(rows, frame_sampling(plan["tiny"]))
    stage = config.stage

    class InMemoryCollator(VideoSFTCollator):
        def request(self, row):
            from viss_r1.prompts import build_prompt, chat_messages

            messages = chat_messages(build_prompt(self.prompt_format, row, self.wording), "video", self.system_prompt)
            return messages, media[row["sample_id"]]

    collator = InMemoryCollator(processor, None, stage.prompt_format,
                                system_prompt_for(stage.prompt_format, config.wording, config.system_prompt),
                                stage.transform_media, config.loss_on, config.wording)
    trainer = SFTTrainer(model=model, args=arguments, train_dataset=datasets.Dataset.from_list(rows),
                         data_collator=collator, processing_class=processor)
    clock = PhaseClock(plan["gpu"])
    instrument_sft(trainer, clock)
    trainer.train()
    return {"steps": clock.steps, "measured": summary(clock.steps, SFT_PHASES),
            "batch": f"{training.per_device_train_batch_size} × {training.gradient_accumulation_steps} accumulation",
            "loss_on": config.loss_on}


def run_part(plan: dict[str, Any], part: str) -> dict[str, Any]:
    """One part in this process (``--part``): its figures, also written to the plan's folder."""
    started = time.perf_counter()
    if plan["deepspeed"][part]:
        single_process_rendezvous()
    out = Path(plan["workdir"]) / part
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = run_sft_part(plan, out) if part == "sft" else run_grpo_part(plan, part, out)
    result.update(deepspeed=plan["deepspeed"][part], seconds=round(time.perf_counter() - started, 2))
    (Path(plan["workdir"]) / f"{part}.json").write_text(json.dumps(result, indent=2))
    return result


def launch_part(plan_file: Path, plan: dict[str, Any], part: str, timeout: float | None) -> dict[str, Any]:
    """A part in a process of its own (so each starts with an empty GPU); its figures or its error."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if not plan["gpu"]:
        env["CUDA_VISIBLE_DEVICES"] = ""
    result_file = Path(plan["workdir"]) / f"{part}.json"
    result_file.unlink(missing_ok=True)
    log = Path(plan["workdir"]) / f"{part}.log"
    print(f"[{part}] starting (log: {log})", flush=True)
    with log.open("w") as sink:
        try:
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--part", part, "--plan", str(plan_file)],
                                  cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    if code == 0 and result_file.exists():
        return json.loads(result_file.read_text())
    tail = log.read_text()[-3000:]
    print(f"[{part}] failed ({code}); the end of its log:\n{tail}", file=sys.stderr, flush=True)
    return {"error": f"exit {code}", "log_tail": tail, "deepspeed": plan["deepspeed"][part]}


# ----------------------------------------------------------------------------------- report
def print_report(report: dict[str, Any]) -> None:
    model, setup = report["model"], report["setup"]
    print(f"\n{report['device']}: Qwen2.5-VL-{report['size'].upper()} dimensions, random {report['precision']} "
          f"weights ({model['parameters']:,} parameters)")
    print(f"{setup['num_frames']} frames of {setup['frame_size'][0]}×{setup['frame_size'][1]} px, "
          f"G = {setup['num_generations']}, {setup['completion_tokens']}-token completions, "
          f"activation checkpointing {'on' if setup['activation_checkpointing'] else 'off'}; peak memory: "
          f"{report['peak_memory']}")
    print(f"{'GRPO step':18s} {'step s':>8s} {'generate':>9s} {'ref fwd':>8s} {'pol fwd':>8s} {'bwd+opt':>8s} "
          f"{'other':>7s} {'tok/s':>8s} {'vision':>6s} {'peak GB':>8s}  DeepSpeed")
    for name, label in (("ours", "ours (video)"), ("trl", "TRL (images)")):
        part = report["parts"].get(name, {})
        m = part.get("measured")
        if not m:
            print(f"{label:18s} {part.get('error', 'not run')}")
            continue
        print(f"{label:18s} {m['step_s']:8.2f} {m.get('generation_s', 0):9.2f} {m.get('reference_forward_s', 0):8.2f} "
              f"{m.get('policy_forward_s', 0):8.2f} {m.get('backward_optimizer_s', 0):8.2f} {m['other_s']:7.2f} "
              f"{m.get('rollout_tokens_per_s', 0):8.1f} {m.get('vision_tokens_per_prompt', 0):6d} "
              f"{m['peak_memory_gb']:8.2f}  {part['deepspeed'] or 'none'}")
    sft = report["parts"].get("sft", {})
    m = sft.get("measured")
    print(f"{'SSL-CoT SFT step':18s} " + (
        f"{m['step_s']:8.2f}  forward {m.get('forward_s', 0):.2f}  bwd+opt {m.get('backward_optimizer_s', 0):.2f}  "
        f"other {m['other_s']:.2f}  {m.get('tokens_per_s', 0):.1f} tok/s  peak {m['peak_memory_gb']:.2f} GB  "
        f"DeepSpeed {sft['deepspeed'] or 'none'}" if m else sft.get("error", "not run")))
    if report.get("ours_over_trl") is not None:
        print(f"ours / TRL step time: {report['ours_over_trl']:.3f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("3b", "7b"), default="3b", help="the checkpoint whose dimensions to build")
    parser.add_argument("--tiny", action="store_true", help="the tiny dimensions and sizes instead (with --cpu)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (fp32, no DeepSpeed): plumbing only")
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per part; the first is a warm-up")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--deepspeed", choices=("recipe", "off"), default="recipe",
                        help="recipe: the recipe's ZeRO files where their state fits the card; off: plain bf16")
    parser.add_argument("--part-timeout", type=float, help="seconds each part may take")
    parser.add_argument("--workdir", type=Path, help="keep the model and logs here (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="write the figures here (after every part)")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        run_part(json.loads(args.plan.read_text()), args.part)
        return

    import torch

    gpu = not args.cpu
    if gpu and not torch.cuda.is_available():
        raise SystemExit("realsize_step needs a CUDA GPU: torch.cuda.is_available() is False "
                         "(run it on a CUDA machine, or pass --cpu --tiny to check the plumbing only)")
    if args.cpu and not args.tiny:
        raise SystemExit("--cpu builds the tiny dimensions only: a real-size model does not train on a CPU "
                         "(pass --cpu --tiny)")
    if args.steps < 1:
        raise SystemExit(f"--steps {args.steps}: at least one step")
    settings = recipe()
    sampling = frame_sampling(args.tiny)
    from viss_r1.video.sampling import resized_frame_size, sample_frame_indices

    with tempfile.TemporaryDirectory(prefix="realsize_") as tmp:
        work = (args.workdir or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        plan: dict[str, Any] = {
            "dims": "tiny" if args.tiny else args.size, "tiny": args.tiny, "gpu": gpu, "steps": args.steps,
            "workdir": str(work), "model_dir": str(work / "model"),
            "num_frames": len(sample_frame_indices(SOURCE_CLIP["total_frames"], SOURCE_CLIP["fps"], sampling)[0]),
            "frame_size": list(resized_frame_size(SOURCE_CLIP["height"], SOURCE_CLIP["width"], sampling)),
            "deepspeed": {part: None for part in PARTS}}
        print(f"building the {plan['dims']} model in {plan['model_dir']}", flush=True)
        model = build_model(plan)
        gpu_bytes = torch.cuda.get_device_properties(0).total_memory if gpu else None
        why = {}
        for part in PARTS:
            stage_file = (settings["sft"] if part == "sft" else settings["grpo"])["training"].get("deepspeed")
            chosen, why[part] = choose_deepspeed(stage_file if args.deepspeed == "recipe" else None,
                                                 model["parameters"], gpu_bytes, reference=part != "sft")
            plan["deepspeed"][part] = chosen
            if args.deepspeed == "off" and gpu:
                why[part] = "--deepspeed off: plain bf16"
        grpo_settings = settings["grpo"]["rollouts"]
        report: dict[str, Any] = {
            "device": torch.cuda.get_device_name(0) if gpu else "cpu (plumbing check, not GPU figures)",
            "size": plan["dims"], "precision": "bf16" if gpu else "fp32",
            "model": model,
            "setup": {"num_frames": plan["num_frames"], "frame_size": plan["frame_size"],
                      "num_generations": TINY["num_generations"] if args.tiny else grpo_settings["num_generations"],
                      "completion_tokens": TINY["completion"] if args.tiny else grpo_settings["max_completion_length"],
                      "activation_checkpointing": settings["grpo"]["training"]["activation_checkpointing"],
                      "steps": args.steps, "rollouts": "transformers generate (no vLLM server)",
                      "trl_images": "every second frame as an image (one temporal patch each)"},
            "peak_memory": "torch.cuda.max_memory_allocated per step" if gpu else "max RSS of the part's process (CPU)",
            "deepspeed_choice": why, "parts": {}}

        def save() -> None:
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(report, indent=2))

        save()
        for part in args.parts:
            plan_file = work / "plan.json"
            plan_file.write_text(json.dumps(plan, indent=2))
            result = launch_part(plan_file, plan, part, args.part_timeout)
            if "error" in result and plan["deepspeed"][part]:
                # ZeRO could not run here: the same part in plain bf16, DeepSpeed's error kept.
                failed, plan["deepspeed"][part] = result, None
                plan_file.write_text(json.dumps(plan, indent=2))
                result = {**launch_part(plan_file, plan, part, args.part_timeout), "deepspeed_failure": failed}
            report["parts"][part] = result
            save()
        ours, trl = (report["parts"].get(name, {}).get("measured") for name in ("ours", "trl"))
        report["ours_over_trl"] = round(ours["step_s"] / trl["step_s"], 4) if ours and trl else None
        save()
    print_report(report)
    failed = [part for part, result in report["parts"].items() if "error" in result]
    if failed:
        raise SystemExit(f"realsize_step: {', '.join(failed)} failed; their logs' ends are above")


if __name__ == "__main__":
    main()
