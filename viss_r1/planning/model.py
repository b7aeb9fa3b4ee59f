"""The model a memory plan is made for: Qwen2.5-VL-7B, built on the meta device (no weights).

Its dimensions are those of the published ``config.json`` of Qwen/Qwen2.5-VL-7B-Instruct (the
checkpoint the 7B recipes pin); a plan needs shapes and parameter counts, never values, so the
model is built from them with ``torch.device("meta")``: every tensor has its shape and no storage,
and nothing is downloaded. ``ModelShape`` is what the activation and KV-cache estimates read,
taken from a transformers config, so the tiny model measured in the tests and the 7B model are
described the same way.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from viss_r1.modeling.sizes import QWEN2_5_VL_DIMS, text_config_fields, vision_config_fields

# Qwen/Qwen2.5-VL-7B-Instruct's config.json: text model and vision tower, from the one record of
# its dimensions (viss_r1.modeling.sizes) with the checkpoint's own token ids. (transformers'
# Qwen2_5_VLConfig defaults are not these: its text defaults are a 72B-like 8192 × 80 layers.)
QWEN2_5_VL_7B_TEXT: dict[str, Any] = {**text_config_fields(QWEN2_5_VL_DIMS["7b"]), "hidden_act": "silu",
                                      "bos_token_id": 151643, "eos_token_id": 151645}
QWEN2_5_VL_7B_VISION: dict[str, Any] = {**vision_config_fields(QWEN2_5_VL_DIMS["7b"]), "hidden_act": "silu",
                                        "in_channels": 3}
QWEN2_5_VL_7B_TOKENS: dict[str, int] = {
    "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
}
# Qwen2.5-VL-7B's parameter count as published (8.29B, vision tower included): what the meta
# build must reproduce.
QWEN2_5_VL_7B_PARAMETERS = 8_292_166_656


def qwen2_5_vl_7b_config():
    """Qwen2.5-VL-7B's transformers config, written from its published dimensions."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(text_config=dict(QWEN2_5_VL_7B_TEXT), vision_config=dict(QWEN2_5_VL_7B_VISION),
                            tie_word_embeddings=False, **QWEN2_5_VL_7B_TOKENS)


class ModelShape(BaseModel):
    """The shapes the memory estimates read (``viss_r1.planning.memory``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden: int                 # h: the language model's width
    intermediate: int           # i: its MLP width (SwiGLU: gate and up both i wide)
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    vision_hidden: int          # d: the vision tower's width
    vision_intermediate: int    # its MLP width (SwiGLU, as Qwen2.5-VL's tower has)
    vision_depth: int
    vision_heads: int
    patch_size: int             # 14: a patch is patch_size² pixels of temporal_patch frames
    temporal_patch: int         # 2 frames per temporal patch
    spatial_merge: int          # 2: merge² patches make one language-model token
    in_channels: int = 3

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def merge(self) -> int:
        """Vision patches per language-model token."""
        return self.spatial_merge ** 2

    @property
    def patch_values(self) -> int:
        """Pixel values in one patch (the patch embedding's input width)."""
        return self.in_channels * self.temporal_patch * self.patch_size ** 2

    @classmethod
    def from_config(cls, config) -> "ModelShape":
        text, vision = config.get_text_config(), config.vision_config
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        return cls(hidden=text.hidden_size, intermediate=text.intermediate_size, layers=text.num_hidden_layers,
                   heads=text.num_attention_heads, kv_heads=text.num_key_value_heads, head_dim=head_dim,
                   vocab=text.vocab_size, vision_hidden=vision.hidden_size,
                   vision_intermediate=vision.intermediate_size, vision_depth=vision.depth,
                   vision_heads=vision.num_heads, patch_size=vision.patch_size,
                   temporal_patch=vision.temporal_patch_size, spatial_merge=vision.spatial_merge_size,
                   in_channels=getattr(vision, "in_channels", 3))


class ParameterCounts(BaseModel):
    """What DeepSpeed's ZeRO estimators take, and the vision tower's share (a frozen tower keeps
    its weights out of the optimiser)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total: int
    largest_layer: int          # the most parameters one module holds itself (the embedding or the LM head)
    vision_tower: int           # model.visual: patch embedding, blocks and merger
    vision_merger: int


def count_parameters(model) -> ParameterCounts:
    """Parameter counts of a built model, shared parameters once. DeepSpeed's ``model_to_params``
    dedupes by ``data_ptr()``, which is 0 for every tensor on the meta device: counting by identity
    gives its answer for a real model and the right one for a meta model."""
    total = sum({id(p): p.numel() for p in model.parameters()}.values())
    largest = max(sum(p.numel() for p in module.parameters(recurse=False)) for module in model.modules())
    visual = model.model.visual
    return ParameterCounts(total=total, largest_layer=largest,
                           vision_tower=sum({id(p): p.numel() for p in visual.parameters()}.values()),
                           vision_merger=sum(p.numel() for p in visual.merger.parameters()))


def meta_model(config):
    """``Qwen2_5_VLForConditionalGeneration`` with every tensor on the meta device: shapes, no storage."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        return Qwen2_5_VLForConditionalGeneration(config)


class PlannedModel(BaseModel):
    """A model's name, shapes and parameter counts: all a plan needs of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dims: ModelShape
    parameters: ParameterCounts


def planned_model(config, name: str) -> PlannedModel:
    return PlannedModel(name=name, dims=ModelShape.from_config(config), parameters=count_parameters(meta_model(config)))


@lru_cache(maxsize=1)
def qwen2_5_vl_7b() -> PlannedModel:
    return planned_model(qwen2_5_vl_7b_config(), "Qwen2.5-VL-7B")
