"""The held-out transform probe: balanced over options, scored by the reward library."""

from transformers import AutoModelForImageTextToText, AutoProcessor

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.evaluate.transform_probe import every_option, transform_probe
from viss_r1.modeling.generation import Decoding


def test_every_option_balances_the_probe(tiny_sft):
    arrow = [dict(r, transform_name="arrow", transform_param=0, transform_letter="A") for r in tiny_sft.rows[:3]]
    rotate = [dict(r, transform_name="rotate", transform_param=90, transform_letter="B") for r in tiny_sft.rows[3:5]]
    rows = every_option(arrow + rotate)
    assert [r["transform_letter"] for r in rows] == ["A", "B"] * 3 + ["A", "B", "C", "D"] * 2
    assert [r["transform_param"] for r in rows[-4:]] == [0, 90, 180, 270]


def test_probe_scores_generated_answers_per_transform(tiny_sft):
    model = AutoModelForImageTextToText.from_pretrained(tiny_sft.model_dir)
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    rows = every_option([dict(r, transform_name="arrow", transform_param=0, transform_letter="A")
                         for r in tiny_sft.rows[:2]])
    probe = transform_probe(model, processor, rows, FrameCacheReader(tiny_sft.shard_files),
                            Decoding(max_new_tokens=6, do_sample=False, batch_size=3))
    summary, samples = probe["summary"], probe["samples"]
    assert summary["samples"] == 4 and summary["chance"] == {"arrow": 0.5}
    # an untrained model writes no tags: nothing predicted, format 0, accuracy exactly 0
    assert summary["format_compliance"] == 0.0 and summary["transform_accuracy"] == {"arrow": 0.0}
    assert all(s["num_tokens"] <= 6 and s["predicted"] == "" for s in samples)
