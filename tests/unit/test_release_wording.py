"""``prompt_wording: release`` renders the authors' prompts byte for byte (the expected texts below
were written by reading the release's scripts, named at each fixture), ``ours`` stays the default
everywhere, and the setting reaches SFT, GRPO and evaluation."""

import pytest

from assets.configs import BaseModelConfig, EvaluationConfig, GRPOModelConfig, SFTModelConfig
from viss_r1.evaluate.config import EvalSettings
from viss_r1.evaluate.probes import Condition, request
from viss_r1.pretext.questions import pretext_question
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT, OURS, PromptWording, build_prompt, system_prompt_for
from viss_r1.train.config import GRPORunConfig, SFTRunConfig

MC = {
    "problem": "What is the man holding?", "problem_type": "multiple choice",
    "options": ["A. a cup", "B. a phone", "C. a book", "D. a bag"], "data_type": "video",
    "solution": "<answer>B</answer>",
}
NUMERICAL = {"problem": "How many chairs are in the room?", "problem_type": "numerical", "options": [],
             "data_type": "video", "solution": "<answer>3</answer>"}


def transformed(record, name, num_frames=32, letter="B"):
    return {**record, "transform_media": "video", "transform_name": name, "transform_letter": letter,
            "num_frames": num_frames, "pretext_question": pretext_question("video", name, num_frames)}


def release(stage):
    return PromptWording("release", stage)


# The think-aloud paragraph of grpo.py's QUESTION_TEMPLATE (and of every trans_prompt of
# grpo_trainer_pretext.py, after its focus sentence).
PONDER = (
    "think about this question as if you were a human pondering deeply. Engage in an internal dialogue "
    "using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', etc, or "
    "other natural language thought expressions. It's encouraged to include self-reflection or verification "
    "in the reasoning process. Provide your detailed reasoning between the <think> </think> tags, and then "
    "give your final answer between the <answer> </answer> tags. Please provide only the single option "
    "letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags."
)
# grpo_trainer.py compute_loss QUESTION_TEMPLATE up to "{Type_template}".
VISS_R1_HEAD = (
    "You will be given an image or video that has been transformed in some way, along with two progressive questions:\n"
    "1. Transformation Identification: Based on the visual content, identify the type of transformation applied to the image or video.\n"
    "2. User Question: On the basis of the restored (inverse-transformed) image or video, answer the real user's question. You need to think even more deeply about the user question.\n"
    "Please think through both questions step by step, as a human would. Carefully analyze the visual content and reason in detail. "
    "Your thought process should include natural inner dialogue such as 'let me think,' 'hmm,' 'wait,' 'oh, I see,' 'let\u2019s break it down,' etc., and show self-reflection or verification as you work through each problem. "
    "Put your detailed thought process inside <think>...</think> tags. Place your final transformation identification inside <transform>...</transform> tags. Place your final answer to the user question inside <answer>...</answer> tags. For example: <think> ... </think><transform> ... </transform><answer> ... </answer>.\n"
    "Important:\n"
    "- Your reasoning and answer must be based on the visual information from the input image or video.\n"
    "- For answering the Transform Question, provide only the single option letter (e.g., A, B, etc.) within the <transform> </transform> tags.\n"
    "- For answering the User Question, "
)
SWAPPED = (
    "Now two of these groups have been randomly selected and swapped with each other, while the remaining "
    "groups stayed in their original positions. Please identify which two groups are swapped.\n"
    " A. Group 1 and Group 2 were swapped\n B. Group 1 and Group 3 were swapped\n"
    " C. Group 1 and Group 4 were swapped\n D. Group 2 and Group 3 were swapped\n"
    " E. Group 2 and Group 4 were swapped\n F. Group 3 and Group 4 were swapped\n"
)


def test_multiple_choice_video_question_as_grpo_py_renders_it():
    # grpo.py make_conversation_image_and_video: problem + "Options:\n" + "option\n"…, QUESTION_TEMPLATE, TYPE_TEMPLATE
    assert build_prompt("r1", MC, release("grpo")) == (
        "What is the man holding?Options:\nA. a cup\nB. a phone\nC. a book\nD. a bag\n\n"
        "Please " + PONDER)


def test_numerical_question_as_eval_bench_parallel_renders_it():
    # eval_bench_parallel.py: no full stop after "expressions", "<think> and </think>", no options
    assert build_prompt("r1", NUMERICAL, release("eval")) == (
        "How many chairs are in the room?\n"
        "Please think about this question as if you were a human pondering deeply. Engage in an internal "
        "dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', "
        "etc, or other natural language thought expressions It's encouraged to include self-reflection or "
        "verification in the reasoning process. Provide your detailed reasoning between the <think> and </think> "
        "tags, and then give your final answer between the <answer> and </answer> tags. Please provide the "
        "numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.")


