"""Rewards (METHOD.md §4): exact values on hand-made completions, one test per branch."""

from __future__ import annotations

import functools

import pytest

from viss_r1.answers import extract_answer, extract_transform
from viss_r1.pretext.transforms import OPTION_LETTERS
from viss_r1.rewards import (
    THINK_ANSWER_PATTERN,
    THINK_TRANSFORM_ANSWER_PATTERN,
    VIDEO_R1_LENGTH_WINDOW,
    VISS_R1_LENGTH_WINDOW,
    RewardSettings,
    accuracy,
    accuracy_reward,
    completion_text,
    format_reward,
    format_score,
    gated_accuracy,
    gated_reward,
    length_bonus,
    length_reward,
    pretext_accuracy_reward,
    stage_rewards,
    temporal_bonus,
    temporal_reward,
    transform_correct,
    transform_format_reward,
    transform_reward,
)
from viss_r1.stages import PRETEXT_GRPO_STAGE1, PRETEXT_GRPO_STAGE2, STAGES, VIDEO_R1_GRPO, VISS_R1_GRPO

EXACT = functools.partial(pytest.approx, abs=1e-12)


def reply(answer: str, think: str = "reasoning", transform: str | None = None) -> str:
    middle = "" if transform is None else f"<transform>{transform}</transform>"
    return f"<think>{think}</think>{middle}<answer>{answer}</answer>"


# --- extraction ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("<answer>B</answer>", "B"),
    ("<think>x</think><answer>  B \n</answer>", "B"),
    ("no tags at all", ""),
    ("", ""),
    (None, ""),
    ("<answer>B", ""),                                       # unclosed
    ("<answr>B</answr>", ""),                                # misspelt open and close
    ("<answer>B</anwser>", ""),                              # misspelt close
    ("<answer><answer>B</answer></answer>", "<answer>B"),    # nested: first open to first close
    ("<answer>A</answer> then <answer>B</answer>", "A"),     # several: the first wins
    ("<answer>\n  line one\nline two \n</answer>", "line one\nline two"),
    ("<answer></answer>", ""),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_transform_takes_first_stripped_tag_only():
    text = "<think>a</think><transform>\n C </transform><transform>D</transform><answer>B</answer>"
    assert extract_transform(text) == "C"
    assert extract_transform("<answer>B</answer>") == ""
    assert extract_transform("<transform>C") == ""


# --- accuracy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("prediction, truth, expected", [
    ("B", "B", 1.0),
    (" B ", "B", 1.0),
    ("C", "B", 0.0),
    ("B.", "B", 0.0),      # the release compares stripped strings exactly
    ("(B)", "B", 0.0),
    ("b", "B", 0.0),
    ("", "B", 0.0),
])
def test_multiple_choice_is_exact_letter_match(prediction, truth, expected):
    assert accuracy(prediction, truth, "multiple choice") == expected


@pytest.mark.parametrize("prediction, truth, expected", [
    ("12", "12", 1.0),
    ("13", "12", 0.0),
    ("1,000", "1,000", 1.0),
    ("1000", "1,000", 0.0),      # exactly one has a separator: wrong whatever the value
    ("1,000", "1000", 0.0),
    ("1000.0", "1,000", 1.0),    # both have one: commas dropped, values equal
    ("2", "2.0", 0.0),           # integer against decimal
    ("2.0", "2", 0.0),
    ("2.00", "2.0", 1.0),
    ("3.14159", "3.14", 1.0),    # equal once rounded to 2 places
    ("3.141", "3.14", 1.0),
    ("3.146", "3.14", 0.0),      # rounds to 3.15
    ("-0.5", "-0.50", 1.0),
    ("about 12", "12", 0.0),     # unparsable
    ("1.2.3", "1.5", 0.0),
    ("nan", "1.5", 0.0),
    ("inf", "inf", 0.0),         # non-finite counts as unparsable
    ("", "", 0.0),
])
def test_numerical(prediction, truth, expected):
    assert accuracy(prediction, truth, "numerical") == expected


