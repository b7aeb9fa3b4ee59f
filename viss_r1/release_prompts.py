"""The authors' prompt strings, verbatim (``prompt_wording: release``; METHOD.md §3).

These strings are data, not style: they are the input format the released checkpoints were
trained and evaluated with, so they are reproduced byte for byte — typos ("foucs",
"carefullt"), missing full stops and odd spaces included. The release words the same prompt
differently in each of its scripts, so the rendering depends on the *stage* whose script is
reproduced: ``sft`` (src/r1-v/src/open_r1/sft_video.py), ``grpo`` (src/r1-v/src/open_r1/grpo.py
and its trainers), ``eval`` (src/eval_bench_parallel.py, src/eval_bench_ssl_parallel.py) and
``annotation`` (preprocess_SFT/anno_sft_72b.py). Every constant names the file it comes from.

Two deliberate departures, both invisible at the release's own frame counts:
- the shuffle questions name the frames of each group; the release hard-codes 32 frames (16 in
  Pretext-GRPO). We write the same sentence for the clip's real frame count and our groups
  (``shuffle_groups``), so at 32 (16) frames the text is the release's exactly, and at other
  counts it does not lie about the video;
- option letters follow ``viss_r1.pretext.transforms`` (rotate 0/90/180/270, flip
  none/left-right/top-bottom, pairs (1,2)…(3,4)), which is the release's order.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from viss_r1.pretext.transforms import shuffle_groups

RELEASE_STAGES = ("sft", "grpo", "eval", "annotation")

# ---------------------------------------------------------------- system prompts
# GRPO (grpo.py, grpo_trainer.py, grpo_trainer_pretext.py) and evaluation (eval_bench_*.py) send
# no system turn: Qwen2.5-VL's chat template then inserts this sentence.
CHAT_TEMPLATE_SYSTEM_PROMPT = "You are a helpful assistant."
# src/r1-v/src/open_r1/sft_video.py, prepare_dataset (plain CoT SFT): no full stop.
SFT_R1_SYSTEM_PROMPT = "You are a helpful assistant"
# src/r1-v/src/open_r1/sft_video.py, prepare_SSL_dataset (SSL-CoT SFT).
SFT_SSL_SYSTEM_PROMPT = "You are an advanced multimedia analysis assistant."
# preprocess_SFT/anno_sft_72b.py, update_ssl_messgae / prepare_messgae (the annotator).
ANNOTATION_SYSTEM_PROMPT = "You are an advanced multimedia analysis assistant.\n"

# ---------------------------------------------------------------- R1 prompt (Video-R1)
# src/r1-v/src/open_r1/grpo.py, QUESTION_TEMPLATE (Video-R1 GRPO, Pretext-GRPO stage II).
R1_GRPO_TEMPLATE = (
    "{Question}\n"
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions. "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
    "Provide your detailed reasoning between the <think> </think> tags, and then give your final answer "
    "between the <answer> </answer> tags."
)
# src/r1-v/src/open_r1/sft_video.py, prepare_dataset: "expressions" has no full stop.
R1_SFT_TEMPLATE = (
    "{Question}\n"
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
    "Provide your detailed reasoning between the <think> </think> tags, and then give your final answer "
    "between the <answer> </answer> tags."
)
# src/eval_bench_parallel.py, QUESTION_TEMPLATE (the same string as Video-R1's src/eval_bench.py).
R1_EVAL_TEMPLATE = (
    "{Question}\n"
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
    "Provide your detailed reasoning between the <think> and </think> tags, and then give your final answer "
    "between the <answer> and </answer> tags."
)
R1_TEMPLATES = {"sft": R1_SFT_TEMPLATE, "grpo": R1_GRPO_TEMPLATE, "eval": R1_EVAL_TEMPLATE}
# TYPE_TEMPLATE of src/r1-v/src/open_r1/grpo.py (sft_video.py and eval_bench_parallel.py hold the
# same strings), appended to the R1 template; each starts with a space.
R1_TYPE_TEMPLATE = {
    "multiple choice": " Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags.",
    "numerical": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "OCR": " Please transcribe text from the image/video clearly and provide your text answer within the <answer> </answer> tags.",
    "free-form": " Please provide your text answer within the <answer> </answer> tags.",
    "regression": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
}

# ---------------------------------------------------------------- ViSS-R1 prompt
# src/r1-v/src/open_r1/trainer/grpo_trainer.py, compute_loss QUESTION_TEMPLATE; the same string
# in sft_video.py (prepare_SSL_dataset) and eval_bench_ssl_parallel.py. Note "let’s" (U+2019).
# The opening both the ViSS-R1 prompt and the hinted annotation prompt share, word for word.
_TWO_QUESTIONS_INTRO = (
    "You will be given an image or video that has been transformed in some way, along with two progressive questions:\n"
    "1. Transformation Identification: Based on the visual content, identify the type of transformation applied to the image or video.\n"
    "2. User Question: On the basis of the restored (inverse-transformed) image or video, answer the real user's question. You need to think even more deeply about the user question.\n"
    "Please think through both questions step by step, as a human would. Carefully analyze the visual content and reason in detail. "
    "Your thought process should include natural inner dialogue such as 'let me think,' 'hmm,' 'wait,' 'oh, I see,' 'let\u2019s break it down,' etc., and show self-reflection or verification as you work through each problem. "
    "Put your detailed thought process inside <think>...</think> tags. Place your final transformation identification inside <transform>...</transform> tags. Place your final answer to the user question inside <answer>...</answer> tags. For example: <think> ... </think><transform> ... </transform><answer> ... </answer>.\n"
    "Important:\n"
    "- Your reasoning and answer must be based on the visual information from the input image or video.\n"
)
VISS_R1_TEMPLATE = (
    _TWO_QUESTIONS_INTRO +
    "- For answering the Transform Question, provide only the single option letter (e.g., A, B, etc.) within the <transform> </transform> tags.\n"
    "- For answering the User Question, {Type_template}\n"
    "Transform question: {Trans_question}\n"
    "User Question: {Question}"
)
# grpo_trainer.py / eval_bench_ssl_parallel.py TYPE_TEMPLATE. sft_video.py (prepare_SSL_dataset)
# passes the bare problem type instead ("- For answering the User Question, multiple choice"):
# that is what the released SFT model was trained on, so the ``sft`` stage reproduces it.
VISS_R1_TYPE_TEMPLATE = {
    "multiple choice": "provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags.",
    "numerical": "provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "OCR": "transcribe text from the image/video clearly and provide your text answer within the <answer> </answer> tags.",
    "free-form": "provide your text answer within the <answer> </answer> tags.",
    "regression": "provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
}

# ---------------------------------------------------------------- SSL-CoT annotation (hinted)
# preprocess_SFT/anno_sft_72b.py, update_ssl_messgae SSL_THINKING_TEMPLATE: the annotator is shown
# the true transform ("<transform>B</transform>") and the true solution ("<answer>…</answer>").
HINTED_ANNOTATION_TEMPLATE = (
    _TWO_QUESTIONS_INTRO +
    "- Do not mention or refer to any 'ground truth', 'reference answer' or similar terms in your output.\n"
    "- Your transformation identification must exactly match the provided Ground Truth Transform, and your answer to the user question must exactly match the provided Ground Truth Answer.\n"
    "Transform question: {Trans_question}\n"
    "Ground Truth Transform: {Trans_answer}\n"
    "User Question: {Question}\n"
    "Ground Truth Answer: {Answer}"
)
# preprocess_SFT/utils.py collect_save_results drops a hinted output whose <think> contains this
# (case as written there).
GROUND_TRUTH_MENTION = "ground truth"

# ---------------------------------------------------------------- transform questions (ViSS-R1)
_ROTATE_OPTIONS = (
    "The possible options are:\n "
    "A. 0°\n B. 90°\n C. 180°\n D. 270°\n"
    "Note: The rotation is applied in the counterclockwise (anticlockwise) direction and 0° corresponds to no rotation.\n"
)
_ARROW_OPTIONS = (
    "The possible options are:\n "
    "A. No, the video frames remain in their original order.\n "
    "B. Yes, the video frames have been reversed.\n"
)
_FLIP_OPTIONS = (
    "The possible options are:\n "
    "A. No, the image remains in its original position.\n "
    "B. Yes, the image has been flipped 'horizontally'.\n "
    "C. Yes, the image has been flipped 'vertically'.\n "
)
_PUZZLE_STEM = (
    "The image has been evenly divided into four equal-sized patches, labeled as follows:\n "
    "Patch 1: Top-Left\n Patch 2: Top-Right\n Patch 3: Bottom-Left\n Patch 4: Bottom-Right\n"
    "Two of these patches have been randomly selected and swapped with each other, while the other two patches remain in their original positions. "
    "Your task is to determine which pair of patches were swapped. "
)
_PUZZLE_OPTIONS = (
    "A. Patch 1 and Patch 2 were swapped\n "
    "B. Patch 1 and Patch 3 were swapped\n "
    "C. Patch 1 and Patch 4 were swapped\n "
    "D. Patch 2 and Patch 3 were swapped\n "
    "E. Patch 2 and Patch 4 were swapped\n "
    "F. Patch 3 and Patch 4 were swapped\n "
)
_SHUFFLE_STEM = "The video originally consists of {num_frames} frames, divided into 4 consecutive groups as follows:\n "
_SHUFFLE_QUESTION = (
    "Now two of these groups have been randomly selected and swapped with each other, while the remaining groups stayed in their original positions. "
    "Please identify which two groups are swapped.\n "
    "A. Group 1 and Group 2 were swapped\n "
    "B. Group 1 and Group 3 were swapped\n "
    "C. Group 1 and Group 4 were swapped\n "
    "D. Group 2 and Group 3 were swapped\n "
    "E. Group 2 and Group 4 were swapped\n "
    "F. Group 3 and Group 4 were swapped\n"
)
# src/r1-v/src/open_r1/utils.py TRANS_VIDEO_QUESTION / TRANS_IMAGE_QUESTION (SSL-CoT SFT); the
# same video strings are eval_bench_ssl_parallel.py's TRANS_VIDEO_QUESTION, and all six are
# preprocess_SFT/utils.py's trans_prompt (the annotator's). Shuffle's groups: ``_groups_as_ranges``.
TRANSFORM_QUESTIONS = {
    ("video", "rotate"): "Please review the transformed video and determine which rotation angle was most likely applied to the original video. " + _ROTATE_OPTIONS,
    ("video", "arrow"): "Please review the input video and determine whether the sequence of video frames has been reversed (i.e., played in reverse order). " + _ARROW_OPTIONS,
    ("video", "shuffle"): "Please review the input video. " + _SHUFFLE_STEM + "{groups}" + _SHUFFLE_QUESTION,
    ("image", "rotate"): "Please review the transformed image and determine which rotation angle was most likely applied to the original image. " + _ROTATE_OPTIONS,
    ("image", "flip"): "Please review the input image and determine whether the image has been flipped. Note that the image could be flipped horizontally or vertically. " + _FLIP_OPTIONS,
    ("image", "puzzle"): "Please carefullt review the transformed image. " + _PUZZLE_STEM + "Options:\n " + _PUZZLE_OPTIONS,
}
# src/r1-v/src/open_r1/trainer/grpo_trainer.py process_* trans_question (ViSS-R1 RL): "video
# clip" where utils.py says "video", no flip note, "Here are your options" for puzzle.
GRPO_TRANSFORM_QUESTIONS = {
    ("video", "rotate"): "Please review the transformed video clip and determine which rotation angle was most likely applied to the original video. " + _ROTATE_OPTIONS,
    ("video", "arrow"): "Please review the input video clip and determine whether the sequence of video frames has been reversed (i.e., played in reverse order). " + _ARROW_OPTIONS,
    ("video", "shuffle"): TRANSFORM_QUESTIONS[("video", "shuffle")],
    ("image", "rotate"): TRANSFORM_QUESTIONS[("image", "rotate")],
    ("image", "flip"): "Please review the input image and determine whether the image has been flipped. " + _FLIP_OPTIONS,
    ("image", "puzzle"): "Please carefullt review the transformed image. " + _PUZZLE_STEM + "Here are your options:\n " + _PUZZLE_OPTIONS,
}

# ---------------------------------------------------------------- Pretext-GRPO prompts
# src/r1-v/src/open_r1/trainer/grpo_trainer_pretext.py process_* trans_prompt: the question, a
# focus sentence that also opens the R1 instruction, and the multiple-choice instruction.
_PRETEXT_INSTRUCTION = (
    "and think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', etc, or other natural language thought expressions. "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
    "Provide your detailed reasoning between the <think> </think> tags, and then give your final answer between the <answer> </answer> tags. "
    "Please provide only the single option letter (e.g., A, B, C, D{more}, etc.) within the <answer> </answer> tags."
)
PRETEXT_PROMPTS = {
    ("video", "rotate"): "Please review the transformed video clip and determine which rotation angle was most likely applied to the original video. " + _ROTATE_OPTIONS
                         + "Please focus on the spatial cues of video contents " + _PRETEXT_INSTRUCTION.format(more=""),
    ("video", "arrow"): "Please review the input video clip and determine whether the sequence of video frames has been reversed (i.e., played in reverse order). " + _ARROW_OPTIONS
                        + "Please focus on the temporal order of video contents " + _PRETEXT_INSTRUCTION.format(more=""),
    ("video", "shuffle"): "Please review the input video clip. " + _SHUFFLE_STEM + "{groups}" + _SHUFFLE_QUESTION
                          + "Please focus on the temporal continuity of video contents " + _PRETEXT_INSTRUCTION.format(more=""),
    ("image", "rotate"): "Please review the transformed image and determine which rotation angle was most likely applied to the original image. " + _ROTATE_OPTIONS
                         + "Please foucs on the spatial cues of the image " + _PRETEXT_INSTRUCTION.format(more=""),
    ("image", "flip"): "Please review the input image and determine whether the image has been flipped. " + _FLIP_OPTIONS
                       + "Please focus on the image contents " + _PRETEXT_INSTRUCTION.format(more=""),
    ("image", "puzzle"): "Please carefully review the transformed image. " + _PUZZLE_STEM + "Here are your options:\n " + _PUZZLE_OPTIONS
                         + "Please focus on the spatial details and cues within the image contents " + _PRETEXT_INSTRUCTION.format(more=", E"),
}


def _groups_as_ranges(num_frames: int) -> str:
    """grpo_trainer.py / utils.py: "Group 1: Frames 1-8\\n Group 2: Frames 9-16\\n …\\n"."""
    return "\n ".join(f"Group {k}: Frames {start + 1}-{stop}"
                      for k, (start, stop) in enumerate(shuffle_groups(num_frames), 1)) + "\n"


def _groups_as_lists(num_frames: int) -> str:
    """grpo_trainer_pretext.py: "Group 1: Frames [1, 2, 3, 4]\\n Group 2: Frames [5, 6, 7, 8]\\n …\\n"."""
    return "\n ".join(f"Group {k}: Frames [{', '.join(str(i + 1) for i in range(start, stop))}]"
                      for k, (start, stop) in enumerate(shuffle_groups(num_frames), 1)) + "\n"


def _check_stage(stage: str, allowed: Sequence[str], prompt: str) -> None:
    if stage not in allowed:
        raise ValueError(f"the release has no {prompt} prompt for stage {stage!r}; "
                         f"it has one for {', '.join(allowed)}")


def _lookup(table: Mapping[tuple[str, str], str], media: str, name: str, num_frames: int | None,
            groups) -> str:
    try:
        text = table[(media, name)]
    except KeyError:
        raise ValueError(f"the release has no question for transform {name!r} on {media!r}; "
                         f"it has {sorted(table)}") from None
    if name != "shuffle":
        return text
    if num_frames is None:
        raise ValueError("the release's shuffle question names its frames: pass num_frames (the sampled frame count)")
    return text.format(num_frames=num_frames, groups=groups(num_frames))


def transform_question(media: str, name: str, num_frames: int | None, stage: str) -> str:
    """The ViSS-R1 transform question as the release's ``stage`` script words it."""
    _check_stage(stage, RELEASE_STAGES, "transform-question")
    table = GRPO_TRANSFORM_QUESTIONS if stage == "grpo" else TRANSFORM_QUESTIONS
    return _lookup(table, media, name, num_frames, _groups_as_ranges)


