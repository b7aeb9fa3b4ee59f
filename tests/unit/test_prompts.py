"""Prompt builders (METHOD.md §3): options, tags that match the format regex, per-type instructions,
SFT targets that pass the format reward, chat message structure."""

import re

import pytest

from viss_r1.vocabulary import PROBLEM_TYPES
from viss_r1.pretext.questions import pretext_question
from viss_r1.prompts import (
    ANSWER_INSTRUCTIONS,
    COMPACT_INSTRUCTIONS,
    DEFAULT_SYSTEM_PROMPT,
    FORMAT_PATTERNS,
    FORMAT_TAGS,
    PROMPT_FORMATS,
    PromptWording,
    answer_instruction,
    build_prompt,
    chat_messages,
    pretext_prompt,
    question_with_options,
    r1_prompt,
    sft_target,
    system_prompt_for,
    viss_r1_prompt,
)

OPTIONS = ["A. red", "B. blue", "C. green", "D. yellow"]
ROW = {
    "problem": "What color is the ball?",
    "problem_type": "multiple choice",
    "options": OPTIONS,
    "pretext_question": pretext_question("video", "shuffle", 32),
    "data_type": "video",
}
TAG = re.compile(r"</?(\w+)>")


def _tag_names(text: str) -> list[str]:
    """Tag names in order of first appearance."""
    return list(dict.fromkeys(TAG.findall(text)))


def test_options_one_per_line_after_options_in_order():
    text = question_with_options("Which color?", OPTIONS)
    lines = text.splitlines()
    assert lines[0] == "Which color?"
    assert lines[1] == "Options:"
    assert lines[2:] == OPTIONS
    assert question_with_options("How many?", None) == "How many?"
    assert question_with_options("How many?", []) == "How many?"


@pytest.mark.parametrize("fmt", PROMPT_FORMATS)
def test_prompt_asks_for_exactly_the_tags_of_its_format_regex(fmt):
    prompt = build_prompt(fmt, ROW)
    pattern_tags = _tag_names(FORMAT_PATTERNS[fmt])
    assert pattern_tags == list(FORMAT_TAGS[fmt])
    assert _tag_names(prompt) == pattern_tags  # same tags, first named in the output order
    for tag in pattern_tags:
        assert f"<{tag}>" in prompt and f"</{tag}>" in prompt


def test_format_patterns():
    assert FORMAT_TAGS["transform_answer"] == ("think", "transform", "answer")
    assert FORMAT_TAGS["r1"] == FORMAT_TAGS["pretext"] == ("think", "answer")
    three = "<think>x</think>\n<transform>B</transform> <answer>A</answer>"
    assert re.fullmatch(FORMAT_PATTERNS["transform_answer"], three, re.DOTALL)
    assert not re.fullmatch(FORMAT_PATTERNS["transform_answer"], "<think>x</think><answer>A</answer>", re.DOTALL)
    assert re.fullmatch(FORMAT_PATTERNS["r1"], "<think>a\nb</think>\n<answer>A</answer>", re.DOTALL)


def test_answer_instructions_cover_every_problem_type_and_differ():
    assert set(ANSWER_INSTRUCTIONS) == set(PROBLEM_TYPES)
    assert len(set(ANSWER_INSTRUCTIONS.values())) == len(PROBLEM_TYPES)
    for instruction in ANSWER_INSTRUCTIONS.values():
        assert "<answer>" in instruction


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_per_type_instruction_appears_in_r1_and_viss_r1(problem_type):
    row = {**ROW, "problem_type": problem_type}
    for fmt in ("r1", "transform_answer"):
        prompt = build_prompt(fmt, row)
        assert ANSWER_INSTRUCTIONS[problem_type] in prompt
        others = [t for t in PROBLEM_TYPES if t != problem_type]
        assert not any(ANSWER_INSTRUCTIONS[t] in prompt for t in others)


def test_options_only_for_multiple_choice():
    assert "\n".join(["Options:", *OPTIONS]) in r1_prompt("Which?", "multiple choice", OPTIONS)
    assert "A. red" not in r1_prompt("How many?", "numerical", OPTIONS)


def test_unknown_problem_type_and_format_raise():
    with pytest.raises(ValueError, match="essay"):
        answer_instruction("essay")
    with pytest.raises(ValueError, match="essay"):
        r1_prompt("q", "essay", None)
    with pytest.raises(ValueError, match="essay"):
        viss_r1_prompt("t", "q", "essay", None)
    with pytest.raises(ValueError, match="grpo"):
        build_prompt("grpo", ROW)
    with pytest.raises(ValueError, match="audio"):
        viss_r1_prompt("t", "q", "numerical", None, media="audio")


def test_pretext_prompt_keeps_the_question_and_asks_for_a_letter():
    question = pretext_question("image", "puzzle")
    prompt = pretext_prompt(question)
    assert prompt.startswith(question)
    assert ANSWER_INSTRUCTIONS["multiple choice"] in prompt
    assert "<transform>" not in prompt


