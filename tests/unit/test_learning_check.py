"""benchmarks/learning_check.py: its binomial tail, exact on small counts and finite on the
thousand-odd trials of a 240-clip validation split under every option of a transform (where
``math.comb`` overflows a float); and its pretext probe, which asks each model the pretext the way
its lineage learnt it: the Pretext-GRPO arm in stage I's prompt (the letter in ``<answer>``), the
rest in ViSS-R1's ``<transform>`` tag. Asked in the other arm's format, a Pretext-GRPO model reads
0 % for not writing the tag."""

import importlib.util
from fractions import Fraction
from math import comb
from pathlib import Path

import pytest

from viss_r1.stages import stage_making

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "learning_check.py"


@pytest.fixture(scope="module")
def learning_check():
    spec = importlib.util.spec_from_file_location("learning_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def binomial_p_above(learning_check):
    return learning_check.binomial_p_above


def exact_tail(successes: int, trials: int, chance: Fraction) -> float:
    return float(sum(comb(trials, k) * chance**k * (1 - chance) ** (trials - k) for k in range(successes, trials + 1)))


def test_small_counts_are_exact(binomial_p_above):
    assert binomial_p_above(3, 10, 0.5) == pytest.approx(968 / 1024, rel=1e-12)
    assert binomial_p_above(5, 5, 0.3) == pytest.approx(0.3 ** 5, rel=1e-12)
    assert binomial_p_above(0, 7, 0.2) == 1.0


@pytest.mark.parametrize("successes", [240, 260, 300, 700])
def test_a_thousand_trials_do_not_overflow(binomial_p_above, successes):
    # 240 clips × 6 shuffle options at chance 1/6: the call that raised OverflowError before.
    expected = exact_tail(successes, 1440, Fraction(1, 6))
    assert binomial_p_above(successes, 1440, 1 / 6) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("model, expected", [
    ("pretext_grpo_model", "pretext"),              # stage I itself
    ("pretext_grpo_stage2_model", "pretext"),       # stage II starts from stage I's model
    ("sft_model", "transform_answer"),
    ("viss_r1_model", "transform_answer"),
    ("instruct_model", "transform_answer"),
    ("grpo_baseline_model", "transform_answer"),
])
def test_each_model_is_asked_in_its_lineage_format(learning_check, model, expected):
    assert learning_check.pretext_prompt_format(stage_making(model)) == expected


def test_the_base_model_has_no_stage(learning_check):
    assert learning_check.pretext_prompt_format(None) == "transform_answer"


def test_a_pretext_answer_is_scored_by_stage_one_reward(learning_check, monkeypatch):
    rows = [{"transform_name": "arrow", "transform_letter": "B"}, {"transform_name": "arrow", "transform_letter": "A"},
            {"transform_name": "rotate", "transform_letter": "C"}]
    texts = ["<think>it runs backwards</think>\n<answer>B</answer>", "<think>x</think>\n<answer>B</answer>",
             "<think>x</think>\n<transform>C</transform>\n<answer>D</answer>"]

    class Decoding:
        batch_size = 2

        def model_copy(self, update):
            return self

    seen = []

    def generate(conversations, media, decoding):
        start = len(seen)
        seen.extend(conversations)
        return [{"text": text, "num_tokens": 1} for text in texts[start:start + len(conversations)]]

    class Settings:
        wording = None

    asked = []
    monkeypatch.setattr(learning_check, "row_request",
                        lambda row, frames, fmt, system, wording=None: (asked.append(fmt) or [row], None))
    monkeypatch.setattr(learning_check, "system_prompt_for", lambda fmt, wording: "system")
    results = learning_check.ask_pretext_question(rows, generate, None, Decoding(), Settings())
    assert asked == ["pretext", "pretext", "pretext"]
    assert [r["transform_correct"] for r in results] == [True, False, False]
    assert [r["transform"] for r in results] == ["arrow", "arrow", "rotate"]
