"""The offline tiny model is a real Qwen2.5-VL checkpoint: saves, loads, templates, generates."""

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from viss_r1.modeling.tiny import SPECIAL_TOKENS, VISION_TOKENS


def test_checkpoint_loads_offline_with_qwen_special_tokens(tiny_sft, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_sft.model_dir)
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == list(range(len(SPECIAL_TOKENS)))
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|endoftext|>")
    assert model.config.video_token_id == tokenizer.convert_tokens_to_ids("<|video_pad|>")
    # the corpus-trained BPE keeps special tokens whole and round-trips text
    text = "<|im_start|>user\nWhich way? Options:\nA. left<|im_end|>"
    assert tokenizer.decode(tokenizer(text).input_ids) == text


def test_chat_template_places_media_and_generation_prompt(tiny_sft):
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    messages = [{"role": "system", "content": [{"type": "text", "text": "S"}]},
                {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Q"}]}]
    rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n"
                        "<|vision_start|><|video_pad|><|vision_end|>Q<|im_end|>\n<|im_start|>assistant\n")
    with_answer = messages + [{"role": "assistant", "content": [{"type": "text", "text": "A"}]}]
    assert processor.apply_chat_template(with_answer, tokenize=False).endswith("<|im_start|>assistant\nA<|im_end|>\n")


def test_random_model_never_generates_vision_placeholders(tiny_sft):
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_sft.model_dir)
    ids = processor.tokenizer("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", return_tensors="pt")
    torch.manual_seed(0)
    out = model.generate(**ids, max_new_tokens=40, do_sample=True, temperature=1.5, min_new_tokens=40)
    vision = set(processor.tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)))
    assert not vision & set(out[0, ids.input_ids.shape[1]:].tolist())


def test_format_tags_become_whole_tokens_that_survive_saving(tmp_path):
    from viss_r1.modeling.tiny import TinyModelSpec, build_processor, format_tag_tokens, train_tokenizer

    completion = "<think>The red square moves to the right.</think>\n<transform>B</transform>\n<answer>A</answer>"
    corpus = [completion] * 50 + ["Which way does it move? Options:\nA. left\nB. right"] * 50
    tags = format_tag_tokens("all")
    assert set(tags) == {"<think>", "</think>", "<transform>", "</transform>", "<answer>", "</answer>"}
    assert format_tag_tokens("closing") == ["</answer>", "</think>", "</transform>"]
    assert format_tag_tokens("none") == []

    plain = train_tokenizer(corpus, 400)
    assert len(plain.tokenize("</transform>")) > 1  # Qwen's split regex cuts a tag apart

    whole = train_tokenizer(corpus, 400, tags)
    processor = build_processor(whole, TinyModelSpec())
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path).tokenizer
    for tokenizer in (whole, loaded):
        ids = tokenizer(completion).input_ids
        assert [tokenizer.convert_ids_to_tokens(i) for i in ids if tokenizer.convert_ids_to_tokens(i) in tags] == [
            "<think>", "</think>", "<transform>", "</transform>", "<answer>", "</answer>"]
        # ordinary tokens, so decoding for the rewards keeps them
        assert tokenizer.decode(ids, skip_special_tokens=True) == completion
    # the BPE learnt its merges on the text between tags: no merge spends vocabulary on a tag's pieces
    assert not [token for token in whole.get_vocab() if token not in tags and ("think" in token and "<" in token)]
