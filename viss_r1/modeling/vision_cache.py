"""A frozen vision tower's output, kept per clip for its next reading.

Training with the tower frozen (``OptimSettings.freeze_vision_tower``, merger included) runs the
same clip through the same weights every time the clip comes round again: the next epoch, another
row of the same clip, the G rollouts of one GRPO prompt. ``cache_frozen_vision`` keeps each clip's
output (the merged tokens the language model reads) under a hash of its pixel values and grid, so
a clip seen before costs a lookup. Each clip's output does not depend on the other clips of the
batch, so a cached clip reads exactly what computing it again would give, to the bit (tests).

Only the outputs the language model reads are kept (``pooler_output``): a call asking for more
(hidden states, attentions) or one with any tower weight that can train goes to the tower itself.
The memory is bounded: once ``max_bytes`` are held, new clips are computed and not kept.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import torch
import xxhash


@dataclass
class VisionCacheStats:
    hits: int = 0          # clips read from the cache
    misses: int = 0        # clips computed (and kept while there was room)
    bypassed: int = 0      # calls that went to the tower whole (extra outputs asked, or trainable weights)
    kept_bytes: int = 0
    _store: dict[bytes, torch.Tensor] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "bypassed": self.bypassed, "kept_bytes": self.kept_bytes,
                "kept_clips": len(self._store)}


def _clip_key(pixels: torch.Tensor, grid: torch.Tensor) -> bytes:
    """128-bit hash of one clip's pixel values (its exact bytes, dtype and shape) and grid."""
    digest = xxhash.xxh3_128()
    digest.update(f"{pixels.dtype}{tuple(pixels.shape)}{grid.tolist()}".encode())
    digest.update(pixels.detach().contiguous().cpu().view(torch.uint8).numpy().data)
    return digest.digest()


def cache_frozen_vision(vision: torch.nn.Module, max_bytes: int) -> VisionCacheStats:
    """Make ``vision`` (a Qwen2.5-VL vision tower, ``model.model.visual``) keep each clip's output;
    returns the counters. Nothing of the module's state changes: only its ``forward`` is wrapped."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    if max_bytes <= 0:
        raise ValueError(f"max_bytes {max_bytes}: a vision cache needs room (0 means: do not cache)")
    stats = VisionCacheStats()
    tower_forward = vision.forward      # the bound method of the module's class
    merge = vision.spatial_merge_size ** 2

    def forward(self, hidden_states: torch.Tensor, grid_thw: torch.Tensor, **kwargs: Any):
        if kwargs or any(p.requires_grad for p in self.parameters()):
            stats.bypassed += 1
            return tower_forward(hidden_states, grid_thw=grid_thw, **kwargs)
        patches = grid_thw.prod(-1).tolist()
        clips = torch.split(hidden_states, patches)
        keys = [_clip_key(clip, grid) for clip, grid in zip(clips, grid_thw)]
        missing: dict[bytes, int] = {}          # key → index of its first clip, in order
        for index, key in enumerate(keys):
            if key not in stats._store and key not in missing:
                missing[key] = index
        computed: dict[bytes, torch.Tensor] = {}
        if missing:
            order = list(missing.values())
            out = tower_forward(torch.cat([clips[i] for i in order]), grid_thw=grid_thw[order]).pooler_output
            for key, part in zip(missing, torch.split(out, [patches[i] // merge for i in order])):
                computed[key] = part
                size = part.numel() * part.element_size()
                if stats.kept_bytes + size <= max_bytes:
                    stats._store[key] = part.detach()
                    stats.kept_bytes += size
        stats.misses += len(missing)
        stats.hits += len(keys) - len(missing)
        merged = torch.cat([computed[key] if key in computed else stats._store[key] for key in keys])
        return BaseModelOutputWithPooling(last_hidden_state=None, pooler_output=merged)

    vision.forward = types.MethodType(forward, vision)
    vision.cache_stats = stats
    return stats


def vision_cache_summary(model: torch.nn.Module) -> dict[str, int]:
    """The counters of ``model``'s vision cache as flat result fields (``vision_cache_hits``, …: a
    stage's result becomes its asset's metadata, which takes no nested dicts); {} without a cache."""
    stats = getattr(getattr(getattr(model, "model", None), "visual", None), "cache_stats", None)
    if not isinstance(stats, VisionCacheStats):
        return {}
    return {f"vision_cache_{name}": value for name, value in stats.summary().items()}
