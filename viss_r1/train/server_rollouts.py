"""GRPO rollouts on a vLLM server (``grpo.use_vllm``), for ``VideoGRPOTrainer``.

vLLM cannot share this project's environment (it pins its own torch and transformers), so TRL's
in-process vLLM paths are out, and TRL's ``vllm-serve`` takes images only. Instead:

- **weights**: whenever the policy has taken a step since the last rollout, the trainer writes it
  as a checkpoint folder (``sync_dir/step_<n>``, gathered from every ZeRO-3 shard) and asks the
  server to reload it in place (``viss_r1.modeling.vllm_server.reload_weights``). The folder must
  be readable at the same path on the server's machine (a shared volume, or ``/dev/shm`` when both
  run on one node); only the newest folder is kept;
- **rollouts**: each process sends one chat request per distinct prompt of its batch, with the
  row's (transformed) frames and timing and ``n`` = the rows of that prompt, and gets back token
  ids. The G rollouts of a prompt therefore see the same transformed clip, as in process.

The log-prob forwards then score these ids with the frames from the frame cache, as for
transformers rollouts. The server sees the frames after a JPEG round trip (quality 95), so the
sampler's inputs differ from the scorer's by about one grey level: a small, bounded off-policy gap
of the kind TRL's vLLM paths also have. T-GRPO's extra shuffled-frame rollouts (a reward input,
not trained on) stay in process.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.vllm_server import (VLLMServer, chat_request, openai_client, reload_weights,
                                          sample_completions)
from viss_r1.train.rollout_requests import PromptRequests, prompt_key


class ServerRollouts:
    def __init__(self, server: VLLMServer, served_model: str, sync_dir: str | Path,
                 suppress_token_ids: Sequence[int]):
        self.server, self.served_model = server, served_model
        self.sync_dir = Path(sync_dir)
        self.suppress_token_ids = list(suppress_token_ids)
        self.synced_step: int | None = None

    def sync_weights(self, trainer) -> None:
        """Push the policy to the server if it changed since the last push (every process calls
        this: gathering ZeRO-3 shards is collective)."""
        from trl.models.utils import unwrap_model_for_generation

        step = trainer.state.global_step
        if self.synced_step == step:
            return
        accelerator = trainer.accelerator
        folder = self.sync_dir / f"step_{step:07d}"
        with unwrap_model_for_generation(trainer.model_wrapped, accelerator,
                                         gather_deepspeed3_params=True) as policy:
            if accelerator.is_main_process:
                partial = folder.with_name(folder.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                policy.save_pretrained(partial)
                shutil.rmtree(folder, ignore_errors=True)
                partial.rename(folder)   # the server never reads a half-written checkpoint
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            reload_weights(self.server, str(folder.resolve()))
            for old in self.sync_dir.glob("step_*"):
                if old != folder:
                    shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()
        self.synced_step = step

    def generate(self, trainer, rows: Sequence[Mapping[str, Any]], requests: PromptRequests) -> list[list[int]]:
        """Completion ids, one per row, in row order; the rows of one prompt share one request
        (``requests``: the batch's (messages, media) per prompt, ``VideoGRPOTrainer.prompt_requests``)."""
        groups: dict[Any, list[int]] = {}
        for position, row in enumerate(rows):
            groups.setdefault(prompt_key(row), []).append(position)
        rng = np.random.default_rng([trainer.args.seed, trainer.state.global_step, trainer.accelerator.process_index])
        bodies = []
        for key, positions in groups.items():
            decoding = Decoding(max_new_tokens=trainer.max_completion_length, temperature=trainer.temperature,
                                top_p=trainer.top_p, top_k=trainer.top_k or 0,
                                repetition_penalty=trainer.repetition_penalty, do_sample=True,
                                seed=int(rng.integers(2**31)))
            bodies.append((chat_request(self.served_model, *requests[key], decoding), len(positions)))
        with openai_client(self.server) as client, \
                ThreadPoolExecutor(max_workers=min(self.server.max_concurrent, len(bodies))) as pool:
            sampled = list(pool.map(lambda job: sample_completions(client, self.server, job[0], job[1],
                                                                   self.suppress_token_ids), bodies))
        completions: list[list[int]] = [[] for _ in rows]
        for positions, ids in zip(groups.values(), sampled):
            for position, completion in zip(positions, ids):
                completions[position] = completion
        return completions
