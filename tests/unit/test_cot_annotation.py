"""SSL-CoT re-annotation keeps a completion only when transform and answer are both right, and
what it keeps loads back as an SSL-CoT record with the true transform."""

import pytest

from viss_r1.data.cot_annotation import judge
from viss_r1.data.pretext_samples import PretextSettings, PretextUse, build_use_table
from viss_r1.data.records import validate_records

ROW = {
    "sample_id": "sft/train/0", "problem_id": "7", "problem": "Which way does the ball roll?", "data_type": "video",
    "problem_type": "multiple choice", "options": ["A. left", "B. right"], "solution": "<answer>B</answer>",
    "path": "./v.mp4", "data_source": "synthetic/motion", "transform_media": "video", "transform_name": "arrow",
    "transform_param": 1, "transform_letter": "B",
}


@pytest.mark.parametrize("completion, reason", [
    ("<think>bar shrinks</think><transform>B</transform><answer>B</answer>", None),
    ("<think>bar grows</think><transform>A</transform><answer>B</answer>", "transform 'A', truth 'B'"),
    ("<think>bar shrinks</think><transform>B</transform><answer>A</answer>", "answer accuracy 0.00 < 1.0"),
    ("<think>bar shrinks</think><answer>B</answer>", "not <think>"),
    ("", "not <think>"),
])
def test_kept_only_when_transform_and_answer_are_right(completion, reason):
    record, why = judge(ROW, completion, min_answer_accuracy=1.0)
    if reason is None:
        assert why is None and record["process"] == "<think>bar shrinks</think>"
        assert (record["trans_opt"], record["trans_ans"]) == ("arrow", "B")
    else:
        assert record is None and why.startswith(reason)


def test_kept_record_loads_as_ssl_cot_with_the_true_transform():
    record, _ = judge(ROW, "<think>the bar empties</think>\n<transform>B</transform>\n<answer>B</answer>", 1.0)
    valid, bad = validate_records([record], "sslcot")
    assert not bad
    row = {**valid[0], "split": "train", "record_index": 0, "extra": "{}", "fingerprint": "f" * 24, "num_frames": 16}
    (sample,), quarantine = build_use_table([row], PretextUse("sft", ("video",), require_process=True), PretextSettings())
    assert not quarantine
    assert (sample["transform_name"], sample["transform_param"], sample["transform_letter"]) == ("arrow", 1, "B")
