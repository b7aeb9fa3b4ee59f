import pytest

from assets.checks import label_deviations
from viss_r1.data.pretext_samples import PretextSettings, PretextUse, build_use_table, label_balance


def rows(n, data_type="video", **extra):
    return [{
        "source": "train", "split": "train", "record_index": i, "problem_id": str(i), "problem": "q", "data_type": data_type,
        "problem_type": "multiple choice", "options": ["A. x", "B. y"], "process": "<think>t</think>",
        "solution": "<answer>A</answer>", "path": f"v{i}.mp4", "data_source": "t", "extra": "{}",
        "fingerprint": f"{i:024x}", "num_frames": 16, "trans_opt": None, "trans_ans": None, **extra,
    } for i in range(n)]


USES = {use.name: use for use in PretextSettings().uses}


def test_deterministic_given_the_seed_and_independent_of_row_order():
    records = rows(40)
    first, _ = build_use_table(records, USES["video_questions"], PretextSettings(seed=3))
    again, _ = build_use_table(list(reversed(records)), USES["video_questions"], PretextSettings(seed=3))
    other, _ = build_use_table(records, USES["video_questions"], PretextSettings(seed=4))
    by_id = lambda table: {r["sample_id"]: (r["transform_name"], r["transform_letter"]) for r in table}  # noqa: E731
    assert by_id(first) == by_id(again)
    assert by_id(first) != by_id(other)
    assert {r["seed"] for r in first} == {3}


def test_uses_pick_their_media_and_transforms():
    records = rows(30) + [{**r, "record_index": 100 + r["record_index"]} for r in rows(30, data_type="image")]
    rl, _ = build_use_table(records, USES["video_questions"], PretextSettings())
    grpo, _ = build_use_table(records, USES["questions"], PretextSettings())
    assert {r["data_type"] for r in rl} == {"video"} and len(rl) == 30
    assert {r["transform_name"] for r in grpo if r["data_type"] == "image"} == {"rotate", "flip", "puzzle"}
    assert {r["transform_name"] for r in grpo if r["data_type"] == "video"} == {"rotate", "arrow", "shuffle"}
    only_arrow = PretextUse("video_questions", ("video",), video_transforms=("arrow",))
    table, _ = build_use_table(records, only_arrow, PretextSettings())
    assert {r["transform_name"] for r in table} == {"arrow"}
    assert "segment 1 = frames 1-4" in next(r for r in grpo if r["transform_name"] == "shuffle")["pretext_question"]


def test_sft_without_chain_of_thought_is_skipped():
    table, _ = build_use_table(rows(5, process=""), USES["cot"], PretextSettings())
    assert table == []


def test_ssl_cot_records_keep_their_annotated_transform_and_bad_ones_are_quarantined():
    records = rows(3)
    records[0].update(trans_opt="rotation", trans_ans="C")
    records[1].update(trans_opt="reverse", trans_ans="B")
    records[2].update(trans_opt="zoom", trans_ans="A")
    table, quarantine = build_use_table(records, USES["cot"], PretextSettings())
    assert [(r["transform_name"], r["transform_param"], r["transform_letter"]) for r in table] == [
        ("rotate", 180, "C"), ("arrow", 1, "B")]
    assert quarantine[0]["reason"] == "trans_opt 'zoom' names no known transform"


def test_label_check_accepts_honest_draws_and_flags_a_biased_sampler():
    table, _ = build_use_table(rows(600), USES["video_questions"], PretextSettings())
    balance = {"video_questions": label_balance(table)}
    assert label_deviations(balance, 0.55) == []
    biased = {"video_questions": {"video/arrow": {"A": 150, "B": 50}}}
    (off,) = [d for d in label_deviations(biased, 0.55) if d["letter"] == "A"]
    assert off["observed"] == 150 and off["expected"] == pytest.approx(90.0)