def pretext_prompt(media: str, name: str, num_frames: int | None) -> str:
    """The whole Pretext-GRPO user prompt (grpo_trainer_pretext.py; its only script)."""
    return _lookup(PRETEXT_PROMPTS, media, name, num_frames, _groups_as_lists)


def user_question(problem: str, problem_type: str, options: Sequence[str] | None,
                  glue: str = "Options:\n") -> str:
    """The question with its options as the release builds it: options only for multiple choice,
    glued to the question ("…?Options:\\n"; grpo_trainer.py's ViSS-R1 prompt: "…? Options:\\n"),
    one per line, each ending with a newline."""
    if problem_type != "multiple choice":
        return problem
    return problem + glue + "".join(f"{option}\n" for option in options or ())


def _type_instruction(table: Mapping[str, str], problem_type: str) -> str:
    try:
        return table[problem_type]
    except KeyError:
        raise ValueError(f"problem_type {problem_type!r} is unknown; expected one of {tuple(table)}") from None


def r1_prompt(problem: str, problem_type: str, options: Sequence[str] | None, stage: str) -> str:
    _check_stage(stage, tuple(R1_TEMPLATES), "R1")
    instruction = _type_instruction(R1_TYPE_TEMPLATE, problem_type)
    return R1_TEMPLATES[stage].format(Question=user_question(problem, problem_type, options)) + instruction