def _release_wer(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over max(1, reference words), words split on any whitespace."""
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], prev if r == h else 1 + min(row[j], row[j - 1], prev)
    return row[-1] / max(1, len(ref))


@pytest.mark.parametrize("prediction, truth, expected", [
    ("the quick brown fox", "the quick brown fox", 1.0),
    ("the quick brown box", "the quick brown fox", 0.75),   # one substitution in four words
    ("the quick fox", "the quick brown fox", 0.75),         # one deletion
    ("the quick\nbrown   fox", "the quick brown fox", 1.0),  # any whitespace separates words
    ("The quick brown fox", "the quick brown fox", 0.75),   # case-sensitive
    ("a b c d e f g", "a b", 0.0),                          # WER 2.5, clipped
    ("", "the quick brown fox", 0.0),
    ("", "", 1.0),
    ("word", "", 0.0),
])
def test_ocr_is_one_minus_wer_clipped(prediction, truth, expected):
    assert accuracy(prediction, truth, "OCR") == EXACT(expected)
    assert accuracy(prediction, truth, "OCR") == EXACT(max(0.0, min(1.0, 1 - _release_wer(truth, prediction))))


@pytest.mark.parametrize("prediction, truth, expected", [
    ("the cat sat on the mat", "the cat sat on the mat", 1.0),
    # stems: the/cat/run/fast vs a/cat/run/fast → R1 3/4, R2 2/3, RL 3/4 → 13/18
    ("a cat running fast", "the cats run fast", 13 / 18),
    ("completely different words", "the cats run fast", 0.0),
    ("", "the cats run fast", 0.0),
    ("", "", 0.0),
])
def test_free_form_is_mean_rouge_f(prediction, truth, expected):
    assert accuracy(prediction, truth, "free-form") == EXACT(expected)


@pytest.mark.parametrize("prediction, truth, expected", [
    ("10", "10", 1.0),
    ("8", "10", 0.8),
    ("12.5", "10", 0.75),
    ("25", "10", 0.0),          # relative error 1.5, clipped
    ("-10", "10", 0.0),
    ("900", "1,000", 0.9),      # commas dropped; no separator rule for regression
    ("0", "0", 1.0),            # truth 0: only an exact 0 is right
    ("0.0", "0", 1.0),
    ("0.1", "0", 0.0),
    ("nan", "10", 0.0),         # the release gave "nan" full credit
    ("inf", "10", 0.0),
    ("ten", "10", 0.0),
    ("", "10", 0.0),
    ("5", "", 0.0),
])
def test_regression_partial_credit(prediction, truth, expected):
    assert accuracy(prediction, truth, "regression") == EXACT(expected)


def test_unknown_problem_type_names_the_value():
    with pytest.raises(ValueError, match="'essay'"):
        accuracy("B", "B", "essay")


# --- format -------------------------------------------------------------------------------------

@pytest.mark.parametrize("completion, two_tag, three_tag", [
    ("<think>x</think><answer>B</answer>", 1.0, 0.0),
    ("<think>x</think>\n\n<answer>B</answer>", 1.0, 0.0),
    ("<think>line 1\nline 2</think>\n<answer>\nB\n</answer>", 1.0, 0.0),   # newlines inside tags
    ("<think></think><answer></answer>", 1.0, 0.0),
    ("Sure. <think>x</think><answer>B</answer>", 0.0, 0.0),               # text before
    ("<think>x</think><answer>B</answer> Done.", 0.0, 0.0),               # text after
    ("<think>x</think><answer>B</answer>\n", 0.0, 0.0),                   # even a newline
    ("<think>x</think> so <answer>B</answer>", 0.0, 0.0),                 # text between
    ("<answer>B</answer>", 0.0, 0.0),
    ("<think>x</think><answer>B", 0.0, 0.0),                              # unclosed
    ("<think>x</thnk><answer>B</answer>", 0.0, 0.0),                      # misspelt
    ("<think>x</think><transform>C</transform><answer>B</answer>", 0.0, 1.0),
    ("<think>x</think>\n<transform>\nC\n</transform>\n<answer>B</answer>", 0.0, 1.0),
    ("<think>x</think><answer>B</answer><transform>C</transform>", 0.0, 0.0),  # wrong order
    ("<think>x</think><transform>C</transform>", 0.0, 0.0),
    ("", 0.0, 0.0),
])
def test_format_score(completion, two_tag, three_tag):
    assert format_score(completion, with_transform=False) == two_tag
    assert format_score(completion, with_transform=True) == three_tag


def test_format_patterns_are_the_release_patterns():
    assert THINK_ANSWER_PATTERN == r"<think>.*?</think>\s*<answer>.*?</answer>"
    assert THINK_TRANSFORM_ANSWER_PATTERN == r"<think>.*?</think>\s*<transform>.*?</transform>\s*<answer>.*?</answer>"


# --- transform ----------------------------------------------------------------------------------

@pytest.mark.parametrize("completion, truth, expected", [
    (reply("A", transform="B"), "B", 1.0),
    (reply("A", transform=" B\n"), "B", 1.0),
    (reply("A", transform="B"), "<transform>B</transform>", 1.0),   # the release's spelling of the truth
    (reply("A", transform="C"), "B", 0.0),
    (reply("A", transform="B."), "B", 0.0),
    (reply("B"), "B", 0.0),                                          # no transform tag
])
def test_transform_correct(completion, truth, expected):
    assert transform_correct(completion, truth) == expected


@pytest.mark.parametrize("truth", ["", "G", "AB", "<transform></transform>"])
def test_transform_truth_must_be_an_option_letter(truth):
    assert "G" not in OPTION_LETTERS
    with pytest.raises(ValueError, match="transform_letter"):
        transform_correct(reply("A", transform="A"), truth)


# --- length bonus -------------------------------------------------------------------------------

def test_length_bonus_needs_two_accurate_rollouts_in_the_group():
    assert length_bonus([1.0, 0.0, 0.0, 0.0], [400] * 4, ["g"] * 4) == [0.0] * 4
    assert length_bonus([1.0, 1.0, 0.0, 0.05], [400] * 4, ["g"] * 4) == [0.2, 0.2, 0.0, 0.0]


def test_length_bonus_accuracy_must_exceed_min_accuracy():
    # 0.1 is not > 0.1: those rollouts neither earn the bonus nor count towards the group's two.
    assert length_bonus([1.0, 0.1, 0.1], [400] * 3, ["g"] * 3) == [0.0, 0.0, 0.0]
    assert length_bonus([0.11, 0.1, 0.5], [400] * 3, ["g"] * 3) == [0.2, 0.0, 0.2]


def test_length_bonus_window_is_inclusive():
    lengths = [319, 320, 768, 769]
    assert length_bonus([1.0] * 4, lengths, ["g"] * 4, window=VISS_R1_LENGTH_WINDOW) == [0.0, 0.2, 0.2, 0.0]
    assert length_bonus([1.0] * 4, [319, 320, 512, 513], ["g"] * 4, window=VIDEO_R1_LENGTH_WINDOW) == [0.0, 0.2, 0.2, 0.0]
    assert length_bonus([1.0] * 2, [600, 600], ["g"] * 2, window=VIDEO_R1_LENGTH_WINDOW) == [0.0, 0.0]


def test_length_bonus_groups_interleaved():
    groups = ["a", "b", "a", "b", "a", "b"]
    accuracies = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]   # group a: two accurate; group b: one
    assert length_bonus(accuracies, [400] * 6, groups) == [0.2, 0.0, 0.0, 0.0, 0.2, 0.0]


def test_length_bonus_parameters_and_shape_check():
    assert length_bonus([0.5, 0.5], [10, 20], [0, 0], window=(10, 20), bonus=0.7, min_accuracy=0.4) == [0.7, 0.7]
    with pytest.raises(ValueError, match="3 accuracies, 2 lengths"):
        length_bonus([1.0, 1.0, 1.0], [400, 400], ["g"] * 3)


# --- options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("acc, transform_right, expected", [
    (0.3, False, 0.3),    # both wrong → acc
    (0.3, True, 0.5),     # transform right, answer wrong → 0.2 + acc
    (0.9, False, 0.7),    # transform wrong, answer right → capped at 0.7
    (0.6, False, 0.6),
    (0.5, False, 0.5),    # 0.5 counts as answer right
    (0.9, True, 1.9),     # both right → 1 + acc
    (0.5, True, 1.5),
])
def test_gated_accuracy_branches(acc, transform_right, expected):
    assert gated_accuracy(acc, transform_right) == EXACT(expected)


def test_temporal_bonus_when_order_helps():
    # mean(ordered) 0.5 >= 0.8 × mean(shuffled) 0.5 → +0.3 to ordered rollouts with acc > 0.1
    assert temporal_bonus([1.0, 1.0, 0.1, 0.0], [1.0, 0.0]) == [0.3, 0.3, 0.0, 0.0]
    # boundary: 0.4 >= 0.8 × 0.5 holds with Video-R1's ratio, not with the ViSS-R1 release's 1.0
    assert temporal_bonus([1.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0]) == [0.3, 0.0, 0.3, 0.0, 0.0]
    assert temporal_bonus([1.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0], ratio=1.0) == [0.0] * 5


def test_temporal_bonus_when_order_does_not_help():
    assert temporal_bonus([1.0, 0.0, 0.0, 0.0], [1.0, 0.0]) == [0.0] * 4   # 0.25 < 0.4
    with pytest.raises(ValueError, match="0 shuffled"):
        temporal_bonus([1.0], [])


# --- TRL adapters -------------------------------------------------------------------------------


def test_temporal_reward_per_group_against_its_shuffled_rollouts():
    completions = [reply("A"), reply("A"), reply("B"), reply("A"), reply("B"), reply("C")]
    columns = dict(solution=["<answer>A</answer>"] * 6, problem_type=["multiple choice"] * 6,
                   sample_id=["p", "p", "p", "q", "q", "r"],
                   shuffled_accuracy=[0.5, 0.5, 0.5, 1.0, 1.0, None])
    # p: mean 2/3 ≥ 0.8 × 0.5 → +0.3 to its right answers; q: 0.5 < 0.8 × 1.0 → nothing;
    # r has no video (no shuffled rollouts) → nothing.
    assert temporal_reward(completions=completions, **columns) == EXACT([0.3, 0.3, 0.0, 0.0, 0.0, 0.0])
    assert temporal_reward(completions=completions, ratio=0.25, **columns) == EXACT([0.3, 0.3, 0.0, 0.3, 0.0, 0.0])
    with pytest.raises(ValueError, match="shuffled_accuracy"):
        temporal_reward(completions=completions, **{k: v for k, v in columns.items() if k != "shuffled_accuracy"})

TRL_EXTRAS = {"trainer_state": object(), "log_extra": lambda *a: None, "log_metric": lambda *a: None}


def test_accuracy_reward_scores_each_sample_by_its_own_problem_type():
    completions = [reply("B"), reply("3.140"), reply("the quick brown box"), reply("a cat running fast"), reply("8")]
    solutions = ["<answer>B</answer>", "<answer>3.14</answer>", "<answer>the quick brown fox</answer>",
                 "<answer>the cats run fast</answer>", "<answer>10</answer>"]
    types = ["multiple choice", "numerical", "OCR", "free-form", "regression"]
    rewards = accuracy_reward(prompts=[None] * 5, completions=completions, completion_ids=None,
                              solution=solutions, problem_type=types, **TRL_EXTRAS)
    assert rewards == [1.0, 1.0, EXACT(0.75), EXACT(13 / 18), EXACT(0.8)]


def test_conversational_completions_score_like_strings():
    texts = [reply("B", transform="A"), "B", reply("C")]
    messages = [[{"role": "assistant", "content": t}] for t in texts]
    columns = {"solution": ["<answer>B</answer>"] * 3, "problem_type": ["multiple choice"] * 3,
               "transform_letter": ["A"] * 3}
    for completions in (texts, messages):
        assert accuracy_reward(completions=completions, **columns) == [1.0, 0.0, 0.0]
        assert format_reward(completions=completions) == [0.0, 0.0, 1.0]
        assert transform_format_reward(completions=completions) == [1.0, 0.0, 0.0]
        assert transform_reward(completions=completions, **columns) == [1.0, 0.0, 0.0]
    assert completion_text([{"role": "assistant", "content": None}]) == ""
    with pytest.raises(TypeError, match="completion must be"):
        completion_text(42)


def test_missing_column_says_which():
    with pytest.raises(ValueError, match="'problem_type'"):
        accuracy_reward(completions=[reply("B")], solution=["<answer>B</answer>"])


def test_transform_reward_leaves_rows_without_a_letter_unscored():
    completions = [reply("A", transform="B"), reply("A", transform="B")]
    assert transform_reward(completions=completions, transform_letter=["B", None]) == [1.0, None]


def test_pretext_accuracy_reward_reads_the_letter_from_answer():
    completions = [reply("B"), reply("B."), reply("C"), "B"]
    assert pretext_accuracy_reward(completions=completions, transform_letter=["B"] * 4) == [1.0, 0.0, 0.0, 0.0]


def test_gated_reward_combines_accuracy_and_transform():
    completions = [reply("B", transform="A"), reply("B", transform="C"), reply("D", transform="A"), reply("D", transform="C")]
    columns = {"solution": ["<answer>B</answer>"] * 4, "problem_type": ["multiple choice"] * 4,
               "transform_letter": ["A"] * 4}
    assert gated_reward(completions=completions, **columns) == [2.0, 0.7, EXACT(0.2), 0.0]


def test_length_reward_groups_by_sample_id_and_measures_token_ids():
    completions = [reply("B")] * 3 + [reply("B"), reply("A"), reply("A")]
    ids = [[0] * 400, [0] * 800, [0] * 320, [0] * 400, [0] * 400, [0] * 400]
    columns = {"solution": ["<answer>B</answer>"] * 6, "problem_type": ["multiple choice"] * 6,
               "sample_id": ["p1"] * 3 + ["p2"] * 3}
    assert length_reward(completions=completions, completion_ids=ids, **columns, **TRL_EXTRAS) == [
        0.2, 0.0, 0.2, 0.0, 0.0, 0.0]
    narrow = functools.partial(length_reward, window=VIDEO_R1_LENGTH_WINDOW)
    assert narrow(completions=completions, completion_ids=ids, **columns) == [0.2, 0.0, 0.2, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="completion_ids"):
        length_reward(completions=completions, **columns)
    with pytest.raises(ValueError, match="'sample_id'"):
        length_reward(completions=completions, completion_ids=ids, solution=columns["solution"],
                      problem_type=columns["problem_type"])


def test_pretext_length_reward_uses_the_pretext_accuracy():
    completions = [reply("C"), reply("C")]
    rewards = length_reward(completions=completions, completion_ids=[[0] * 400] * 2, pretext=True,
                            transform_letter=["C", "C"], sample_id=["p", "p"])
    assert rewards == [0.2, 0.2]


# --- settings and stages ------------------------------------------------------------------------

def rewards_of(stage, **changes):
    """The reward set of a registered stage, with ``changes`` to its settings (validated)."""
    return stage_rewards(stage.prompt_format, RewardSettings.model_validate({**stage.rewards.model_dump(), **changes}))


def _names(funcs) -> list[str]:
    # TRL logs a partial under the wrapped function's name.
    return [(f.func if isinstance(f, functools.partial) else f).__name__ for f in funcs]


def test_stage_reward_sets_match_the_release():
    funcs, weights = rewards_of(VISS_R1_GRPO)
    assert _names(funcs) == ["accuracy_reward", "transform_reward", "transform_format_reward", "length_reward"]
    assert weights == [1.0, 0.5, 1.0, 1.0]
    assert funcs[-1].keywords["window"] == (320, 768)

    funcs, weights = rewards_of(PRETEXT_GRPO_STAGE1)
    assert _names(funcs) == ["pretext_accuracy_reward", "format_reward", "length_reward"]
    assert weights == [1.0, 1.0, 1.0]
    assert funcs[-1].keywords == {"window": (320, 512), "bonus": 0.2, "min_accuracy": 0.1, "pretext": True}

    for stage in (VIDEO_R1_GRPO, PRETEXT_GRPO_STAGE2):   # ordinary GRPO: the baseline and Pretext-GRPO's stage II
        funcs, weights = rewards_of(stage)
        assert _names(funcs) == ["accuracy_reward", "format_reward", "length_reward"]
        assert weights == [1.0, 1.0, 1.0]
        assert funcs[-1].keywords["window"] == (320, 512)
    assert {stage.name for stage in STAGES.values() if stage.trainer == "grpo"} == {
        "viss_r1_grpo", "pretext_grpo_stage1", "pretext_grpo_stage2", "video_r1_grpo"}


def test_stage_reward_options():
    temporal = rewards_of(VIDEO_R1_GRPO, temporal=True, temporal_ratio=1.0)
    assert _names(temporal.funcs) == ["accuracy_reward", "format_reward", "temporal_reward", "length_reward"]
    assert temporal.funcs[2].keywords == {"ratio": 1.0, "bonus": 0.3, "min_accuracy": 0.1}
    with pytest.raises(ValueError, match="T-GRPO"):   # shuffling changes the pretext label itself
        rewards_of(PRETEXT_GRPO_STAGE1, temporal=True)
    gated = rewards_of(VISS_R1_GRPO, gated=True)
    assert _names(gated.funcs) == ["gated_reward", "transform_format_reward", "length_reward"]
    assert gated.weights == [1.0, 1.0, 1.0]
    plain = rewards_of(VIDEO_R1_GRPO, use_length_bonus=False)
    assert _names(plain.funcs) == ["accuracy_reward", "format_reward"]
    assert stage_rewards("transform_answer", RewardSettings(transform_weight=1.0)).weights[1] == 1.0
    with pytest.raises(ValueError, match="prompt format 'pretext' asks for no transform answer"):
        rewards_of(PRETEXT_GRPO_STAGE1, gated=True)
    with pytest.raises(ValueError, match="prompt format 'sft' is unknown"):
        stage_rewards("sft", RewardSettings())
    with pytest.raises(ValueError, match="transform_weight"):
        RewardSettings(transform_weight=-0.5)
    with pytest.raises(ValueError, match="length_window"):
        RewardSettings(length_window=(768, 320))
    assert RewardSettings(length_window=[320, 512]).length_window == (320, 512)   # from YAML


def test_viss_r1_weighted_sum_of_a_perfect_group():
    """Two rollouts, both fully right at 400 tokens: 1 + 0.5·1 + 1 + 0.2 = 2.7 each."""
    completions = [reply("B", transform="A")] * 2
    columns = {"solution": ["<answer>B</answer>"] * 2, "problem_type": ["multiple choice"] * 2,
               "transform_letter": ["A"] * 2, "sample_id": ["s"] * 2}
    funcs, weights = rewards_of(VISS_R1_GRPO)
    per_func = [f(prompts=[None] * 2, completions=completions, completion_ids=[[0] * 400] * 2, **columns, **TRL_EXTRAS)
                for f in funcs]
    totals = [sum(w * rewards[i] for w, rewards in zip(weights, per_func)) for i in range(2)]
    assert totals == [EXACT(2.7), EXACT(2.7)]


def _weighted_totals(funcs, weights, completions, columns, lengths) -> list[float]:
    per_func = [f(prompts=[None] * len(completions), completions=completions,
                  completion_ids=[[0] * n for n in lengths], **columns, **TRL_EXTRAS) for f in funcs]
    return [sum(w * rewards[i] for w, rewards in zip(weights, per_func)) for i in range(len(completions))]


def test_reward_without_accuracy_is_half_transform_plus_format():
    """The paper's ablation: right and wrong answers score alike; no length bonus (it is gated on
    accuracy), though every rollout is accurate enough and 400 tokens long."""
    funcs, weights = rewards_of(VISS_R1_GRPO, use_accuracy=False)
    assert _names(funcs) == ["transform_reward", "transform_format_reward"] and weights == [0.5, 1.0]
    completions = [reply("B", transform="A"), reply("D", transform="A"), reply("B", transform="C"),
                   "<think>r</think><answer>B</answer>", reply("B", transform="A") + " trailing"]
    columns = {"solution": ["<answer>B</answer>"] * 5, "problem_type": ["multiple choice"] * 5,
               "transform_letter": ["A"] * 5, "sample_id": ["s"] * 5}
    assert _weighted_totals(funcs, weights, completions, columns, [400] * 5) == [
        EXACT(1.5), EXACT(1.5), EXACT(1.0), EXACT(0.0), EXACT(0.5)]
    # The full reward of the same rollouts, for contrast: accuracy and the length bonus count there.
    full = rewards_of(VISS_R1_GRPO)
    assert _weighted_totals(*full, completions, columns, [400] * 5) == [
        EXACT(2.7), EXACT(1.5), EXACT(2.2), EXACT(1.2), EXACT(1.7)]


def test_reward_without_accuracy_is_refused_where_nothing_would_stand_on_it():
    with pytest.raises(ValueError, match="prompt format 'r1' with the format reward alone"):
        rewards_of(VIDEO_R1_GRPO, use_accuracy=False)
    with pytest.raises(ValueError, match="prompt format 'pretext' with the format reward alone"):
        rewards_of(PRETEXT_GRPO_STAGE1, use_accuracy=False)
    with pytest.raises(ValueError, match="with temporal: .*set temporal: false"):
        rewards_of(VISS_R1_GRPO, use_accuracy=False, temporal=True)
    with pytest.raises(ValueError, match="with gated: .*set gated: false"):
        rewards_of(VISS_R1_GRPO, use_accuracy=False, gated=True)


def test_t_grpo_in_the_viss_r1_stage_uses_the_release_ratio():
    """The release's ViSS-R1 trainer adds T-GRPO's 0.3 when the ordered mean accuracy is at least
    the shuffled one (ratio 1.0; Video-R1: 0.8)."""
    funcs, weights = rewards_of(VISS_R1_GRPO, temporal=True)
    assert _names(funcs) == ["accuracy_reward", "transform_reward", "transform_format_reward", "temporal_reward",
                             "length_reward"]
    assert weights == [1.0, 0.5, 1.0, 1.0, 1.0]
    assert funcs[3].keywords == {"ratio": 1.0, "bonus": 0.3, "min_accuracy": 0.1}
    assert rewards_of(VIDEO_R1_GRPO, temporal=True).funcs[2].keywords["ratio"] == 0.8
    completions = [reply("B", transform="A"), reply("B", transform="C"), reply("D", transform="A"), reply("B", transform="A")]
    columns = {"solution": ["<answer>B</answer>"] * 4, "problem_type": ["multiple choice"] * 4,
               "transform_letter": ["A"] * 4, "sample_id": ["p", "p", "p", "q"],
               # p: ordered mean 2/3 ≥ 1.0 × 0.6 → +0.3 to its right answers; q: 1.0 ≥ 1.0 × 1.0 → +0.3
               "shuffled_accuracy": [0.6, 0.6, 0.6, 1.0]}
    # 1 + 0.5 + 1 + 0.3 + 0.2 · 1 + 0 + 1 + 0.3 + 0.2 · wrong answer · q alone: no length bonus
    assert _weighted_totals(funcs, weights, completions, columns, [400, 400, 400, 100]) == [
        EXACT(3.0), EXACT(2.5), EXACT(1.5), EXACT(2.8)]
    # Under Video-R1's 0.8 a group 0.1 below its shuffled mean still earns the bonus; under 1.0 not.
    below = {**columns, "shuffled_accuracy": [0.7, 0.7, 0.7, 1.0]}
    assert temporal_reward(completions=completions, **below) == EXACT([0.3, 0.3, 0.0, 0.3])
    assert funcs[3](completions=completions, **below) == EXACT([0.0, 0.0, 0.0, 0.3])
