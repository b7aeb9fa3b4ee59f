"""Rewards of ViSS-R1 (METHOD.md §4), equal to the authors' release on the same completions.

A rollout's reward is a sum: accuracy + transform (ViSS-R1 only) + format + length bonus.
This module reads in that order — extraction, accuracy, format, transform, length bonus, the
ablation options (gated combination, T-GRPO; ``use_accuracy=False`` drops the accuracy term), the
TRL adapters, and the reward set of each stage:

    funcs, weights = stage_rewards("transform_answer", RewardSettings())
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(..., reward_weights=weights))

Where we knowingly differ from the release (each a bug there), the function says so: the release
reads ``problem_type`` from the first sample of a batch (we score each sample by its own type),
gives full regression credit to the answer "nan", scores every regression answer 0 when the truth
is 0, and in its gated ablation compares the 0.5-valued transform reward with 1.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any, Callable, NamedTuple, Sequence

import jiwer
from pydantic import BaseModel, ConfigDict, model_validator

from viss_r1.answers import extract_answer, extract_transform, parse_number
from viss_r1.pretext.transforms import OPTION_LETTERS
from viss_r1.prompts import FORMAT_PATTERNS
from viss_r1.vocabulary import PROBLEM_TYPES

# ---------------------------------------------------------------------------------------------
# Accuracy, by the sample's own problem type
# ---------------------------------------------------------------------------------------------

def _multiple_choice(prediction: str, truth: str) -> float:
    # Exact string match, as the release: "B." or "(B)" against "B" scores 0. The prompt asks for
    # the letter alone; a lenient match would reward ignoring that instruction.
    return 1.0 if prediction == truth else 0.0


def _has_separator(text: str) -> bool:
    return "." in text or "," in text


def _numerical(prediction: str, truth: str) -> float:
    # "2" against "2.0", or "1000" against "1,000", is wrong: the release demands the same written
    # form (integer vs decimal/grouped) before it compares values.
    if _has_separator(prediction) != _has_separator(truth):
        return 0.0
    pred, gt = parse_number(prediction), parse_number(truth)
    if pred is None or gt is None:
        return 0.0
    return 1.0 if round(pred, 2) == round(gt, 2) else 0.0


def _clip(value: float) -> float:
    return max(0.0, min(1.0, value))


def _ocr(prediction: str, truth: str) -> float:
    # The release splits words on any whitespace; jiwer splits on single spaces only, so both sides
    # are joined with one space first (else "a\nb" would be one word to jiwer and two to the release).
    reference, hypothesis = " ".join(truth.split()), " ".join(prediction.split())
    if not reference:  # the release divides by max(1, words): any word against nothing scores 0
        return 1.0 if not hypothesis else 0.0
    return _clip(1.0 - jiwer.wer(reference, hypothesis))


@functools.lru_cache(maxsize=1)
def _rouge():
    # Imported on first use: rouge_score pulls in nltk (~1.5 s), which modules that only need the
    # format patterns should not pay for.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def _free_form(prediction: str, truth: str) -> float:
    scores = _rouge().score(truth, prediction)
    return _clip((scores["rouge1"].fmeasure + scores["rouge2"].fmeasure + scores["rougeL"].fmeasure) / 3)


def _regression(prediction: str, truth: str) -> float:
    pred, gt = parse_number(prediction), parse_number(truth)
    if pred is None or gt is None:
        return 0.0
    if gt == 0:
        # Relative error is undefined; only an exact 0 is right. (The release's 1e-9 guards make
        # every answer score 0 here, the correct one included.)
        return 1.0 if pred == 0 else 0.0
    # The release adds 1e-9 to numerator and denominator; we drop it, so an exact answer gets 1.0
    # rather than 1 - 1e-9/|gt| (the two differ by less than 1e-9/|gt| on any answer).
    return 1.0 - min(1.0, abs(pred - gt) / abs(gt))


_ACCURACY_RULES: dict[str, Callable[[str, str], float]] = {
    "multiple choice": _multiple_choice,
    "numerical": _numerical,
    "OCR": _ocr,
    "free-form": _free_form,
    "regression": _regression,
}
if set(_ACCURACY_RULES) != set(PROBLEM_TYPES):  # a new problem type needs a rule before it can train
    raise RuntimeError(f"accuracy rules {sorted(_ACCURACY_RULES)} do not cover PROBLEM_TYPES {sorted(PROBLEM_TYPES)}")


def accuracy(prediction: str, truth: str, problem_type: str) -> float:
    """Accuracy in [0, 1] of an extracted answer against the extracted truth, by ``problem_type``:
    multiple choice exact match; numerical equal at 2 decimals (0 if exactly one side has "." or
    ","); OCR 1 − WER; free-form mean ROUGE-1/2/L F; regression 1 − min(1, relative error).
    Unparsable answers score 0.0; an unknown problem type raises ValueError."""
    rule = _ACCURACY_RULES.get(problem_type)
    if rule is None:
        raise ValueError(f"unknown problem_type {problem_type!r}; choose from {', '.join(PROBLEM_TYPES)}")
    return rule((prediction or "").strip(), (truth or "").strip())


# ---------------------------------------------------------------------------------------------
# Format
# ---------------------------------------------------------------------------------------------

# Matched with re.fullmatch(pattern, completion, re.DOTALL), as the release does: nothing may come
# before <think> or after </answer>, not even whitespace.
# The patterns come from the prompts' tag lists, so a prompt never asks for tags its reward rejects.
THINK_ANSWER_PATTERN = FORMAT_PATTERNS["r1"]
THINK_TRANSFORM_ANSWER_PATTERN = FORMAT_PATTERNS["transform_answer"]


def format_score(completion: str, with_transform: bool) -> float:
    """1.0 iff the whole completion is think→answer (or think→transform→answer), else 0.0."""
    pattern = THINK_TRANSFORM_ANSWER_PATTERN if with_transform else THINK_ANSWER_PATTERN
    return 1.0 if re.fullmatch(pattern, completion, re.DOTALL) else 0.0


# ---------------------------------------------------------------------------------------------
# Transform (the pretext answer inside a ViSS-R1 response)
# ---------------------------------------------------------------------------------------------

TRANSFORM_WEIGHT = 0.5  # the release's transform reward; applied as a reward weight


def _truth_letter(transform_letter: str) -> str:
    # Accept the release's "<transform>B</transform>" spelling of the truth as well as a bare letter.
    if not isinstance(transform_letter, str):
        raise ValueError(f"transform_letter {transform_letter!r} is not one of the option letters {OPTION_LETTERS}")
    letter = extract_transform(transform_letter) if "<transform>" in transform_letter else transform_letter.strip()
    if len(letter) != 1 or letter not in OPTION_LETTERS:
        raise ValueError(f"transform_letter {transform_letter!r} is not one of the option letters {OPTION_LETTERS}")
    return letter


def transform_correct(completion: str, transform_letter: str) -> float:
    """1.0 iff the completion's ``<transform>`` content equals the truth letter (exact, as the
    release), else 0.0. The 0.5 of METHOD.md §4 is the weight, applied by the stage's weights."""
    return 1.0 if extract_transform(completion) == _truth_letter(transform_letter) else 0.0


