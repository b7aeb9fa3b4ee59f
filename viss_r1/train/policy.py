"""Loading the model a training stage starts from (SFT and GRPO share it)."""

from __future__ import annotations

from typing import Any

from viss_r1.train.config import OptimSettings


def load_policy(model: str, training: OptimSettings, revision: str | None = None) -> tuple[Any, Any]:
    """``(model, processor)`` from a local folder or hub id (at ``revision``, the one the cache key
    pinned), in bf16 when ``training.bf16`` (float32 with ``training.float32_weights``: the trainer's
    bf16 autocast computes in bf16); ``trust_remote_code`` stays off.

    ``training.freeze_vision_tower`` keeps the vision encoder and its merger out of the optimiser.
    A random-init tower (the embedded tiny model) trained through the language-model loss learns
    to emit a near-constant vector — varying video features only add noise to text that can be
    memorised — after which no answer can depend on the pixels; kept frozen, its random
    features stay informative. ``training.train_vision_merger`` then still trains the merger, the
    projector that turns those features into the language model's inputs. With the whole tower frozen,
    ``training.frozen_vision_cache_mb`` keeps its per-clip outputs for the next reading
    (``viss_r1.modeling.vision_cache``)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model, revision=revision, trust_remote_code=False)
    dtype = torch.bfloat16 if training.bf16_weights else torch.float32
    policy = AutoModelForImageTextToText.from_pretrained(model, revision=revision, dtype=dtype,
                                                         trust_remote_code=False)
    if training.freeze_vision_tower:
        vision = getattr(policy.model, "visual", None)
        if vision is None:
            raise ValueError(f"{model}: freeze_vision_tower is set but the model has no vision tower (model.visual)")
        vision.requires_grad_(False)
        if training.train_vision_merger:
            vision.merger.requires_grad_(True)
        elif training.frozen_vision_cache_mb:
            from viss_r1.modeling.vision_cache import cache_frozen_vision

            cache_frozen_vision(vision, training.frozen_vision_cache_mb * 2**20)
    return policy, processor


def restore_checkpoint_weights(model, checkpoint: str) -> None:
    """Put a Trainer checkpoint's weights into ``model`` before resuming.

    transformers 5.x saves Qwen2.5-VL under its legacy key names ("visual.*", "model.layers.*")
    and ``from_pretrained`` renames them back, but ``Trainer``'s resume loads the raw state dict
    non-strictly: every key misses, nothing is loaded, and training silently goes on from the
    initial weights. Loading the checkpoint with ``from_pretrained`` first makes that later load
    a no-op. (DeepSpeed restores its own checkpoint format and does not need this.)"""
    restored = type(model).from_pretrained(checkpoint, dtype=model.dtype, trust_remote_code=False)
    missing, unexpected = model.load_state_dict(restored.state_dict(), strict=False)
    if missing or unexpected:
        raise RuntimeError(f"checkpoint {checkpoint} does not match the model: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
