"""viss_r1.modeling.sizes: the 3B and 7B dimensions give the checkpoints' parameter counts, the
special tokens are the tokenizer's, and a small model of the same layout builds and runs."""

import pytest
import torch

from viss_r1.modeling.sizes import QWEN2_5_VL_DIMS, ModelDims, build_random_model, count_parameters, qwen2_5_vl_config
from viss_r1.modeling.tiny import SPECIAL_TOKENS, train_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["<think>the bar moves right</think><answer>B</answer>"] * 20, 400)


# What these dimensions give: 3.75B and 8.29B, the published sizes (the 7B count is the memory plan's too).
@pytest.mark.parametrize("size, parameters", [("3b", 3_754_622_976), ("7b", 8_292_166_656)])
def test_real_sizes_have_the_checkpoints_parameter_counts(tokenizer, size, parameters):
    config = qwen2_5_vl_config(QWEN2_5_VL_DIMS[size], tokenizer)
    assert count_parameters(config) == parameters
    assert config.text_config.vocab_size == QWEN2_5_VL_DIMS[size].vocab_size
    assert config.vision_config.out_hidden_size == config.text_config.hidden_size


def test_special_token_ids_are_the_tokenizers(tokenizer):
    config = qwen2_5_vl_config(QWEN2_5_VL_DIMS["tiny"], tokenizer)
    ids = dict(zip(SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))))
    assert config.video_token_id == ids["<|video_pad|>"] and config.image_token_id == ids["<|image_pad|>"]
    assert config.vision_start_token_id == ids["<|vision_start|>"]


def test_a_random_model_of_the_layout_generates_without_vision_placeholders(tokenizer):
    model = build_random_model(qwen2_5_vl_config(QWEN2_5_VL_DIMS["tiny"], tokenizer), tokenizer, torch.float32)
    assert model.config.text_config.vocab_size > len(tokenizer)
    ids = torch.tensor([tokenizer.encode("the bar moves")])
    out = model.generate(ids, max_new_tokens=12, min_new_tokens=12, do_sample=True)
    new = out[0, ids.shape[1]:]
    assert len(new) == 12
    assert not set(new.tolist()) & set(model.generation_config.suppress_tokens)


def test_dimensions_must_fit_the_rotary_sections():
    with pytest.raises(ValueError, match="head dim"):
        ModelDims(hidden_size=64, intermediate_size=128, num_layers=1, num_heads=4, num_kv_heads=2, vocab_size=512,
                  tie_word_embeddings=True, mrope_section=(16, 24, 24))


def test_vocabulary_smaller_than_the_tokenizer_is_refused(tokenizer):
    small = QWEN2_5_VL_DIMS["tiny"].model_copy(update={"vocab_size": 10})
    with pytest.raises(ValueError, match="smaller than the tokenizer"):
        qwen2_5_vl_config(small, tokenizer)


def test_the_7b_dimensions_agree_with_the_memory_plans():
    # The memory planner keeps its own copy of the 7B checkpoint's config.json; the two must not drift.
    from viss_r1.planning.model import QWEN2_5_VL_7B_PARAMETERS, QWEN2_5_VL_7B_TEXT, QWEN2_5_VL_7B_VISION

    dims = QWEN2_5_VL_DIMS["7b"]
    assert (dims.hidden_size, dims.intermediate_size, dims.num_layers, dims.num_heads, dims.num_kv_heads,
            dims.vocab_size, dims.tie_word_embeddings, dims.rms_norm_eps, dims.max_position_embeddings) == tuple(
        QWEN2_5_VL_7B_TEXT[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                        "num_key_value_heads", "vocab_size", "tie_word_embeddings", "rms_norm_eps",
                                        "max_position_embeddings"))
    rope = QWEN2_5_VL_7B_TEXT["rope_parameters"]
    assert (dims.rope_theta, list(dims.mrope_section)) == (rope["rope_theta"], rope["mrope_section"])
    assert (dims.vision_depth, dims.vision_hidden_size, dims.vision_intermediate_size, dims.vision_heads,
            list(dims.vision_fullatt_block_indexes)) == tuple(
        QWEN2_5_VL_7B_VISION[k] for k in ("depth", "hidden_size", "intermediate_size", "num_heads",
                                          "fullatt_block_indexes"))
    tokenizer = train_tokenizer(["a tokenizer for the special tokens"] * 10, 300)
    assert count_parameters(qwen2_5_vl_config(dims, tokenizer)) == QWEN2_5_VL_7B_PARAMETERS
