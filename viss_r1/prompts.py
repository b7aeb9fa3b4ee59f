"""Prompts and output formats (METHOD.md §3): R1, Pretext-GRPO and ViSS-R1.

Each format asks for a fixed sequence of tags; ``FORMAT_TAGS`` is the one source of truth for it,
and ``FORMAT_PATTERNS`` (the format reward's regex, §4) is built from it, so a prompt can never
ask for tags its reward does not expect. The wording is ours; structure, tags and option lists
follow the paper. ``PromptWording("compact")`` asks the same in a few words (the embedded tiny
model's: its time goes with the tokens it reads). ``PromptWording("release", stage)`` renders the
same prompts in the authors' exact strings instead (``viss_r1.release_prompts``), to train or
evaluate like for like with the released checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence, get_args

from viss_r1 import release_prompts
from viss_r1.vocabulary import MEDIA_TYPES, PROBLEM_TYPES

# How a prompt asks, named by what it asks for: "r1" Video-R1's question (<think><answer>),
# "pretext" the pretext question alone (Pretext-GRPO), "transform_answer" ViSS-R1's two progressive
# questions (<think><transform><answer>).
PromptFormat = Literal["r1", "pretext", "transform_answer"]
PROMPT_FORMATS: tuple[str, ...] = get_args(PromptFormat)
# ours: the library's default; compact: ours in a few words, the embedded run's (viss_r1.embedded);
# release: the authors' strings, to compare with their checkpoints.
PromptWordingName = Literal["ours", "compact", "release"]
PROMPT_WORDINGS: tuple[str, ...] = get_args(PromptWordingName)

# The release mixes two system prompts; we use one everywhere. Qwen2.5-VL's chat template inserts
# this very sentence when no system turn is given, so the base model sees a familiar turn.
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass(frozen=True)
class PromptWording:
    """Whose words a prompt is in: ``ours``, ``compact`` (ours in a few words), or the ``release``'s
    as its ``stage`` script words them (sft, grpo, eval, annotation: the release words each
    differently; ``release_prompts``). Ours and compact word every stage alike."""

    source: str = "ours"
    stage: str = "grpo"

    def __post_init__(self) -> None:
        if self.source not in PROMPT_WORDINGS:
            raise ValueError(f"prompt wording {self.source!r} is unknown; expected one of {PROMPT_WORDINGS}")
        if self.stage not in release_prompts.RELEASE_STAGES:
            raise ValueError(f"prompt stage {self.stage!r} is unknown; expected one of {release_prompts.RELEASE_STAGES}")


OURS = PromptWording()


FORMAT_TAGS: dict[str, tuple[str, ...]] = {
    "r1": ("think", "answer"),
    "pretext": ("think", "answer"),
    "transform_answer": ("think", "transform", "answer"),
}


def _format_pattern(tags: Sequence[str]) -> str:
    return r"\s*".join(f"<{tag}>.*?</{tag}>" for tag in tags)


# Matched with re.fullmatch(pattern, completion, re.DOTALL) by the format reward.
FORMAT_PATTERNS: dict[str, str] = {fmt: _format_pattern(tags) for fmt, tags in FORMAT_TAGS.items()}

ANSWER_INSTRUCTIONS: dict[str, str] = {
    "multiple choice": "Give only the letter of the correct option (for example A or B) inside <answer> </answer>.",
    "numerical": "Give only the number (for example 7 or 2.5) inside <answer> </answer>.",
    "regression": "Give your numeric estimate as a single number (for example 3.2) inside <answer> </answer>.",
    "OCR": "Give the transcribed text, exactly as written, inside <answer> </answer>.",
    "free-form": "Give your answer as text inside <answer> </answer>.",
}

# The R1 recipe: reasoning that reads like a person thinking aloud (hesitations, self-checks)
# rather than a terse proof, because that is what the CoT data and the length bonus reward.
THINK_ALOUD = (
    "Think it through the way a person thinks aloud: talk to yourself, try ideas, notice mistakes "
    "(\"hmm\", \"wait\", \"let me check\") and verify your conclusion before you commit to it."
)
THINK_THEN_ANSWER = "Write your reasoning inside <think> </think>, then the final answer inside <answer> </answer>."


@dataclass(frozen=True)
class Instructions:
    """The fixed words of our prompts around the question: what to write inside <answer> per problem
    type, how to think before it (R1 and pretext prompts), and the ViSS-R1 prompt's header."""

    answer: Mapping[str, str]
    think: str
    viss_header: str   # {media}: "video" or "image"


OUR_INSTRUCTIONS = Instructions(
    answer=ANSWER_INSTRUCTIONS,
    think=f"{THINK_ALOUD} {THINK_THEN_ANSWER}",
    viss_header=(
        "The input {media} has been transformed. Solve two progressive questions. "
        "(1) Identify which transformation was applied to the {media}. "
        "(2) Undo that transformation in your mind and answer the user question on the basis of the "
        "restored, original {media}. "
        f"{THINK_ALOUD} Write your reasoning inside <think> </think>, then only the letter of the "
        "transformation inside <transform> </transform>, then the answer to the user question inside "
        "<answer> </answer>, in exactly this order."),
)

# A few words for each: the instructions are ≈70 of a tiny-model warm-up row's ≈300 tokens and ≈160
# of an SSL-CoT row's ≈500, and on two CPU cores time goes with tokens. The tags are not named: the
# SFT targets teach them (README, "The prompts in a few words").
COMPACT_INSTRUCTIONS = Instructions(
    answer={
        "multiple choice": "Answer: a letter.",
        "numerical": "Answer: a number.",
        "regression": "Answer: a number.",
        "OCR": "Answer: the text.",
        "free-form": "Answer: a sentence.",
    },
    think="Think, then answer.",
    viss_header="The {media} was transformed: name the transform, then answer as if undone.",
)