# ---------------------------------------------------------------------------------------------
# Length bonus (group-conditional)
# ---------------------------------------------------------------------------------------------

# Completion length in tokens, up to and including the first EOS (the release's completion_mask
# sum; TRL's completion_ids hold the same tokens).
VISS_R1_LENGTH_WINDOW = (320, 768)
VIDEO_R1_LENGTH_WINDOW = (320, 512)       # Video-R1 and Pretext-GRPO
LENGTH_BONUS = 0.2
LENGTH_MIN_ACCURACY = 0.1


def length_bonus(
    accuracies: Sequence[float],
    lengths: Sequence[int],
    group_ids: Sequence[Any],
    window: tuple[int, int] = VISS_R1_LENGTH_WINDOW,
    bonus: float = LENGTH_BONUS,
    min_accuracy: float = LENGTH_MIN_ACCURACY,
) -> list[float]:
    """+``bonus`` for each rollout with accuracy > ``min_accuracy`` and window[0] <= length <=
    window[1], provided more than one rollout of its group has accuracy > ``min_accuracy`` (a lone
    right answer is rewarded for being right, not for its length). 0.0 otherwise."""
    if not len(accuracies) == len(lengths) == len(group_ids):
        raise ValueError(f"length_bonus: {len(accuracies)} accuracies, {len(lengths)} lengths and "
                         f"{len(group_ids)} group ids; need one of each per rollout")
    low, high = window
    accurate = Counter(group for group, acc in zip(group_ids, accuracies) if acc > min_accuracy)
    return [
        bonus if acc > min_accuracy and accurate[group] > 1 and low <= length <= high else 0.0
        for acc, length, group in zip(accuracies, lengths, group_ids)
    ]