def test_numerical_question_as_sft_video_renders_it():
    # sft_video.py prepare_dataset: no full stop after "expressions", "<think> </think>"
    assert build_prompt("r1", NUMERICAL, release("sft")) == (
        "How many chairs are in the room?\n"
        "Please think about this question as if you were a human pondering deeply. Engage in an internal "
        "dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', "
        "etc, or other natural language thought expressions It's encouraged to include self-reflection or "
        "verification in the reasoning process. Provide your detailed reasoning between the <think> </think> "
        "tags, and then give your final answer between the <answer> </answer> tags. Please provide the "
        "numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.")


def test_rotate_pretext_as_grpo_trainer_pretext_renders_it():
    assert build_prompt("pretext", transformed(MC, "rotate", 16), release("grpo")) == (
        "Please review the transformed video clip and determine which rotation angle was most likely applied to "
        "the original video. The possible options are:\n A. 0°\n B. 90°\n C. 180°\n D. 270°\n"
        "Note: The rotation is applied in the counterclockwise (anticlockwise) direction and 0° corresponds to "
        "no rotation.\nPlease focus on the spatial cues of video contents and " + PONDER)


def test_arrow_pretext_as_grpo_trainer_pretext_renders_it():
    assert build_prompt("pretext", transformed(MC, "arrow", 16), release("grpo")) == (
        "Please review the input video clip and determine whether the sequence of video frames has been "
        "reversed (i.e., played in reverse order). The possible options are:\n"
        " A. No, the video frames remain in their original order.\n B. Yes, the video frames have been reversed.\n"
        "Please focus on the temporal order of video contents and " + PONDER)


def test_shuffle_pretext_as_grpo_trainer_pretext_renders_it_at_its_16_frames():
    assert build_prompt("pretext", transformed(MC, "shuffle", 16), release("grpo")) == (
        "Please review the input video clip. The video originally consists of 16 frames, divided into 4 "
        "consecutive groups as follows:\n Group 1: Frames [1, 2, 3, 4]\n Group 2: Frames [5, 6, 7, 8]\n"
        " Group 3: Frames [9, 10, 11, 12]\n Group 4: Frames [13, 14, 15, 16]\n" + SWAPPED +
        "Please focus on the temporal continuity of video contents and " + PONDER)


def test_shuffle_names_the_real_frames_away_from_the_releases_count():
    text = build_prompt("pretext", transformed(MC, "shuffle", 10), release("grpo"))
    assert ("consists of 10 frames, divided into 4 consecutive groups as follows:\n Group 1: Frames [1, 2, 3]\n"
            " Group 2: Frames [4, 5, 6]\n Group 3: Frames [7, 8]\n Group 4: Frames [9, 10]\n") in text


def test_viss_r1_prompt_as_grpo_trainer_renders_it():
    # grpo_trainer.py: trans_question of process_shuffle, process_user_question's " Options:\n"
    assert build_prompt("transform_answer", transformed(MC, "shuffle", 32), release("grpo")) == (
        VISS_R1_HEAD + "provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> "
        "</answer> tags.\nTransform question: Please review the input video. The video originally consists of "
        "32 frames, divided into 4 consecutive groups as follows:\n Group 1: Frames 1-8\n Group 2: Frames 9-16\n"
        " Group 3: Frames 17-24\n Group 4: Frames 25-32\n" + SWAPPED +
        "\nUser Question: What is the man holding? Options:\nA. a cup\nB. a phone\nC. a book\nD. a bag\n")


def test_viss_r1_prompt_as_sft_video_renders_it_with_its_bare_problem_type():
    # sft_video.py prepare_SSL_dataset: utils.py TRANS_VIDEO_QUESTION, Type_template=example['problem_type']
    assert build_prompt("transform_answer", transformed(NUMERICAL, "arrow"), release("sft")) == (
        VISS_R1_HEAD + "numerical\nTransform question: Please review the input video and determine whether the "
        "sequence of video frames has been reversed (i.e., played in reverse order). The possible options are:\n"
        " A. No, the video frames remain in their original order.\n B. Yes, the video frames have been reversed.\n"
        "\nUser Question: How many chairs are in the room?")