def test_held_out_records_never_become_training_samples():
    records = rows(10) + [{**r, "source": "eval", "split": "eval"} for r in rows(10)]
    for use in USES.values():
        table, quarantine = build_use_table(records, use, PretextSettings())
        assert {r["split"] for r in table} == {"train"} and len(table) == 10 * use.draws and not quarantine


def test_several_draws_give_each_record_every_transform_in_turn():
    use = PretextUse("cot", ("video",), require_process=True, draws=6)
    table, _ = build_use_table(rows(20), use, PretextSettings())
    assert len(table) == 120 and len({r["sample_id"] for r in table}) == 120
    for index in range(20):
        draws = [r for r in table if r["record_index"] == index]
        assert [r["sample_id"] for r in draws] == [f"cot/train/{index}/{k}" for k in range(6)]
        names = [r["transform_name"] for r in draws]
        assert sorted(names) == ["arrow", "arrow", "rotate", "rotate", "shuffle", "shuffle"]
        assert names[:3] == names[3:]  # taken in turn from a random start
    assert len({tuple(r["transform_name"] for r in table if r["record_index"] == i)[0] for i in range(20)}) == 3
    # One draw keeps the plain sample id; an annotated SSL-CoT record keeps its one transform.
    single, _ = build_use_table(rows(2), PretextUse("cot", ("video",), require_process=True), PretextSettings())
    assert [r["sample_id"] for r in single] == ["cot/train/0", "cot/train/1"]
    annotated = rows(1)
    annotated[0].update(trans_opt="arrow", trans_ans="A")
    table, _ = build_use_table(annotated, use, PretextSettings())
    assert [(r["sample_id"], r["transform_name"], r["transform_letter"]) for r in table] == [("cot/train/0", "arrow", "A")]


def test_release_preset_draws_what_each_release_trainer_applies():
    """`preset: release`: SSL-CoT data over all three of the modality, Pretext-GRPO all video
    transforms but only flip on images, ViSS-R1 RL arrow only; a use's own list wins over the
    preset; no preset given is the embedded default, unchanged."""
    from assets.configs import PretextSamplesConfig
    from viss_r1.data.pretext_samples import RELEASE_TRANSFORMS, preset_transforms

    assert RELEASE_TRANSFORMS == {
        "cot": (("rotate", "arrow", "shuffle"), ("rotate", "flip", "puzzle")),
        "questions": (("rotate", "arrow", "shuffle"), ("flip",)),
        "video_questions": (("arrow",), ("puzzle",)),
    }
    settings = PretextSamplesConfig(preset="release").to_library()
    uses = {use.name: use for use in settings.uses}
    records = rows(60) + [{**r, "record_index": 100 + r["record_index"]} for r in rows(60, data_type="image")]
    grpo, _ = build_use_table(records, uses["questions"], settings)
    assert {r["transform_name"] for r in grpo if r["data_type"] == "image"} == {"flip"}
    assert {r["transform_name"] for r in grpo if r["data_type"] == "video"} == {"rotate", "arrow", "shuffle"}
    rl, _ = build_use_table(records, uses["video_questions"], settings)
    assert {r["transform_name"] for r in rl} == {"arrow"} and len(rl) == 60
    sft, _ = build_use_table(records, uses["cot"], settings)
    assert {r["transform_name"] for r in sft if r["data_type"] == "image"} == {"rotate", "flip", "puzzle"}

    own = PretextSamplesConfig(preset="release", video_questions={"video_transforms": ["rotate", "shuffle"]}).to_library()
    (rl_use,) = [use for use in own.uses if use.name == "video_questions"]
    assert (rl_use.video_transforms, rl_use.image_transforms) == (("rotate", "shuffle"), ("puzzle",))
    assert PretextSamplesConfig().to_library() == PretextSettings()
    assert preset_transforms("ours", "video_questions") == (("rotate", "arrow", "shuffle"), ("rotate", "flip", "puzzle"))
    with pytest.raises(ValueError, match="transform preset 'paper': choose from ours, release"):
        preset_transforms("paper", "cot")