@pytest.mark.parametrize("media", ["video", "image"])
def test_viss_r1_prompt_structure(media):
    question = pretext_question(media, "rotate")
    prompt = viss_r1_prompt(question, ROW["problem"], "multiple choice", OPTIONS, media=media)
    transform_at, user_at = prompt.index("Transform question:"), prompt.index("User Question:")
    assert transform_at < user_at
    assert question in prompt[transform_at:user_at]
    assert prompt[user_at:].startswith(f"User Question: {ROW['problem']}\nOptions:\n" + "\n".join(OPTIONS))
    header = prompt[:transform_at]
    assert f"input {media}" in header and "transformed" in header and "restored" in header
    other = "image" if media == "video" else "video"
    assert other not in header


@pytest.mark.parametrize("process", ["<think>The ball moves left.</think>", "The ball moves left.",
                                     "  <think>\n The ball moves left. \n</think>\n"])
@pytest.mark.parametrize("solution", ["<answer>A</answer>", "<answer> A </answer>", "A"])
def test_sft_target_matches_format_and_never_doubles_tags(process, solution):
    three = sft_target(process, solution, "C")
    assert re.fullmatch(r"<think>.*?</think>\s*<transform>.*?</transform>\s*<answer>.*?</answer>", three, re.DOTALL)
    assert re.fullmatch(FORMAT_PATTERNS["transform_answer"], three, re.DOTALL)
    assert three == "<think>The ball moves left.</think>\n<transform>C</transform>\n<answer>A</answer>"
    two = sft_target(process, solution, None)
    assert re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", two, re.DOTALL)
    assert two == "<think>The ball moves left.</think>\n<answer>A</answer>"
    for target in (three, two):
        for tag in ("think", "transform", "answer"):
            assert target.count(f"<{tag}>") <= 1 and target.count(f"</{tag}>") <= 1


def test_sft_target_rejects_empty_parts():
    with pytest.raises(ValueError, match="process"):
        sft_target("<think> </think>", "<answer>A</answer>", "B")
    with pytest.raises(ValueError, match="transform_letter"):
        sft_target("<think>x</think>", "<answer>A</answer>", "")


@pytest.mark.parametrize("media", ["video", "image"])
def test_chat_messages_with_media(media):
    messages = chat_messages("prompt", media, "sys")
    assert messages == [
        {"role": "system", "content": [{"type": "text", "text": "sys"}]},
        {"role": "user", "content": [{"type": media}, {"type": "text", "text": "prompt"}]},
    ]


def test_chat_messages_blind_has_no_media_part():
    messages = chat_messages("prompt", None, "sys")
    assert messages[1]["content"] == [{"type": "text", "text": "prompt"}]
    with pytest.raises(ValueError, match="audio"):
        chat_messages("prompt", "audio", "sys")


def test_system_prompt_is_configurable():
    assert system_prompt_for("r1") == DEFAULT_SYSTEM_PROMPT
    # A run config's system_prompt overrides ours and the release's alike.
    custom = system_prompt_for("transform_answer", PromptWording("release", "grpo"), "You watch videos carefully.")
    messages = chat_messages("p", "video", custom)
    assert messages[0]["content"][0]["text"] == "You watch videos carefully."
    assert chat_messages("p", "video")[0]["content"][0]["text"] == DEFAULT_SYSTEM_PROMPT


COMPACT = PromptWording("compact")


def test_compact_wording_asks_the_same_in_a_few_words():
    row = {**ROW, "pretext_question": "Is the clip reversed?\nA. no\nB. yes"}
    assert build_prompt("r1", row, COMPACT) == (
        "What color is the ball?\nOptions:\nA. red\nB. blue\nC. green\nD. yellow\n\n"
        "Think, then answer. Answer: a letter.")
    assert build_prompt("pretext", row, COMPACT) == (
        "Is the clip reversed?\nA. no\nB. yes\n\nThink, then answer. Answer: a letter.")
    assert build_prompt("transform_answer", {**row, "problem_type": "numerical", "data_type": "image"}, COMPACT) == (
        "The image was transformed: name the transform, then answer as if undone.\n\n"
        "Transform question: Is the clip reversed?\nA. no\nB. yes\n\n"
        "User Question: What color is the ball?\nAnswer: a number.")
    # every stage alike, and the system turn is ours
    assert build_prompt("r1", row, PromptWording("compact", "sft")) == build_prompt("r1", row, COMPACT)
    assert system_prompt_for("transform_answer", PromptWording("compact", "sft")) == DEFAULT_SYSTEM_PROMPT


@pytest.mark.parametrize("fmt", PROMPT_FORMATS)
def test_compact_prompts_keep_the_question_and_are_much_shorter(fmt):
    ours, compact = build_prompt(fmt, ROW), build_prompt(fmt, ROW, COMPACT)
    assert len(compact) < len(ours) - 150
    asked = ROW["pretext_question"] if fmt == "pretext" else question_with_options(ROW["problem"], OPTIONS)
    assert asked in compact


def test_compact_instructions_cover_every_problem_type():
    assert set(COMPACT_INSTRUCTIONS.answer) == set(PROBLEM_TYPES)
    for problem_type in PROBLEM_TYPES:
        assert answer_instruction(problem_type, COMPACT_INSTRUCTIONS).startswith("Answer: ")
    with pytest.raises(ValueError, match="essay"):
        answer_instruction("essay", COMPACT_INSTRUCTIONS)
