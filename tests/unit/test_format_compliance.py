"""Format compliance per condition: each answer checked against the format its condition's prompt
asked for (the format reward's pattern), reported beside accuracy as ``format/<condition>``."""

from __future__ import annotations

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.evaluate.config import EvalSettings, ProbeSettings
from viss_r1.evaluate.probes import TRANSFORMED, Condition, condition_rows
from viss_r1.evaluate.run import ask_rows, result_row
from viss_r1.evaluate.scores import score_metrics, summarize

SPEC = BENCHMARKS["synthetic"]
R1 = "<think>it moves right</think><answer>B</answer>"
VISS_R1 = "<think>it plays forward</think><transform>A</transform><answer>B</answer>"
BARE = "B"
LEADING_SPACE = " " + R1   # nothing may come before <think>


def scripted(texts):
    """``generate`` answering ``texts`` in turn, whatever it is asked."""
    answered = []

    def generate(conversations, media, decoding):
        start = len(answered)
        answered.extend(texts[start:start + len(conversations)])
        return [{"text": text, "num_tokens": 1} for text in answered[start:]]
    return generate


def asked(condition, rows, settings, texts, tiny_sft):
    return [row for batch in ask_rows(condition, rows, scripted(texts), FrameCacheReader(tiny_sft.shard_files),
                                      settings, SPEC, batch_size=3) for row in batch]


def test_each_answer_is_checked_against_the_format_its_condition_asked(tiny_sft):
    records = tiny_sft.rows[:4]
    settings = EvalSettings(probes=ProbeSettings(transforms=["arrow"], frame_drop=[]))
    answers = {"clean": [R1, R1, BARE, VISS_R1], "blind": [R1, BARE, BARE, LEADING_SPACE], "no_video": [BARE] * 4}
    results = []
    for name, texts in answers.items():
        condition = Condition(name, name)
        results += asked(condition, condition_rows(condition, records, settings), settings, texts, tiny_sft)
    transformed = [dict(r, sample_id=f"train/{r['record_index']}", transform_name="arrow", transform_param=0,
                        transform_letter="A") for r in records]
    results += asked(TRANSFORMED, transformed, settings, [VISS_R1, VISS_R1, VISS_R1, R1], tiny_sft)   # ViSS-R1's format
    # a missing sample has no output: neither in nor out of format
    results.append(result_row(SPEC.name, Condition("blind", "blind"), {**records[0], "sample_id": "x/9"},
                              SPEC.task_fields, status="missing", failure="file not found"))
    assert [r["follows_format"] for r in results if r["condition"] == "clean"] == [True, True, False, False]
    assert [r["follows_format"] for r in results if r["condition"] == "transformed"] == [True, True, True, False]

    summary = summarize(results, SPEC)
    assert summary["format"] == {"blind": 25.0, "clean": 50.0, "no_video": 0.0, "transformed": 75.0}
    metrics = score_metrics(summary)
    assert {name: value for name, value in metrics.items() if name.startswith("format/")} == {
        "format/blind": 25.0, "format/clean": 50.0, "format/no_video": 0.0, "format/transformed": 75.0}


def test_a_viss_r1_model_is_checked_against_the_viss_r1_format(tiny_sft):
    settings = EvalSettings(prompt_format="transform_answer", probes=ProbeSettings(transforms=[], frame_drop=[]))
    clean = Condition("clean", "clean")
    texts = [VISS_R1, VISS_R1, R1, BARE]
    results = asked(clean, condition_rows(clean, tiny_sft.rows[:4], settings), settings, texts, tiny_sft)
    assert [r["follows_format"] for r in results] == [True, True, False, False]
    assert summarize(results, SPEC)["format"] == {"clean": 50.0}


def test_nothing_scored_has_no_compliance():
    rows = [result_row(SPEC.name, Condition("clean", "clean"),
                       {"sample_id": "a/0", "problem_id": "0", "problem_type": "multiple choice",
                        "solution": "<answer>A</answer>"}, (), status="failed", failure="out of memory")]
    summary = summarize(rows, SPEC)
    assert summary["format"] == {"clean": None} and not any(m.startswith("format/") for m in score_metrics(summary))
