"""SSL-CoT re-annotation keeps a completion only when transform and answer are both right, and
what it keeps loads back as an SSL-CoT record with the true transform. By default the annotator
is hinted with the release's prompt (the true transform and answer shown), its outputs read and
filtered as the release reads them, and the kept fraction is reported."""

import json

import pytest

from assets.configs import CotAnnotationsConfig
from viss_r1.annotate import SUMMARY_FILE, annotate, annotator_prompt, judge
from viss_r1.data.pretext_samples import PretextSettings, PretextUse, build_use_table
from viss_r1.data.records import validate_records
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT, OURS, PromptWording, build_prompt
from viss_r1.train.config import CotAnnotationRunConfig

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
def test_blind_kept_only_when_transform_and_answer_are_right(completion, reason):
    record, why = judge(ROW, completion, min_answer_accuracy=1.0, prompt="blind")
    if reason is None:
        assert why is None and record["process"] == "<think>bar shrinks</think>"
        assert (record["trans_opt"], record["trans_ans"]) == ("arrow", "B")
    else:
        assert record is None and why.startswith(reason)


def test_kept_record_loads_as_ssl_cot_with_the_true_transform():
    record, _ = judge(ROW, "<think>the bar empties</think>\n<transform>B</transform>\n<answer>B</answer>", 1.0,
                      "hinted")
    valid, bad = validate_records([record], "sslcot")
    assert not bad
    row = {**valid[0], "split": "train", "record_index": 0, "extra": "{}", "fingerprint": "f" * 24, "num_frames": 16}
    (sample,), quarantine = build_use_table([row], PretextUse("cot", ("video",), require_process=True), PretextSettings())
    assert not quarantine
    assert (sample["transform_name"], sample["transform_param"], sample["transform_letter"]) == ("arrow", 1, "B")


HINTED = PromptWording("release", "annotation")


def test_hinted_prompt_is_anno_sft_72b_with_the_true_transform_and_answer():
    # preprocess_SFT/anno_sft_72b.py update_ssl_messgae: SSL_THINKING_TEMPLATE, utils.py's arrow
    # trans_prompt, gt "<transform>B</transform>", problem + "Options:\n" + "option\n"…, the solution
    assert build_prompt("transform_answer", ROW, HINTED) == (
        "You will be given an image or video that has been transformed in some way, along with two progressive questions:\n"
        "1. Transformation Identification: Based on the visual content, identify the type of transformation applied to the image or video.\n"
        "2. User Question: On the basis of the restored (inverse-transformed) image or video, answer the real user's question. You need to think even more deeply about the user question.\n"
        "Please think through both questions step by step, as a human would. Carefully analyze the visual content and reason in detail. "
        "Your thought process should include natural inner dialogue such as 'let me think,' 'hmm,' 'wait,' 'oh, I see,' 'let\u2019s break it down,' etc., and show self-reflection or verification as you work through each problem. "
        "Put your detailed thought process inside <think>...</think> tags. Place your final transformation identification inside <transform>...</transform> tags. Place your final answer to the user question inside <answer>...</answer> tags. For example: <think> ... </think><transform> ... </transform><answer> ... </answer>.\n"
        "Important:\n"
        "- Your reasoning and answer must be based on the visual information from the input image or video.\n"
        "- Do not mention or refer to any 'ground truth', 'reference answer' or similar terms in your output.\n"
        "- Your transformation identification must exactly match the provided Ground Truth Transform, and your answer to the user question must exactly match the provided Ground Truth Answer.\n"
        "Transform question: Please review the input video and determine whether the sequence of video frames has been reversed (i.e., played in reverse order). The possible options are:\n"
        " A. No, the video frames remain in their original order.\n B. Yes, the video frames have been reversed.\n\n"
        "Ground Truth Transform: <transform>B</transform>\n"
        "User Question: Which way does the ball roll?Options:\nA. left\nB. right\n\n"
        "Ground Truth Answer: <answer>B</answer>")


def test_hinted_is_the_default_and_blind_is_our_prompt():
    paths = {"annotator": "a", "samples": "s", "frame_shards": [], "output_dir": "o"}
    assert CotAnnotationRunConfig(**paths).prompt == "hinted" == CotAnnotationsConfig(annotator="a").prompt
    assert annotator_prompt("hinted") == (HINTED, "You are an advanced multimedia analysis assistant.\n")
    assert annotator_prompt("blind") == (OURS, DEFAULT_SYSTEM_PROMPT)
    with pytest.raises(ValueError, match="annotation prompt 'peek' is unknown"):
        annotator_prompt("peek")


@pytest.mark.parametrize("completion, reason", [
    # read as preprocess_SFT/utils.py reads it: tags found anywhere, whitespace inside them dropped
    ("Sure.\n<think>\n the bar shrinks \n</think>\n<transform> B </transform>\n<answer>B</answer> Done.", None),
    ("<think>the ground truth says reversed</think><transform>B</transform><answer>B</answer>",
     "reasoning mentions the ground truth"),
    ("<think>it plays backward</think><transform>B.</transform><answer>B</answer>", "transform 'B.' is not one letter"),
    ("<think>it plays backward</think><answer>B</answer>", "transform '' is not one letter"),
    ("<transform>B</transform><answer>B</answer>", "no <think>…</think>"),
    ("<think>it plays forward</think><transform>A</transform><answer>B</answer>", "transform 'A', truth 'B'"),
    ("<think>it plays backward</think><transform>B</transform><answer>A</answer>", "answer accuracy 0.00 < 1.0"),
])
def test_hinted_output_kept_only_when_it_agrees_and_never_cites_the_hint(completion, reason):
    record, why = judge(ROW, completion, min_answer_accuracy=1.0, prompt="hinted")
    if reason is None:
        assert why is None and record["process"] == "<think>the bar shrinks</think>"
        assert (record["trans_opt"], record["trans_ans"]) == ("arrow", "B")
    else:
        assert record is None and why == reason


def test_summary_reports_the_kept_fraction(tmp_path):
    rows = [{**ROW, "sample_id": f"sft/train/{i}", "problem_id": str(i)} for i in range(4)]
    completions = {
        "sft/train/0": "<think>shrinks</think><transform>B</transform><answer>B</answer>",
        "sft/train/1": "<think>as the ground truth says</think><transform>B</transform><answer>B</answer>",
        "sft/train/2": "<think>grows</think><transform>A</transform><answer>B</answer>",
        "sft/train/3": "<think>empties</think><transform>B</transform><answer>B</answer>",
    }
    config = CotAnnotationRunConfig(annotator="a", samples="s", frame_shards=[], output_dir=str(tmp_path),
                                    batch_size=3)
    result = annotate(rows, lambda: lambda batch: [completions[r["sample_id"]] for r in batch], tmp_path, config,
                      log=lambda line: None)
    summary = {"samples": 4, "kept": 2, "rejected": 2, "kept_fraction": 0.5, "prompt": "hinted"}
    assert json.loads((tmp_path / SUMMARY_FILE).read_text()) == summary
    assert result == {**summary, "resumed": 0}