INSTRUCTIONS: dict[str, Instructions] = {"ours": OUR_INSTRUCTIONS, "compact": COMPACT_INSTRUCTIONS}


def answer_instruction(problem_type: str, words: Instructions = OUR_INSTRUCTIONS) -> str:
    """What goes inside <answer> for this problem type."""
    try:
        return words.answer[problem_type]
    except KeyError:
        raise ValueError(f"problem_type {problem_type!r} is unknown; expected one of {PROBLEM_TYPES}") from None


def question_with_options(problem: str, options: Sequence[str] | None) -> str:
    """The question, then "Options:" and one option per line (options already read "A. red")."""
    options = [] if options is None else [str(o).strip() for o in options]
    if not options:
        return problem.strip()
    return f"{problem.strip()}\nOptions:\n" + "\n".join(options)


def _user_question(problem: str, problem_type: str, options: Sequence[str] | None,
                   words: Instructions) -> tuple[str, str]:
    """(question with options, per-type instruction); like Video-R1, options only for multiple choice."""
    instruction = answer_instruction(problem_type, words)  # validates the type first
    return question_with_options(problem, options if problem_type == "multiple choice" else None), instruction


def r1_prompt(problem: str, problem_type: str, options: Sequence[str] | None,
              words: Instructions = OUR_INSTRUCTIONS) -> str:
    """Video-R1: question (+ options), think aloud, <think> then <answer>, the per-type instruction."""
    question, instruction = _user_question(problem, problem_type, options, words)
    return f"{question}\n\n{words.think} {instruction}"


def pretext_prompt(pretext_question: str, words: Instructions = OUR_INSTRUCTIONS) -> str:
    """Pretext-GRPO: the pretext question (focus phrase and options included); the answer is a letter."""
    return f"{pretext_question.strip()}\n\n{words.think} {words.answer['multiple choice']}"


def viss_r1_prompt(pretext_question: str, problem: str, problem_type: str, options: Sequence[str] | None,
                   media: str = "video", words: Instructions = OUR_INSTRUCTIONS) -> str:
    """ViSS-R1: name the transformation, then answer the user question about the restored input."""
    if media not in MEDIA_TYPES:
        raise ValueError(f"media {media!r} is unknown; expected one of {MEDIA_TYPES}")
    question, instruction = _user_question(problem, problem_type, options, words)
    return (f"{words.viss_header.format(media=media)}\n\nTransform question: {pretext_question.strip()}\n\n"
            f"User Question: {question}\n{instruction}")


def build_prompt(fmt: str, row: Mapping[str, Any], wording: PromptWording = OURS) -> str:
    """The user prompt of a pretext-sample row in format ``fmt`` (one of PROMPT_FORMATS)."""
    if fmt not in PROMPT_FORMATS:
        raise ValueError(f"prompt format {fmt!r} is unknown; expected one of {PROMPT_FORMATS}")
    if wording.source == "release":
        return release_prompts.build_prompt(fmt, row, wording.stage)
    words = INSTRUCTIONS[wording.source]
    if fmt == "r1":
        return r1_prompt(row["problem"], row["problem_type"], row["options"], words)
    if fmt == "pretext":
        return pretext_prompt(row["pretext_question"], words)
    return viss_r1_prompt(row["pretext_question"], row["problem"], row["problem_type"], row["options"],
                          row["data_type"], words)


def system_prompt_for(fmt: str, wording: PromptWording = OURS, override: str | None = None) -> str:
    """The system turn: ``override`` if given, else ours (one everywhere) or the release's for
    this stage and format (it mixes several; ``release_prompts.system_prompt``). Compact wording
    keeps ours: the sentence the chat template would insert anyway."""
    if override is not None:
        return override
    if wording.source == "release":
        return release_prompts.system_prompt(fmt, wording.stage)
    return DEFAULT_SYSTEM_PROMPT


def chat_messages(prompt_text: str, media: str | None, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[dict]:
    """transformers/TRL conversational messages; ``media=None`` leaves the media out (the no-video probe).

    The media placeholder comes before the text, as in Video-R1, so the model reads the question
    after it has seen the frames."""
    if media is not None and media not in MEDIA_TYPES:
        raise ValueError(f"media {media!r} is unknown; expected one of {MEDIA_TYPES} or None (blind)")
    content = ([] if media is None else [{"type": media}]) + [{"type": "text", "text": prompt_text}]
    return [
        {"role": "system", "content": [{"type": "text", "text": system_prompt}]},
        {"role": "user", "content": content},
    ]


def _inner(text: str, tag: str, field: str) -> str:
    """Content of ``text`` without its surrounding <tag></tag>, if it has them (never doubled later)."""
    inner = text.strip().removeprefix(f"<{tag}>").removesuffix(f"</{tag}>").strip()
    if not inner:
        raise ValueError(f"{field} {text!r} has nothing inside <{tag}>: an SFT target needs it")
    return inner


def sft_target(process: str, solution: str, transform_letter: str | None = None) -> str:
    """The assistant turn of SFT: <think>…</think>[<transform>X</transform>]<answer>…</answer>.

    ``process`` ("<think>…</think>" in Video-R1 data, sometimes bare) and ``solution``
    ("<answer>X</answer>") are normalised so tags are never doubled. ``transform_letter=None``
    gives the two-tag R1 target; an empty letter is an error, not a silent R1 target."""
    parts = [f"<think>{_inner(process, 'think', 'process')}</think>"]
    if transform_letter is not None:
        parts.append(f"<transform>{_inner(transform_letter, 'transform', 'transform_letter')}</transform>")
    parts.append(f"<answer>{_inner(solution, 'answer', 'solution')}</answer>")
    return "\n".join(parts)
