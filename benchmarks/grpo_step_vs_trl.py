"""What does video cost in a GRPO step? ``VideoGRPOTrainer`` against TRL's own ``GRPOTrainer``.

The same tiny Qwen2.5-VL model, the same prompts, rewards, completions per step and completion
length; TRL is given each clip's first frame as an image, ours the clip as video. A 2-frame clip
makes one temporal patch, so both runs put the same number of vision tokens (16 at 112×112) in
every prompt and the ratio measures our subclass — per-group encoding, vision fields in every
forward — not a longer input. Goal (issue 4): ours ≤ 1.15× TRL's time per step.

    .venv/bin/python benchmarks/grpo_step_vs_trl.py [--steps 12] [--warmup 3] [--rounds 3]

The two trainers run alternately, ``--rounds`` times each, so drifts of a shared machine hit both;
the figure is the median step over all rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

PROMPT = "Which way does the bar grow? Answer inside <answer></answer>."


def rows(count: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"sample_id": f"s{i}", "frames": rng.integers(0, 255, (2, 3, 112, 112), dtype=np.uint8),
             "solution": "<answer>A</answer>", "problem_type": "multiple choice"} for i in range(count)]


def length_only_reward(completions, **kwargs):
    """A cheap reward with spread, so every step has advantages to learn from."""
    return [float(len(c[0]["content"]) % 7) for c in completions]


def arguments(out: Path, steps: int, generations: int, length: int, vision_ids: list[int]):
    from viss_r1.train.video_grpo import VideoGRPOConfig   # TRL's GRPOConfig + the video fields: both trainers take it

    return VideoGRPOConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=generations,
                      num_generations=generations, max_completion_length=length, learning_rate=1e-5,
                      beta=0.04, loss_type="grpo", temperature=1.0, top_p=0.95, logging_steps=10_000, report_to=[],
                      save_strategy="no", use_cpu=True, disable_tqdm=True, remove_unused_columns=False, seed=0,
                      # every completion exactly `length` long, never a vision placeholder (both runs)
                      generation_kwargs={"min_new_tokens": length, "suppress_tokens": vision_ids})


class StepTimes:
    def __init__(self):
        from transformers import TrainerCallback

        times = self.times = []

        class Timer(TrainerCallback):
            def on_step_begin(self, *args, **kwargs):
                self.start = time.perf_counter()

            def on_step_end(self, *args, **kwargs):
                times.append(time.perf_counter() - self.start)

        self.callback = Timer()


def run_trl(model_dir: Path, data: list[dict], args) -> list[float]:
    import datasets
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOTrainer

    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    dataset = datasets.Dataset.from_list([
        {"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}],
         "image": Image.fromarray(row["frames"][0].transpose(1, 2, 0))} for row in data])
    timer = StepTimes()
    trainer = GRPOTrainer(model=model, reward_funcs=[length_only_reward], train_dataset=dataset,
                          processing_class=processor, callbacks=[timer.callback], args=args)
    trainer.train()
    return timer.times


def run_ours(model_dir: Path, data: list[dict], args) -> list[float]:
    import datasets
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from viss_r1.train.video_grpo import VideoGRPOTrainer
    from viss_r1.video.media import MediaInput

    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    by_id = {row["sample_id"]: row for row in data}
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": PROMPT}]}]

    def prompt_request(row):
        clip = by_id[row["sample_id"]]["frames"]
        return messages, MediaInput("video", clip, {"fps": 2.0, "total_num_frames": 2, "frames_indices": [0, 1]})

    dataset = datasets.Dataset.from_list([{"prompt": messages, "sample_id": row["sample_id"]} for row in data])
    timer = StepTimes()
    trainer = VideoGRPOTrainer(model=model, reward_funcs=[length_only_reward], train_dataset=dataset,
                               processing_class=processor, callbacks=[timer.callback], args=args,
                               prompt_request=prompt_request)
    trainer.train()
    return timer.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--completion-length", type=int, default=64)
    options = parser.parse_args()

    import torch

    from viss_r1.modeling.tiny import TinyModelSpec, build_tiny_model

    torch.set_num_threads(2)
    data = rows(64)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        build_tiny_model(model_dir, [PROMPT, "<answer>A</answer> the bar grows to the right"] * 50, TinyModelSpec())
        from transformers import AutoTokenizer

        from viss_r1.modeling.tiny import VISION_TOKENS

        vision_ids = AutoTokenizer.from_pretrained(model_dir).convert_tokens_to_ids(list(VISION_TOKENS))
        times: dict[str, list[float]] = {"trl (image)": [], "ours (video)": []}
        for round_ in range(options.rounds):
            for name, run in (("trl (image)", run_trl), ("ours (video)", run_ours)):
                args = arguments(Path(tmp) / name.split()[0], options.steps, options.generations,
                                 options.completion_length, vision_ids)
                steps = run(model_dir, data, args)[options.warmup:]
                times[name] += steps
                print(f"round {round_ + 1}: {name:13s} median step {statistics.median(steps) * 1000:7.1f} ms")
        results = {name: statistics.median(values) for name, values in times.items()}
        for name, value in results.items():
            print(f"{name:13s} median step {value * 1000:7.1f} ms over {len(times[name])} steps "
                  f"({options.generations} completions × {options.completion_length} tokens)")
    ratio = results["ours (video)"] / results["trl (image)"]
    print(f"ratio ours / trl: {ratio:.3f}× (goal ≤ 1.15×)")


if __name__ == "__main__":
    main()
