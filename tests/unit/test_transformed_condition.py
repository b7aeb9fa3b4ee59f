"""The transformed condition: balanced over options for a learning check, asked and scored by the
evaluation's one path (``viss_r1.evaluate.run.ask_rows``), with the pretext accuracy the former
stand-alone probe gave."""

import numpy as np
from transformers import AutoModelForImageTextToText, AutoProcessor

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.data.loader import load_pretext_clip
from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.evaluate.config import EvalSettings
from viss_r1.evaluate.probes import TRANSFORMED, chance, every_option
from viss_r1.evaluate.run import ask_rows, in_process
from viss_r1.evaluate.scores import pretext_accuracy
from viss_r1.modeling.generation import Decoding
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT, build_prompt, chat_messages
from viss_r1.rewards import extract_transform

SPEC = BENCHMARKS["synthetic"]


def test_every_option_balances_the_probe(tiny_sft):
    arrow = [dict(r, transform_name="arrow", transform_param=0, transform_letter="A") for r in tiny_sft.rows[:3]]
    rotate = [dict(r, transform_name="rotate", transform_param=90, transform_letter="B") for r in tiny_sft.rows[3:5]]
    rows = every_option(arrow + rotate)
    assert [r["transform_letter"] for r in rows] == ["A", "B"] * 3 + ["A", "B", "C", "D"] * 2
    assert [r["transform_param"] for r in rows[-4:]] == [0, 90, 180, 270]
    assert (chance("video", "arrow"), chance("video", "rotate")) == (0.5, 0.25)


def former_probe_accuracy(rows, texts) -> dict[str, float]:
    """The removed ``transform_probe``'s scoring, line for line: per transform, the fraction of
    completions whose ``<transform>`` letter is the row's."""
    by_transform: dict[str, list[bool]] = {}
    for row, text in zip(rows, texts):
        by_transform.setdefault(row["transform_name"], []).append(extract_transform(text) == row["transform_letter"])
    return {name: float(np.mean(hits)) for name, hits in sorted(by_transform.items())}


def test_the_merged_path_gives_the_former_probes_pretext_accuracy_on_a_hand_made_case(tiny_sft):
    arrow = [dict(r, transform_name="arrow", transform_param=0, transform_letter="A") for r in tiny_sft.rows[:2]]
    rotate = [dict(r, transform_name="rotate", transform_param=0, transform_letter="A") for r in tiny_sft.rows[2:3]]
    rows = every_option(arrow + rotate)          # 4 arrow rows (A B A B), 4 rotate rows (A B C D)
    letters = ["A", "A", "A", "B"] + ["A", "B", "D", "D"]   # arrow 3/4 right, rotate 3/4 right
    texts = [f"<think>…</think><transform>{letter}</transform><answer>{row['solution']}</answer>"
             for letter, row in zip(letters, rows)]
    texts[0] = "no tags at all"                  # arrow 2/4 right
    frames = FrameCacheReader(tiny_sft.shard_files)
    asked = []

    def generate(conversations, media, decoding):
        asked.extend(zip(conversations, media))
        start = len(asked) - len(conversations)
        return [{"text": texts[start + i], "num_tokens": 1} for i in range(len(conversations))]

    results = [row for batch in ask_rows(TRANSFORMED, rows, generate, frames, EvalSettings(), SPEC, batch_size=3)
               for row in batch]
    merged = pretext_accuracy(results)
    former = former_probe_accuracy(rows, texts)
    assert merged == {"arrow": 50.0, "rotate": 75.0, "all": 62.5}
    assert {name: merged[name] for name in former} == {name: round(100 * v, 2) for name, v in former.items()}
    # asked exactly as the former probe asked: ViSS-R1 prompt, the row's transformed clip
    for row, (messages, media) in zip(rows, asked):
        clip = load_pretext_clip(row, frames, transform=True)
        assert messages == chat_messages(build_prompt("transform_answer", row), "video", DEFAULT_SYSTEM_PROMPT)
        assert np.array_equal(media.frames, clip.frames) and media.video_metadata == clip.video_metadata


def test_the_transformed_condition_scores_generated_answers_per_transform(tiny_sft):
    model = AutoModelForImageTextToText.from_pretrained(tiny_sft.model_dir)
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    rows = every_option([dict(r, transform_name="arrow", transform_param=0, transform_letter="A")
                         for r in tiny_sft.rows[:2]])
    settings = EvalSettings(decoding=Decoding(max_new_tokens=6, do_sample=False, batch_size=3))
    results = [row for batch in ask_rows(TRANSFORMED, rows, in_process(model, processor),
                                         FrameCacheReader(tiny_sft.shard_files), settings, SPEC, batch_size=3)
               for row in batch]
    assert len(results) == 4 and {r["status"] for r in results} == {"ok"}
    # an untrained model writes no tags: nothing predicted, pretext accuracy exactly 0
    assert pretext_accuracy(results) == {"arrow": 0.0, "all": 0.0}
    assert all(r["num_tokens"] <= 6 and r["transform_predicted"] == "" for r in results)