def test_viss_r1_prompt_as_eval_bench_ssl_renders_its_rotate_question():
    assert build_prompt("transform_answer", transformed(MC, "rotate"), release("eval")) == (
        VISS_R1_HEAD + "provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> "
        "</answer> tags.\nTransform question: Please review the transformed video and determine which rotation "
        "angle was most likely applied to the original video. The possible options are:\n A. 0°\n B. 90°\n"
        " C. 180°\n D. 270°\nNote: The rotation is applied in the counterclockwise (anticlockwise) direction and "
        "0° corresponds to no rotation.\n"
        "\nUser Question: What is the man holding?Options:\nA. a cup\nB. a phone\nC. a book\nD. a bag\n")


@pytest.mark.parametrize("fmt, stage, system", [
    ("r1", "sft", "You are a helpful assistant"),                          # sft_video.py prepare_dataset
    ("transform_answer", "sft", "You are an advanced multimedia analysis assistant."),  # prepare_SSL_dataset
    ("transform_answer", "grpo", "You are a helpful assistant."),   # no system turn: Qwen2.5-VL's template's own
    ("pretext", "grpo", "You are a helpful assistant."),
    ("r1", "eval", "You are a helpful assistant."),
    ("transform_answer", "annotation", "You are an advanced multimedia analysis assistant.\n"),  # anno_sft_72b.py
])
def test_system_prompt_of_each_release_script(fmt, stage, system):
    assert system_prompt_for(fmt, release(stage)) == system
    assert system_prompt_for(fmt, OURS) == DEFAULT_SYSTEM_PROMPT == "You are a helpful assistant."
    assert system_prompt_for(fmt, release(stage), override="Be brief.") == "Be brief."


@pytest.mark.parametrize("fmt", ["r1", "pretext", "transform_answer"])
def test_ours_stays_the_default_and_differs_from_the_release(fmt):
    row = transformed(MC, "arrow")
    ours = build_prompt(fmt, row)
    assert ours == build_prompt(fmt, row, OURS) == build_prompt(fmt, row, PromptWording("ours", "sft"))
    assert ours != build_prompt(fmt, row, release("grpo"))
    if fmt != "r1":
        assert row["pretext_question"] in ours and row["pretext_question"] not in build_prompt(fmt, row, release("grpo"))


def test_unknown_wording_stage_and_release_prompt_raise():
    with pytest.raises(ValueError, match="prompt wording 'theirs' is unknown"):
        PromptWording("theirs")
    with pytest.raises(ValueError, match="prompt stage 'rl' is unknown"):
        PromptWording("release", "rl")
    with pytest.raises(ValueError, match="no R1 prompt for stage 'annotation'"):
        build_prompt("r1", MC, release("annotation"))
    with pytest.raises(ValueError, match="pass num_frames"):
        build_prompt("transform_answer", {**transformed(MC, "shuffle"), "num_frames": None}, release("grpo"))


def test_every_stage_config_selects_its_release_script():
    paths = {"model": "m", "output_dir": "o", "samples": "s", "frame_shards": []}
    assert SFTRunConfig(**paths, stage="ssl_cot_sft").wording == PromptWording("ours", "sft")
    assert SFTRunConfig(**paths, stage="cot_sft", prompt_wording="release").wording == release("sft")
    assert GRPORunConfig(**paths, stage="viss_r1_grpo").wording == PromptWording("ours", "grpo")
    assert GRPORunConfig(**paths, stage="pretext_grpo_stage1", prompt_wording="release").wording == release("grpo")
    assert EvalSettings().wording == PromptWording("ours", "eval")
    assert EvaluationConfig(prompt_wording="release").to_library().wording == release("eval")
    # The library asks in ours; the embedded run's assets in a few words (viss_r1.embedded).
    assert (SFTModelConfig().prompt_wording, GRPOModelConfig().prompt_wording, EvaluationConfig().prompt_wording,
            BaseModelConfig().prompt_wording) == ("compact",) * 4
    assert EvaluationConfig().to_library().wording == PromptWording("compact", "eval")


def test_evaluation_request_carries_the_wording():
    messages, media = request(Condition("no_video", "no_video"), NUMERICAL, None, "You are a helpful assistant.", 0, "r1",
                              release("eval"))
    assert media.data_type is None
    assert messages[1]["content"] == [{"type": "text", "text": build_prompt("r1", NUMERICAL, release("eval"))}]
    messages, _ = request(Condition("no_video", "no_video"), NUMERICAL, None, "You are a helpful assistant.", 0, "r1")
    assert messages[1]["content"][0]["text"] == build_prompt("r1", NUMERICAL)