# ---------------------------------------------------------------------------------------------
# Options (ablations): gated combination, T-GRPO
# ---------------------------------------------------------------------------------------------

def gated_accuracy(accuracy_value: float, transform_right: bool) -> float:
    """Accuracy and transform correctness combined so that answering right without seeing the
    transform is capped: wrong/<0.5 → acc; right/<0.5 → 0.2+acc; wrong/≥0.5 → min(acc, 0.7);
    right/≥0.5 → 1+acc. Replaces accuracy + transform (the release's ``manipulate_rewards``; it
    tested the 0.5-valued transform reward against 1, so its "right" branches never fired)."""
    if accuracy_value < 0.5:
        return 0.2 + accuracy_value if transform_right else accuracy_value
    return 1.0 + accuracy_value if transform_right else min(accuracy_value, 0.7)


TEMPORAL_RATIO = 0.8          # Video-R1's trainer (and the release's Pretext-GRPO trainer)
VISS_R1_TEMPORAL_RATIO = 1.0  # the release's ViSS-R1 trainer: ordered mean >= shuffled mean
TEMPORAL_BONUS = 0.3
TEMPORAL_MIN_ACCURACY = 0.1


def temporal_bonus(
    ordered_accuracies: Sequence[float],
    shuffled_accuracies: Sequence[float],
    ratio: float = TEMPORAL_RATIO,
    bonus: float = TEMPORAL_BONUS,
    min_accuracy: float = TEMPORAL_MIN_ACCURACY,
) -> list[float]:
    """T-GRPO for one group: if mean(ordered) >= ratio × mean(shuffled-frame rollouts), +``bonus``
    to each ordered rollout with accuracy > ``min_accuracy``; else nothing. One value per ordered
    rollout, to add to its accuracy (the length bonus still gates on the plain accuracy)."""
    if not ordered_accuracies or not shuffled_accuracies:
        raise ValueError(f"temporal_bonus: {len(ordered_accuracies)} ordered and {len(shuffled_accuracies)} "
                         "shuffled accuracies; need at least one of each")
    ordered_mean = sum(ordered_accuracies) / len(ordered_accuracies)
    shuffled_mean = sum(shuffled_accuracies) / len(shuffled_accuracies)
    if ordered_mean < ratio * shuffled_mean:
        return [0.0] * len(ordered_accuracies)
    return [bonus if acc > min_accuracy else 0.0 for acc in ordered_accuracies]


# ---------------------------------------------------------------------------------------------
# TRL adapters: f(prompts=None, completions=…, completion_ids=None, **columns) -> list[float]
# ---------------------------------------------------------------------------------------------
# TRL passes every dataset column as a per-completion list and logs each function under its
# __name__ (functools.partial is unwrapped to the wrapped name), so these names are the log keys.

