"""Qwen2.5-VL at its real sizes, built offline with random weights.

The dimensions below are those of the released Qwen2.5-VL-3B-Instruct and Qwen2.5-VL-7B-Instruct
checkpoints (their ``config.json``: text decoder and vision tower). A model built from them has the
real parameter count, memory and compute of the checkpoint — only its weights are random — so a
training step on it costs what the recipe's step costs, with nothing downloaded. "tiny" is a
two-layer model of the same architecture for plumbing checks on a CPU.

The tokenizer is the tiny model's (``viss_r1.modeling.tiny``, trained offline); the embedding
keeps the real vocabulary size, so sampled ids beyond the tokenizer's are real output positions
(they decode to nothing) and the LM head costs what the real one costs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from viss_r1.modeling.tiny import SPECIAL_TOKENS, VISION_TOKENS


class ModelDims(BaseModel):
    """The shape of a Qwen2.5-VL model: text decoder, then vision tower."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    tie_word_embeddings: bool
    rope_theta: float = 1_000_000.0
    mrope_section: tuple[int, int, int] = (16, 24, 24)   # temporal/height/width split of half the head dim
    max_position_embeddings: int = 128_000
    rms_norm_eps: float = 1e-6
    vision_depth: int = 32
    vision_hidden_size: int = 1280
    vision_intermediate_size: int = 3420
    vision_heads: int = 16
    vision_fullatt_block_indexes: tuple[int, ...] = (7, 15, 23, 31)

    @model_validator(mode="after")
    def _check(self) -> "ModelDims":
        head_dim, rest = divmod(self.hidden_size, self.num_heads)
        if rest or 2 * sum(self.mrope_section) != head_dim:
            raise ValueError(f"hidden_size {self.hidden_size} / {self.num_heads} heads must give a head dim twice "
                             f"sum(mrope_section) = {2 * sum(self.mrope_section)}")
        return self


# Read off the checkpoints' config.json (Qwen/Qwen2.5-VL-3B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct):
# the 3B ties its embeddings and has 2 KV heads; the 7B unties them, 4 KV heads, a slightly larger
# vocabulary; both share one vision tower (32 blocks of 1280, full attention every 8th) whose merger
# projects into the decoder's width. ≈3.75B and ≈8.29B parameters.
QWEN2_5_VL_DIMS: dict[str, ModelDims] = {
    "3b": ModelDims(hidden_size=2048, intermediate_size=11008, num_layers=36, num_heads=16, num_kv_heads=2,
                    vocab_size=151936, tie_word_embeddings=True),
    "7b": ModelDims(hidden_size=3584, intermediate_size=18944, num_layers=28, num_heads=28, num_kv_heads=4,
                    vocab_size=152064, tie_word_embeddings=False),
    # The same architecture in miniature (vocabulary larger than the tiny tokenizer, as above).
    "tiny": ModelDims(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
                      vocab_size=8192, tie_word_embeddings=True, rope_theta=10_000.0, mrope_section=(2, 3, 3),
                      max_position_embeddings=8192, vision_depth=2, vision_hidden_size=32,
                      vision_intermediate_size=64, vision_heads=2, vision_fullatt_block_indexes=(1,)),
}


def text_config_fields(dims: ModelDims) -> dict[str, Any]:
    """The text decoder's ``config.json`` fields that ``dims`` fixes (token ids are the caller's)."""
    return {
        "vocab_size": dims.vocab_size, "hidden_size": dims.hidden_size,
        "intermediate_size": dims.intermediate_size, "num_hidden_layers": dims.num_layers,
        "num_attention_heads": dims.num_heads, "num_key_value_heads": dims.num_kv_heads,
        "max_position_embeddings": dims.max_position_embeddings, "rms_norm_eps": dims.rms_norm_eps,
        "tie_word_embeddings": dims.tie_word_embeddings,
        "rope_parameters": {"rope_type": "default", "rope_theta": dims.rope_theta,
                            "mrope_section": list(dims.mrope_section)},
    }


def vision_config_fields(dims: ModelDims) -> dict[str, Any]:
    """The vision tower's ``config.json`` fields (its merger projects into the decoder's width)."""
    return {
        "depth": dims.vision_depth, "hidden_size": dims.vision_hidden_size,
        "intermediate_size": dims.vision_intermediate_size, "num_heads": dims.vision_heads,
        "out_hidden_size": dims.hidden_size, "patch_size": 14, "spatial_merge_size": 2,
        "temporal_patch_size": 2, "window_size": 112, "tokens_per_second": 2,
        "fullatt_block_indexes": list(dims.vision_fullatt_block_indexes),
    }


def qwen2_5_vl_config(dims: ModelDims, tokenizer):
    """A ``Qwen2_5_VLConfig`` of ``dims`` whose special token ids are ``tokenizer``'s."""
    from transformers import Qwen2_5_VLConfig

    if dims.vocab_size < len(tokenizer):
        raise ValueError(f"vocab_size {dims.vocab_size} is smaller than the tokenizer's {len(tokenizer)} tokens")
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    return Qwen2_5_VLConfig(
        text_config={**text_config_fields(dims), "bos_token_id": ids["<|endoftext|>"],
                     "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]},
        vision_config=vision_config_fields(dims),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=dims.tie_word_embeddings,
    )


def count_parameters(config) -> int:
    """Parameters of a model of ``config``, counted on the meta device (nothing allocated)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config)
    return sum(p.numel() for p in model.parameters())


def build_random_model(config, tokenizer, dtype, device: str = "cpu", seed: int = 0):
    """A model of ``config`` with random weights, made directly on ``device`` in ``dtype`` (a
    real-size model is initialised on the GPU in seconds; on the CPU in fp32 it would take minutes
    and four bytes a parameter). Generation is set up as the tiny model's: vision placeholders
    suppressed, ``<|im_end|>`` ends a turn."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    model.generation_config.suppress_tokens = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
    return model
