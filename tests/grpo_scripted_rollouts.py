"""A real GRPO run (``viss_r1.train.grpo.run_grpo``) whose scored completions are scripted, so a
run on one process and a run on several score the very same completions
(tests/integration/test_grpo_multiprocess.py).

    python tests/grpo_scripted_rollouts.py --config FILE --completions-per-device N --out DIR
    python -m torch.distributed.run --nproc_per_node 2 tests/grpo_scripted_rollouts.py ...

- ``--completions-per-device`` is TRL's ``per_device_train_batch_size`` (completions; our run
  config counts prompts and always gives whole groups). Fewer than G spreads a group over
  processes, as TRL does on 8 GPUs × 1 completion.
- Both samplers run for real (the main rollouts and T-GRPO's shuffled-frame rollouts); what they
  sampled is recorded per process, then replaced by scripted completions that depend only on the
  step and the rollout's index k in its group (``ORDERED``, ``SHUFFLED``) — what one process and
  several have in common — so rewards and advantages can be compared exactly.
- Writes ``DIR/rank<r>.json`` per process (what it sampled, how many shuffled rollouts, how often
  it wrote ``result.json``, the result it returned) and, on the main process,
  ``DIR/rollouts.json``: the trainer's rollout table of every step (every rollout, its rewards
  and advantage).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
from pathlib import Path

RIGHT, WRONG, UNFORMATTED = "right", "wrong", "unformatted"
# Rollout k of the step's group, per step (G = 4), and the shuffled-frame rollouts (k = G/2).
ORDERED = {0: [RIGHT, RIGHT, RIGHT, UNFORMATTED], 1: [WRONG, RIGHT, RIGHT, WRONG]}
SHUFFLED = {0: [RIGHT, RIGHT], 1: [WRONG, RIGHT]}
RIGHT_TOKENS = (330, 400)  # inside the Video-R1 length window (320–512), EOS included


def scripted_texts(tokenizer, answer: str = "B") -> dict[str, str]:
    """The three completions: right (long enough for the length bonus), wrong, unformatted."""
    filler = []
    while len(tokenizer(f"<think>{' '.join(filler)}</think><answer>{answer}</answer>").input_ids) + 1 < RIGHT_TOKENS[0]:
        filler.append("the bar moves right")
    right = f"<think>{' '.join(filler)}</think><answer>{answer}</answer>"
    assert len(tokenizer(right).input_ids) + 1 <= RIGHT_TOKENS[1], "filler overshot the length window"
    return {RIGHT: right, WRONG: "<think>it moves left</think><answer>A</answer>", UNFORMATTED: "A"}


def scripted_trainer(base: type, record: dict):
    class ScriptedRollouts(base):
        """``base`` with its sampled completions recorded and replaced by the script."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.texts = scripted_texts(self.processing_class.tokenizer)
            self.rollout_sink = lambda step, rollouts: record["tables"].append(
                {"step": step, "rollouts": [dict(r) for r in rollouts]})

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
            sampled, _ = super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                       has_tool_images)
            step = self.state.global_step
            record["sampled"][str(step)] = [list(map(int, ids)) for ids in sampled]
            offset = self.accelerator.process_index * len(prompt_ids)
            tokenizer = self.processing_class.tokenizer
            return [tokenizer(self.texts[ORDERED[step][(offset + i) % num_generations]]).input_ids
                    + [tokenizer.eos_token_id] for i in range(len(prompt_ids))], None

        def _sample_shuffled(self, conversations, media):
            sampled = super()._sample_shuffled(conversations, media)
            record["shuffled"][str(self.state.global_step)] = len(sampled)
            script = SHUFFLED[self.state.global_step]
            return [self.texts[script[i % len(script)]] for i in range(len(sampled))]

    return ScriptedRollouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--completions-per-device", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import viss_r1.train.grpo as grpo
    import viss_r1.train.video_grpo as video_grpo
    from viss_r1.process import end_distributed, load_config
    from viss_r1.train.config import GRPORunConfig

    record: dict = {"sampled": {}, "shuffled": {}, "tables": [], "result_json_writes": 0}
    video_grpo.VideoGRPOTrainer = scripted_trainer(video_grpo.VideoGRPOTrainer, record)
    trainer_arguments = grpo.trainer_arguments

    def completions_per_device(config, reward_weights):
        from dataclasses import replace

        arguments = trainer_arguments(config, reward_weights)
        return replace(arguments, per_device_train_batch_size=args.completions_per_device,
                       generation_batch_size=None, steps_per_generation=None)

    grpo.trainer_arguments = completions_per_device
    write_text = pathlib.Path.write_text

    def counting_write_text(self, *a, **k):
        record["result_json_writes"] += self.name == "result.json"
        return write_text(self, *a, **k)

    pathlib.Path.write_text = counting_write_text
    result = grpo.run_grpo(load_config(args.config, GRPORunConfig))
    pathlib.Path.write_text = write_text
    rank = int(os.environ.get("RANK", "0"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = record.pop("tables")
    (out / f"rank{rank}.json").write_text(json.dumps({**record, "result": result}))
    if rank == 0:
        (out / "rollouts.json").write_text(json.dumps(tables))
    end_distributed()


if __name__ == "__main__":
    main()
