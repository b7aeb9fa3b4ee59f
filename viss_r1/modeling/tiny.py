"""The embedded default model: a Qwen2.5-VL-architecture model built offline.

Nothing is downloaded. The tokenizer is a byte-level BPE trained here on the prompts and answers
the pipeline will use, with Qwen's pre-tokenizer, special tokens and chat template, so every code
path (processor, chat template, generation, the trainers) is the one a real Qwen2.5-VL takes.
The weights are random; the model is small enough to train on two CPU cores.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from viss_r1.modeling.vision_pretraining import PretrainingTarget
from viss_r1.prompts import FORMAT_TAGS

# Qwen's special tokens, at the first ids as in the real vocabulary's added tokens.
SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")

# Qwen2.5-VL's template, in Jinja. The assistant turn is wrapped in {% generation %} so
# ``return_assistant_tokens_mask`` works; the block must not straddle an {% if %}. transformers
# renders with trim_blocks, which eats a newline written right after a block tag: hence {{ '\n' }}.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "{% if message['content'] is string %}{% set parts = [{'type': 'text', 'text': message['content']}] %}"
    "{% else %}{% set parts = message['content'] %}{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{% for part in parts %}{{ part['text'] }}{% endfor %}<|im_end|>{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{% for part in parts %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# Which output-format tags become tokens of their own (TinyModelSpec.format_tags_as_tokens).
WholeFormatTags = Literal["none", "closing", "all"]


class TinyModelSpec(BaseModel):
    """Sizes of the tiny model. The defaults (≈3M parameters) train at a few steps per second
    on two CPU cores and can still learn the synthetic tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vocab_size: int = 4096
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    vision_depth: int = 4
    vision_hidden_size: int = 64
    vision_heads: int = 4
    seed: int = 0
    # Processor pixel bounds per frame; frames from the frame cache are already sized.
    min_pixels: int = 56 * 56
    max_pixels: int = 112 * 112
    # Self-supervised pretraining of the vision tower before saving (viss_r1.modeling.vision_pretraining);
    # 0 steps keeps the tower random.
    vision_pretraining_steps: int = 0
    vision_pretraining_clips: int = 400
    vision_pretraining_lr: float = 1e-3
    vision_pretraining_batch_size: int = 4
    # What each token learns to redraw (viss_r1.modeling.vision_pretraining): its region's departure
    # from the clip's background and its motion, or the plain picture.
    vision_pretraining_target: PretrainingTarget = "foreground_and_motion"
    # Which output-format tags (viss_r1.prompts.FORMAT_TAGS) are tokens of their own: "none" (Qwen's split
    # regex cuts "</transform>" into "</", "transform", ">", so which tag comes next hangs on a token two
    # back, and a model of a million weights slips), "closing" (</think>, </transform>, </answer>) or
    # "all" (README, "What the tiny model learns": "all" makes the warm-up open an unseen prompt's
    # answer with <answer>). A real Qwen2.5-VL learnt its tags from far more text.
    format_tags_as_tokens: WholeFormatTags = "none"

    @property
    def mrope_section(self) -> list[int]:
        """Temporal/height/width split of half the head dim (Qwen uses 16/24/24 of 64)."""
        half = self.hidden_size // self.num_heads // 2
        temporal = half // 4
        height = (half - temporal) // 2
        return [temporal, height, half - temporal - height]


def format_tag_tokens(which: WholeFormatTags) -> list[str]:
    """The output formats' tags, in a fixed order: ``all`` opening and closing, ``closing`` only, or
    ``none``."""
    names = sorted({tag for tags in FORMAT_TAGS.values() for tag in tags})
    tags = {"none": (), "closing": ("</{}>",), "all": ("<{}>", "</{}>")}[which]
    return [tag.format(name) for name in names for tag in tags]


def train_tokenizer(corpus: Iterable[str], vocab_size: int, whole_tokens: Sequence[str] = ()):
    """Byte-level BPE with Qwen2's normaliser and split regex, wrapped as ``Qwen2Tokenizer``;
    ``whole_tokens`` are added as ordinary (not special) tokens: decoding keeps them."""
    import json

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    if whole_tokens:  # learn merges on the text between them, as it will be encoded
        between = re.compile("|".join(re.escape(token) for token in whole_tokens))
        corpus = (piece for text in corpus for piece in between.split(text) if piece)
    bpe.train_from_iterator(corpus, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"], merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, extra_special_tokens={})
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    tokenizer.add_tokens(list(whole_tokens))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer, spec: TinyModelSpec):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    size = {"shortest_edge": spec.min_pixels, "longest_edge": spec.max_pixels}
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        video_processor=Qwen2VLVideoProcessor(size=size, cap_pixels_per_frame=True),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def build_model(tokenizer, spec: TinyModelSpec):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size, "num_hidden_layers": spec.num_layers,
            "num_attention_heads": spec.num_heads, "num_key_value_heads": spec.num_kv_heads,
            "max_position_embeddings": 4096, "tie_word_embeddings": True,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": spec.mrope_section},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": spec.vision_depth, "hidden_size": spec.vision_hidden_size,
            "intermediate_size": 2 * spec.vision_hidden_size, "num_heads": spec.vision_heads,
            "out_hidden_size": spec.hidden_size, "patch_size": 14, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "window_size": 112, "tokens_per_second": 2,  # as Qwen2.5-VL-7B
            "fullatt_block_indexes": list(range(1, spec.vision_depth, 2)),
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(spec.seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    # A random model otherwise emits vision placeholders, which break the next forward.
    model.generation_config.suppress_tokens = [ids[name] for name in VISION_TOKENS]
    return model


def build_tiny_model(out_dir: Path, corpus: Iterable[str], spec: TinyModelSpec = TinyModelSpec()) -> dict:
    """Train the tokenizer, assemble processor and model, and save all three with
    ``save_pretrained`` into ``out_dir`` (then loadable with ``from_pretrained``)."""
    tokenizer = train_tokenizer(corpus, spec.vocab_size,
                                format_tag_tokens(spec.format_tags_as_tokens))
    processor = build_processor(tokenizer, spec)
    model = build_model(tokenizer, spec)
    summary = {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer)}
    if spec.vision_pretraining_steps:
        from viss_r1.modeling.vision_pretraining import pretrain_vision_tower, pretraining_clips

        clips = pretraining_clips(spec.vision_pretraining_clips, spec.seed, side=int(spec.max_pixels ** 0.5))
        losses = pretrain_vision_tower(model, processor, clips, spec.vision_pretraining_steps,
                                       spec.vision_pretraining_lr, spec.vision_pretraining_batch_size, spec.seed,
                                       spec.vision_pretraining_target)
        window = max(1, len(losses) // 10)
        summary["vision_pretraining_loss_first"] = float(np.mean(losses[:window]))
        summary["vision_pretraining_loss_last"] = float(np.mean(losses[-window:]))
    out_dir.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    return summary
