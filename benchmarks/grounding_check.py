"""Can the tiny model learn to answer a synthetic question from the video? A few minutes per setting.

Builds the embedded tiny model offline (its vision tower pretrained for ``--vision-pretraining-steps``,
0 = random, on ``--vision-pretraining-target``), then trains its language model and merger on one multiple-choice scene, the answer
letter alone as the target, and scores held-out clips two ways: clean, and blind (every frame the
clip's background colour, the evaluation's shape-keeping probe). Clean above blind is reading the
video; clean equal to blind is answering from the text.

The embedded run's settings came from here (README, "What the tiny model learns"): the tower
pretrained to redraw what departs from the clip's background and how it moves, and options in a fixed order (``--shuffled-options`` shuffles them as they were before).
The clips are drawn on seeds of their own, apart from the dataset's.

    .venv/bin/python benchmarks/grounding_check.py [--scene motion_direction] [--steps 600]
        [--vision-pretraining-steps 0] [--vision-pretraining-target appearance] [--shuffled-options]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from viss_r1.embedded import EMBEDDED_TINY_MODEL
from viss_r1.video.media import uniform_frames
from viss_r1.modeling.video_inputs import forward_kwargs, model_inputs
from viss_r1.pretext.transforms import OPTION_LETTERS
from viss_r1.synthetic.scenes import SCENES, Clip, Layout
from viss_r1.train.sft_data import assistant_labels
from viss_r1.video.media import MediaInput

FRAMES, SIDE, FPS = 16, 112, 8   # the embedded frame cache's clips: 16 frames of 112 px, every 2nd of 32
TIMING = {"fps": float(FPS), "total_num_frames": 2 * FRAMES, "frames_indices": list(range(0, 2 * FRAMES, 2))}
TRAIN_SEEDS, HELD_OUT_SEEDS = 1 << 40, 1 << 41   # far from the dataset's SeedSequence streams


def draw(scene: str, seed: int, shuffle: bool) -> tuple[Clip, np.ndarray]:
    clip = SCENES[scene](np.random.default_rng(seed), Layout(2 * FRAMES, SIDE, SIDE, FPS))
    if shuffle:   # the old, shuffled option order, drawn from a stream of its own
        words = [option.split(". ", 1)[1] for option in clip.options]
        right = words[OPTION_LETTERS.index(clip.answer)]
        words = [words[i] for i in np.random.default_rng([seed, 1]).permutation(len(words))]
        clip = dataclasses.replace(clip, options=tuple(f"{OPTION_LETTERS[i]}. {w}" for i, w in enumerate(words)),
                                   answer=OPTION_LETTERS[words.index(right)])
    return clip, np.ascontiguousarray(clip.frames[::2].transpose(0, 3, 1, 2))


def prompt(clip: Clip) -> list[dict]:
    question = f"{clip.problem}\n" + "\n".join(clip.options) + "\nAnswer with the option letter."
    return [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]


def build_model(folder: Path, scene: str, pretraining_steps: int, pretraining_clips: int, pretraining_target: str):
    from viss_r1.modeling.tiny import build_tiny_model

    corpus = []
    for seed in range(200):
        clip, _ = draw(scene, seed, shuffle=False)
        corpus += [prompt(clip)[0]["content"][1]["text"], f"<answer>{clip.answer}</answer>"]
    spec = EMBEDDED_TINY_MODEL.model_copy(update={"vision_pretraining_steps": pretraining_steps,
                                                  "vision_pretraining_clips": pretraining_clips,
                                                  "vision_pretraining_target": pretraining_target})
    return build_tiny_model(folder, corpus, spec)


class LetterTrainer:
    """The language model and merger of a tiny model, trained and scored on the answer letter."""

    def __init__(self, folder: Path, learning_rate: float, num_letters: int):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = AutoModelForImageTextToText.from_pretrained(folder)
        vision = self.model.model.visual
        vision.requires_grad_(False)        # the pipeline's freeze_vision_tower …
        vision.merger.requires_grad_(True)  # … with train_vision_merger
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad],
                                           lr=learning_rate, weight_decay=0.01)
        tokenizer = self.processor.tokenizer
        # The letter is read where the model writes it: "<answer" then ">A" is one token.
        # Only the letters the scene uses: the tokenizer learns no merge for a letter it never saw.
        self.letters = [tokenizer.encode(f"<answer>{letter}")[-1] for letter in OPTION_LETTERS[:num_letters]]
        spelled = [tokenizer.decode([token]) for token in self.letters]
        if spelled != [f">{letter}" for letter in OPTION_LETTERS[:num_letters]]:
            raise ValueError(f"the tokenizer splits the answer letters unexpectedly: {spelled}")

    def batch(self, items, answered: bool, blind: bool = False):
        texts = [self.processor.apply_chat_template(prompt(clip), tokenize=False, add_generation_prompt=True)
                 + (f"<answer>{clip.answer}</answer><|im_end|>" if answered else "<answer") for clip, _ in items]
        media = [MediaInput("video", uniform_frames(frames) if blind else frames, TIMING) for _, frames in items]
        return model_inputs(self.processor, texts, media, padding_side="right" if answered else "left")

    def step(self, items, scale: float) -> float:
        import torch

        batch = self.batch(items, answered=True)
        labels = assistant_labels(batch["input_ids"], batch["attention_mask"], self.processor.tokenizer)
        loss = self.model(**forward_kwargs(batch), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * scale
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def accuracy(self, held_out, blind: bool) -> float:
        import torch

        self.model.eval()
        correct = 0
        for start in range(0, len(held_out), 16):
            items = held_out[start:start + 16]
            with torch.no_grad():
                logits = self.model(**forward_kwargs(self.batch(items, answered=False, blind=blind))).logits[:, -1]
            for row, (clip, _) in enumerate(items):
                scores = logits[row, self.letters[:len(clip.options)]]
                correct += OPTION_LETTERS[int(scores.argmax())] == clip.answer
        self.model.train()
        return 100 * correct / len(held_out)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="motion_direction", choices=["motion_direction", "moving_colour", "event_order", "moving_place"])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--train-clips", type=int, default=800)
    parser.add_argument("--held-out-clips", type=int, default=160)
    parser.add_argument("--vision-pretraining-steps", type=int, default=300)
    parser.add_argument("--vision-pretraining-clips", type=int, default=EMBEDDED_TINY_MODEL.vision_pretraining_clips)
    parser.add_argument("--vision-pretraining-target", default=EMBEDDED_TINY_MODEL.vision_pretraining_target,
                        choices=["appearance", "foreground_and_motion"])
    parser.add_argument("--shuffled-options", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)

    started = time.time()
    train = [draw(args.scene, TRAIN_SEEDS + i, args.shuffled_options) for i in range(args.train_clips)]
    held_out = [draw(args.scene, HELD_OUT_SEEDS + i, args.shuffled_options) for i in range(args.held_out_clips)]
    with tempfile.TemporaryDirectory() as folder:
        built = build_model(Path(folder), args.scene, args.vision_pretraining_steps, args.vision_pretraining_clips,
                            args.vision_pretraining_target)
        trainer = LetterTrainer(Path(folder), args.learning_rate, max(len(clip.options) for clip, _ in train))
    order, losses = np.random.default_rng(0), []
    for step in range(args.steps):
        warm, cosine = min(1.0, (step + 1) / 20), 0.5 * (1 + np.cos(np.pi * step / args.steps))
        losses.append(trainer.step([train[int(i)] for i in order.integers(len(train), size=args.batch_size)],
                                   warm * cosine))
    clean, blind = trainer.accuracy(held_out, blind=False), trainer.accuracy(held_out, blind=True)
    chance = 100 * np.mean([1 / len(clip.options) for clip, _ in held_out])
    window = max(1, args.steps // 10)
    print(f"scene {args.scene}, options {'shuffled' if args.shuffled_options else 'in a fixed order'}, "
          f"vision tower pretrained {args.vision_pretraining_steps} steps on {args.vision_pretraining_target}"
          + (f" (reconstruction loss {built['vision_pretraining_loss_first']:.3f} → "
             f"{built['vision_pretraining_loss_last']:.3f})" if args.vision_pretraining_steps else ""))
    print(f"{args.steps} steps × {args.batch_size} of {args.train_clips} clips: "
          f"loss {np.mean(losses[:window]):.3f} → {np.mean(losses[-window:]):.3f}")
    print(f"held-out {args.held_out_clips} clips: clean {clean:.1f} %, blind {blind:.1f} %, "
          f"visual reliance {clean - blind:+.1f}, chance {chance:.1f} %; {time.time() - started:.0f} s wall")


if __name__ == "__main__":
    main()