def viss_r1_prompt(trans_question: str, problem: str, problem_type: str, options: Sequence[str] | None,
                   stage: str) -> str:
    _check_stage(stage, ("sft", "grpo", "eval"), "ViSS-R1")
    instruction = _type_instruction(VISS_R1_TYPE_TEMPLATE, problem_type)
    if stage == "sft":
        instruction = problem_type   # sft_video.py: Type_template=example['problem_type']
    glue = " Options:\n" if stage == "grpo" else "Options:\n"   # grpo_trainer.py process_user_question
    return VISS_R1_TEMPLATE.format(Type_template=instruction, Trans_question=trans_question,
                                   Question=user_question(problem, problem_type, options, glue))


def hinted_annotation_prompt(trans_question: str, transform_letter: str, problem: str, problem_type: str,
                             options: Sequence[str] | None, solution: str) -> str:
    """anno_sft_72b.py: the ViSS-R1 request with the true transform and the true answer shown."""
    return HINTED_ANNOTATION_TEMPLATE.format(
        Trans_question=trans_question, Trans_answer=f"<transform>{transform_letter}</transform>",
        Question=user_question(problem, problem_type, options), Answer=solution)


def build_prompt(fmt: str, row: Mapping[str, Any], stage: str) -> str:
    """The user prompt of a pretext-sample row in format ``fmt``, in the release's ``stage`` words.
    The transform question is rendered from the row's transform, not read from ``pretext_question``
    (which holds ours)."""
    if fmt == "r1":
        return r1_prompt(row["problem"], row["problem_type"], row["options"], stage)
    media, name, frames = row.get("transform_media") or row["data_type"], row["transform_name"], row.get("num_frames")
    if fmt == "pretext":
        return pretext_prompt(media, name, frames)
    if fmt != "transform_answer":
        raise ValueError(f"prompt format {fmt!r} is unknown; expected r1, pretext or transform_answer")
    question = transform_question(media, name, frames, stage)
    if stage == "annotation":
        return hinted_annotation_prompt(question, row["transform_letter"], row["problem"], row["problem_type"],
                                        row["options"], row["solution"])
    return viss_r1_prompt(question, row["problem"], row["problem_type"], row["options"], stage)


def system_prompt(fmt: str, stage: str) -> str:
    """The system turn the release's ``stage`` script gives format ``fmt``."""
    _check_stage(stage, RELEASE_STAGES, "system")
    if stage == "annotation":
        return ANNOTATION_SYSTEM_PROMPT
    if stage == "sft":
        return SFT_SSL_SYSTEM_PROMPT if fmt == "transform_answer" else SFT_R1_SYSTEM_PROMPT
    return CHAT_TEMPLATE_SYSTEM_PROMPT