def completion_text(completion: str | list[dict[str, Any]]) -> str:
    """The text of a completion: a plain string, or TRL's conversational
    ``[{"role": "assistant", "content": "…"}]`` (the first message, as the release reads it)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[0], dict):
        content = completion[0].get("content")
        if content is None or isinstance(content, str):
            return content or ""
    raise TypeError(f"completion must be a string or a list of messages, got {completion!r:.80}")


def _column(kwargs: dict[str, Any], name: str, count: int, reward: str) -> list[Any]:
    values = kwargs.get(name)
    if values is None:
        raise ValueError(f"{reward} needs the dataset column {name!r} (one value per completion); "
                         f"columns given: {sorted(k for k in kwargs if k not in ('trainer_state', 'log_extra', 'log_metric'))}")
    if len(values) != count:
        raise ValueError(f"{reward}: column {name!r} has {len(values)} values for {count} completions")
    return list(values)


def _answer_accuracies(completions: Sequence[Any], kwargs: dict[str, Any], reward: str) -> list[float]:
    solutions = _column(kwargs, "solution", len(completions), reward)
    problem_types = _column(kwargs, "problem_type", len(completions), reward)
    return [
        accuracy(extract_answer(completion_text(c)), extract_answer(sol), ptype)
        for c, sol, ptype in zip(completions, solutions, problem_types)
    ]


def _pretext_accuracies(completions: Sequence[Any], kwargs: dict[str, Any], reward: str) -> list[float]:
    # Pretext-GRPO: the transform letter is the answer (the release swaps it into ``solution`` as
    # "<answer>X</answer>" with problem_type "multiple choice"; same score).
    letters = _column(kwargs, "transform_letter", len(completions), reward)
    return [_multiple_choice(extract_answer(completion_text(c)), _truth_letter(letter))
            for c, letter in zip(completions, letters)]


def accuracy_reward(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[float]:
    """Answer accuracy per completion; columns ``solution`` and ``problem_type`` (per sample)."""
    return _answer_accuracies(completions, kwargs, "accuracy_reward")


def pretext_accuracy_reward(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[float]:
    """Pretext-GRPO accuracy: the ``<answer>`` letter against column ``transform_letter``."""
    return _pretext_accuracies(completions, kwargs, "pretext_accuracy_reward")


def format_reward(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[float]:
    """Two-tag format (think → answer): Video-R1 and Pretext-GRPO."""
    return [format_score(completion_text(c), with_transform=False) for c in completions]


def transform_format_reward(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[float]:
    """Three-tag format (think → transform → answer): ViSS-R1."""
    return [format_score(completion_text(c), with_transform=True) for c in completions]


def transform_reward(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[float | None]:
    """Transform correctness (1.0/0.0) against column ``transform_letter``; None (unscored, TRL's
    NaN) for a row without one. Weighted by ``RewardSettings.transform_weight`` (0.5)."""
    letters = _column(kwargs, "transform_letter", len(completions), "transform_reward")
    return [None if letter is None else transform_correct(completion_text(c), letter)
            for c, letter in zip(completions, letters)]


def gated_reward(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[float | None]:
    """The gated combination of accuracy and transform correctness (replaces both rewards)."""
    accuracies = _answer_accuracies(completions, kwargs, "gated_reward")
    letters = _column(kwargs, "transform_letter", len(completions), "gated_reward")
    return [None if letter is None else gated_accuracy(acc, transform_correct(completion_text(c), letter) == 1.0)
            for c, acc, letter in zip(completions, accuracies, letters)]


def length_reward(
    prompts=None,
    completions=(),
    completion_ids=None,
    *,
    window: tuple[int, int] = VISS_R1_LENGTH_WINDOW,
    bonus: float = LENGTH_BONUS,
    min_accuracy: float = LENGTH_MIN_ACCURACY,
    pretext: bool = False,
    **kwargs,
) -> list[float]:
    """The group-conditional length bonus. Lengths are ``len(completion_ids)``; groups are the
    column ``sample_id``; accuracy is the answer accuracy (the pretext accuracy if ``pretext``).
    Exact only when every rollout of a group is in the same call: TRL alone scores each process's
    slice, judging a group spread over processes in parts; ``VideoGRPOTrainer`` hands every reward
    function the whole generation batch gathered over processes. Bind the stage's window with
    ``functools.partial`` (TRL still logs it as "length_reward")."""
    if completion_ids is None or len(completion_ids) != len(completions):
        raise ValueError("length_reward needs completion_ids (token ids per completion) to measure lengths")
    group_ids = _column(kwargs, "sample_id", len(completions), "length_reward")
    accuracies = (_pretext_accuracies if pretext else _answer_accuracies)(completions, kwargs, "length_reward")
    return length_bonus(accuracies, [len(ids) for ids in completion_ids], group_ids, window, bonus, min_accuracy)


def temporal_reward(
    prompts=None,
    completions=(),
    completion_ids=None,
    *,
    ratio: float = TEMPORAL_RATIO,
    bonus: float = TEMPORAL_BONUS,
    min_accuracy: float = TEMPORAL_MIN_ACCURACY,
    **kwargs,
) -> list[float]:
    """T-GRPO (Video-R1): ``temporal_bonus`` per group (column ``sample_id``), comparing the
    group's answer accuracies with column ``shuffled_accuracy`` — the mean accuracy of the extra
    rollouts the trainer generated on the same prompt with its frames in random order (None for
    a prompt without video: no bonus). Like ``length_reward``, exact only when the call holds
    whole groups (the ordered mean is the group's), each with one shuffled reference."""
    accuracies = _answer_accuracies(completions, kwargs, "temporal_reward")
    group_ids = _column(kwargs, "sample_id", len(completions), "temporal_reward")
    shuffled = _column(kwargs, "shuffled_accuracy", len(completions), "temporal_reward")
    rewards = [0.0] * len(completions)
    for group in dict.fromkeys(group_ids):
        members = [i for i, g in enumerate(group_ids) if g == group]
        references = {shuffled[i] for i in members}
        if len(references) > 1:  # rollouts of one group sampled against different shuffled rollouts
            raise ValueError(f"temporal_reward: group {group!r} has shuffled_accuracy {sorted(references, key=str)}; "
                             "its rollouts must share one reference (shuffled rollouts sampled once per group)")
        if shuffled[members[0]] is None:
            continue
        for i, value in zip(members, temporal_bonus([accuracies[i] for i in members], [shuffled[members[0]]],
                                                    ratio, bonus, min_accuracy)):
            rewards[i] = value
    return rewards


# ---------------------------------------------------------------------------------------------
# Settings and the reward set of each stage
# ---------------------------------------------------------------------------------------------

class RewardSettings(BaseModel):
    """What a GRPO stage's reward is made of, besides what its prompt format asks for (which
    decides the functions: ``stage_rewards``). Defaults are ViSS-R1's; each stage's are in
    ``viss_r1.stages``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # False: ViSS-R1's ablation without the answer reward (0.5·transform + format). The length bonus
    # is gated on answer accuracy, so it goes too — as in the release, which zeroes the accuracy
    # column before its length gate reads it, so its bonus never fires there either.
    use_accuracy: bool = True
    transform_weight: float = TRANSFORM_WEIGHT          # weight of transform correctness (ViSS-R1)
    use_length_bonus: bool = True                       # the release trains every stage with it
    length_window: tuple[int, int] = VISS_R1_LENGTH_WINDOW  # inclusive token bounds
    length_bonus: float = LENGTH_BONUS                  # added per rewarded rollout
    length_min_accuracy: float = LENGTH_MIN_ACCURACY    # "accurate" means accuracy above this
    gated: bool = False                                 # ablation: gated accuracy × transform
    temporal: bool = False                              # T-GRPO (answer formats): bonus vs shuffled-frame rollouts
    temporal_ratio: float = TEMPORAL_RATIO              # ordered mean >= ratio × shuffled mean
    temporal_bonus: float = TEMPORAL_BONUS              # added to accurate ordered rollouts
    temporal_min_accuracy: float = TEMPORAL_MIN_ACCURACY

    @model_validator(mode="after")
    def _check(self) -> RewardSettings:
        # Configs read from YAML/JSON give lists; pydantic makes the window a (low, high) tuple.
        low, high = self.length_window
        if not 0 <= low <= high:
            raise ValueError(f"length_window {self.length_window} must be (low, high) with 0 <= low <= high")
        if self.transform_weight < 0:
            raise ValueError(f"transform_weight {self.transform_weight} must be >= 0")
        return self


class StageRewards(NamedTuple):
    """``reward_funcs`` for GRPOTrainer and ``reward_weights`` for GRPOConfig, in the same order."""

    funcs: list[Callable[..., list[float | None]]]
    weights: list[float]


def stage_rewards(prompt_format: str, settings: RewardSettings) -> StageRewards:
    """The release's reward functions and weights for a stage whose prompts ask in ``prompt_format``:
    transform_answer (ViSS-R1) — accuracy + 0.5·transform (or the gated combination) + three-tag
    format + length bonus; pretext (Pretext-GRPO stage I) — pretext accuracy + two-tag format +
    length bonus; r1 (Video-R1) — accuracy + two-tag format + length bonus. T-GRPO
    (``settings.temporal``, the answer formats) adds ``temporal_reward``, whose shuffled-frame
    rollouts the trainer generates. ``use_accuracy=False`` (transform_answer) leaves 0.5·transform +
    format: the paper's ablation without the answer reward."""
    if prompt_format not in FORMAT_PATTERNS:
        raise ValueError(f"prompt format {prompt_format!r} is unknown; expected one of {', '.join(FORMAT_PATTERNS)}")
    transform = prompt_format == "transform_answer"
    if settings.gated and not transform:
        raise ValueError(f"gated rewards combine answer and transform; prompt format {prompt_format!r} asks for "
                         "no transform answer")
    if not settings.use_accuracy:
        _check_accuracy_free(prompt_format, settings)
    pairs: list[tuple[Callable[..., Any], float]]
    if not settings.use_accuracy:
        pairs = [(transform_reward, settings.transform_weight), (transform_format_reward, 1.0)]
    elif transform and settings.gated:
        pairs = [(gated_reward, 1.0), (transform_format_reward, 1.0)]
    elif transform:
        pairs = [(accuracy_reward, 1.0), (transform_reward, settings.transform_weight), (transform_format_reward, 1.0)]
    elif prompt_format == "pretext":
        pairs = [(pretext_accuracy_reward, 1.0), (format_reward, 1.0)]
    else:
        pairs = [(accuracy_reward, 1.0), (format_reward, 1.0)]
    if settings.temporal:
        if prompt_format == "pretext":
            # Shuffling the frames changes the pretext label itself (arrow, shuffle): no fair reference.
            raise ValueError("T-GRPO (temporal) compares answer accuracy on ordered and shuffled frames; "
                             "the pretext prompt has no answer, only the pretext label that shuffling changes. "
                             "Use it in a stage whose prompt asks a question (r1 or transform_answer)")
        # Under transform_answer the shuffled rollouts see the same prompt and the same transformed
        # frames, permuted. The release permutes the untransformed frames under the plain R1 prompt;
        # with its one active video transform (arrow) the frames are the same set either way.
        pairs.append((functools.partial(temporal_reward, ratio=settings.temporal_ratio, bonus=settings.temporal_bonus,
                                        min_accuracy=settings.temporal_min_accuracy), 1.0))
    if settings.use_length_bonus and settings.use_accuracy:
        length = functools.partial(
            length_reward, window=settings.length_window, bonus=settings.length_bonus,
            min_accuracy=settings.length_min_accuracy, pretext=prompt_format == "pretext",
        )
        pairs.append((length, 1.0))
    return StageRewards([func for func, _ in pairs], [weight for _, weight in pairs])


def _check_accuracy_free(prompt_format: str, settings: RewardSettings) -> None:
    """The reward without the accuracy term is ViSS-R1's ablation (transform + format); whatever is
    judged on the answer's accuracy has nothing to stand on without it."""
    if prompt_format != "transform_answer":
        raise ValueError(f"use_accuracy: false leaves prompt format {prompt_format!r} with the format reward alone; "
                         "the accuracy-free ablation is ViSS-R1's (0.5·transform + format)")
    dependent = [name for name, on in (("gated", settings.gated), ("temporal", settings.temporal)) if on]
    if dependent:
        raise ValueError(f"use_accuracy: false with {' and '.join(dependent)}: built on answer accuracy, which is off; "
                         f"set {', '.join(f'{name}: false' for name in dependent)}")
