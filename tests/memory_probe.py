"""Measures the tiny Qwen2.5-VL model's activation memory on CPU, for the memory plan's tests.

- ``saved_bytes``: the bytes autograd saves for backward in one forward, counted exactly with
  ``torch.autograd.graph.saved_tensors_hooks`` — each storage once (q/k/v share their input),
  parameters left out (they are model states, not activations).
- ``python tests/memory_probe.py …`` (``measured_steps``): a prefill (a forward without
  gradients that fills the KV cache), then one training step (forward and backward) without
  activation checkpointing and one with it, in a fresh process, printing as
  JSON how far the process's resident memory rose over each (its peak, ``VmHWM``, reset
  through ``/proc/self/clear_refs``), gradient buffers already allocated. glibc's malloc is told (``MALLOC_MMAP_THRESHOLD_``) to map every large block on its
  own, so a freed tensor leaves the resident set at once and the peak is that of live tensors.
  The LM head's loss is left out of the peak: on CPU TRL's fused head scores every position and
  touches only the columns of its tile the vocabulary fills, unlike on a GPU (Triton: the loss
  rows only, the whole tile), so the step is measured up to the final norm's output in the
  forward and from the gradient of that output on in the backward.

The inputs are what the trainers pass (``viss_r1.modeling.video_inputs``): video patches with
their grid, ``mm_token_type_ids`` and the frame timing, labels on the completion only and TRL's
fused LM head, as the SFT and GRPO trainers call the model.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

# Small enough for two CPU cores, large enough that activations dwarf the allocator's noise.
TOKENIZER_CORPUS = ["a tiny corpus for the memory probe's tokenizer, nothing more"] * 8


def tiny_model(dtype: str = "float32", **spec):
    import torch

    from viss_r1.modeling.tiny import TinyModelSpec, build_model, train_tokenizer

    tokenizer = train_tokenizer(TOKENIZER_CORPUS, 300)
    model = build_model(tokenizer, TinyModelSpec(**spec)).to(getattr(torch, dtype))
    from trl.trainer.utils import add_fused_lm_head

    add_fused_lm_head(model)
    return model


def step_inputs(model, sequences: int, grid: tuple[int, int, int], text_tokens: int, loss_tokens: int):
    """One batch of ``sequences`` equal-length rows: a video of ``grid`` (t, h, w patches), then
    ``text_tokens`` of text; the last ``loss_tokens`` carry labels."""
    import torch

    config = model.config
    t, h, w = grid
    video_tokens = t * h * w // config.vision_config.spatial_merge_size ** 2
    row = torch.cat([torch.tensor([config.vision_start_token_id]), torch.full((video_tokens,), config.video_token_id),
                     torch.tensor([config.vision_end_token_id]), torch.randint(10, 250, (text_tokens,))])
    ids = row.repeat(sequences, 1)
    labels = ids.clone()
    labels[:, :-loss_tokens] = -100
    dtype = next(model.parameters()).dtype
    patch_values = 3 * config.vision_config.temporal_patch_size * config.vision_config.patch_size ** 2
    return dict(input_ids=ids, attention_mask=torch.ones_like(ids), mm_token_type_ids=(ids == config.video_token_id).long() * 2,
                pixel_values_videos=torch.randn(sequences * t * h * w, patch_values, dtype=dtype),
                video_grid_thw=torch.tensor([list(grid)] * sequences), second_per_grid_ts=torch.ones(sequences),
                labels=labels, fused_lm_head=True)


def saved_bytes(model, inputs) -> int:
    import torch

    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(**inputs)
    return sum(saved.values())


def _resident(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_step(model, inputs) -> int:
    """How far the resident memory rises over one training step of ``model`` on ``inputs``."""
    model.train()
    model(**inputs).loss.backward()          # a first step: lazy initialisations and gradient buffers
    model.zero_grad(set_to_none=False)       # gradients stay allocated: model states, not activations
    gc.collect()
    peaks: dict[str, int] = {}

    def reset_peak() -> None:
        Path("/proc/self/clear_refs").write_text("5")

    def forward_done(module, args, output) -> None:
        peaks["forward"] = _resident("VmHWM:") - before
        output.register_hook(lambda grad: reset_peak())   # the head's backward is over: measure again

    hook = model.model.language_model.norm.register_forward_hook(forward_done)
    reset_peak()
    before = _resident("VmRSS:")
    model(**inputs).loss.backward()
    hook.remove()
    return max(peaks["forward"], _resident("VmHWM:") - before)


def measure_prefill(model, inputs) -> int:
    """How far the resident memory rises over a prefill: a forward without gradients that fills
    the KV cache and keeps the last position's logits, as ``generate`` starts."""
    import torch

    prompt = {name: value for name, value in inputs.items() if name not in ("labels", "fused_lm_head")}
    model.eval()
    with torch.no_grad():
        model(**prompt, use_cache=True, logits_to_keep=1)        # lazy initialisations
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")
        before = _resident("VmRSS:")
        output = model(**prompt, use_cache=True, logits_to_keep=1)
        rise = _resident("VmHWM:") - before
    del output
    gc.collect()
    return rise


def measure_steps(sequences: int, grid: tuple[int, int, int], text_tokens: int, loss_tokens: int) -> dict[str, int]:
    """A prefill, then one training step without activation checkpointing and one with it, on the
    same model and inputs."""
    model = tiny_model("float32")
    inputs = step_inputs(model, sequences, grid, text_tokens, loss_tokens)
    prefill = measure_prefill(model, inputs)
    without = measure_step(model, inputs)
    model.gradient_checkpointing_enable()
    return {"prefill": prefill, "without_checkpointing": without, "with_checkpointing": measure_step(model, inputs)}


def measured_steps(sequences: int, grid: tuple[int, int, int], text_tokens: int, loss_tokens: int) -> dict[str, int]:
    """``measure_steps`` in a fresh process (its peak must not be an earlier test's)."""
    args = [sys.executable, __file__, "--sequences", str(sequences), "--grid", *map(str, grid),
            "--text-tokens", str(text_tokens), "--loss-tokens", str(loss_tokens)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, required=True)
    parser.add_argument("--grid", type=int, nargs=3, required=True)
    parser.add_argument("--text-tokens", type=int, required=True)
    parser.add_argument("--loss-tokens", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(measure_steps(args.sequences, tuple(args.grid), args.text_tokens, args.loss_tokens)))
