"""The evaluation process on a tiny model: every probe condition, missing and broken clips
counted (never scored as wrong), and a resumed run that redoes nothing already finished."""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl
import pytest

from viss_r1.evaluate.config import EvalRunConfig, EvalSettings, ProbeSettings
from viss_r1.evaluate.probes import conditions, drop_frames
from viss_r1.evaluate.run import PARTS_DIR, RESULTS_FILE, evaluate
from viss_r1.modeling.generation import Decoding

RECORD_FIELDS = ("source", "record_index", "problem_id", "problem", "data_type", "problem_type", "options",
                 "process", "solution", "path", "data_source", "extra", "fingerprint", "num_frames")


@pytest.fixture
def eval_records(tiny_sft, tmp_path):
    """The tiny setup's 8 clips as benchmark records, plus one whose video is missing and one
    whose clip is absent from the frame cache (a broken artifact: it must fail alone)."""
    rows = [{k: row[k] for k in RECORD_FIELDS} | {"source": "bench", "reason": None} for row in tiny_sft.rows]
    rows.append({**rows[0], "record_index": 100, "fingerprint": None, "num_frames": None,
                 "reason": "media quarantined: file not found"})
    rows.append({**rows[1], "record_index": 101, "fingerprint": "f" * 24})
    path = tmp_path / "records.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


def config(tiny_sft, records, output) -> EvalRunConfig:
    # The broken clip fails 1 of the 9 samples each condition can ask: accepted here.
    settings = EvalSettings(decoding=Decoding(max_new_tokens=4, batch_size=4), max_failed_fraction=0.2,
                            probes=ProbeSettings(blind=True, transforms=["arrow", "rotate"], frame_drop=[0.5]))
    return EvalRunConfig(model=str(tiny_sft.model_dir), benchmark="synthetic", records=str(records),
                         frame_shards=tiny_sft.shard_files, output_dir=str(output), settings=settings)


def test_every_condition_is_scored_and_failures_are_counted_not_scored(tiny_sft, eval_records, tmp_path, capsys):
    summary = evaluate(config(tiny_sft, eval_records, tmp_path / "out"))
    printed = capsys.readouterr().out.splitlines()
    results = pl.read_parquet(tmp_path / "out" / RESULTS_FILE)
    counts = {(c, s): n for c, s, n in results.group_by("condition", "status").len().iter_rows()}
    assert counts == {
        ("clean", "ok"): 8, ("clean", "missing"): 1, ("clean", "failed"): 1,
        ("blind", "ok"): 8, ("blind", "missing"): 1, ("blind", "failed"): 1,   # blind needs the clip's shape
        ("no_video", "ok"): 9, ("no_video", "missing"): 1,   # no clip needed: the broken one is asked too
        ("transformed", "ok"): 8, ("transformed", "missing"): 1, ("transformed", "failed"): 1,
        ("frame_drop_0.50", "ok"): 8, ("frame_drop_0.50", "missing"): 1, ("frame_drop_0.50", "failed"): 1,
    }
    failed = results.filter(pl.col("status") == "failed")["failure"].to_list()
    assert all("not in the frame cache" in reason for reason in failed)
    clean = summary["conditions"]["clean"]
    assert (clean["samples"], clean["scored"], clean["missing"], clean["failed"]) == (10, 8, 1, 1)
    ok = results.filter(pl.col("status") == "ok")
    assert ok.filter(pl.col("condition") == "clean")["frames"].to_list() == [16] * 8
    assert ok.filter(pl.col("condition") == "frame_drop_0.50")["frames"].to_list() == [8] * 8
    assert ok.filter(pl.col("condition") == "blind")["frames"].to_list() == [16] * 8   # the clean shape
    assert ok.filter(pl.col("condition") == "no_video")["frames"].null_count() == 9
    transformed = ok.filter(pl.col("condition") == "transformed")
    assert set(transformed["transform"]) <= {"arrow", "rotate"} and transformed["transform_truth"].null_count() == 0
    expected_pretext = 100 * transformed["transform_correct"].mean()
    assert summary["pretext_accuracy"]["all"] == pytest.approx(expected_pretext, abs=0.01)
    assert summary["visual_reliance"] == pytest.approx(clean["overall"] - summary["conditions"]["blind"]["overall"],
                                                       abs=0.011)
    assert summary["visual_reliance_no_video"] == pytest.approx(
        clean["overall"] - summary["conditions"]["no_video"]["overall"], abs=0.011)
    # each condition's format compliance, from the rows' own check of the format asked
    for condition in ("clean", "blind", "no_video", "transformed", "frame_drop_0.50"):
        rows = ok.filter(pl.col("condition") == condition)
        assert rows["follows_format"].null_count() == 0
        assert summary["format"][condition] == pytest.approx(100 * rows["follows_format"].mean(), abs=0.01)
    # One progress line over every condition's asked samples (the missing are never asked), its
    # metric the running accuracy of the condition being asked: the last one, frame drop, at the end.
    asked = results.filter(pl.col("status") != "missing").height
    progress = [line for line in printed if line.startswith("sample ")]
    assert progress[0].startswith(f"sample 4/{asked} ") and " · clean accuracy " in progress[0]
    drop = ok.filter(pl.col("condition") == "frame_drop_0.50")["score"].mean()
    assert progress[-1].startswith(f"sample {asked}/{asked} (100%)") and "done in" in progress[-1]
    assert progress[-1].endswith(f" · frame_drop_0.50 accuracy {drop:.4g}") and len(progress) <= 11, progress


def test_a_resumed_evaluation_redoes_only_what_was_lost(tiny_sft, eval_records, tmp_path):
    output = tmp_path / "out"
    first = evaluate(config(tiny_sft, eval_records, output))
    complete = pl.read_parquet(output / RESULTS_FILE)
    parts = sorted((output / PARTS_DIR).glob("*.parquet"))
    lost = parts[-2:]   # the frame-drop condition's two batches, as if killed before writing them
    lost_rows = pl.concat([pl.read_parquet(p) for p in lost])
    for part in lost:
        part.unlink()
    (output / RESULTS_FILE).unlink()

    again = evaluate(config(tiny_sft, eval_records, output))
    kept = complete.join(lost_rows, on=["condition", "sample_id"], how="anti")
    assert again["resumed"] == (kept["status"] != "failed").sum()   # the broken clip's rows are asked again
    assert again["generated"] == (lost_rows["status"] == "ok").sum() > 0
    assert first["generated"] == 8 + 8 + 9 + 8 + 8
    assert pl.read_parquet(output / RESULTS_FILE).equals(complete)   # same answers, nothing asked twice

    shutil.rmtree(output)
    assert evaluate(config(tiny_sft, eval_records, output))["resumed"] == 0


def test_conditions_follow_the_probe_settings():
    names = [c.name for c in conditions(ProbeSettings(blind=False, transforms=[], frame_drop=[0.25, 0.5]))]
    assert names == ["clean", "no_video", "frame_drop_0.25", "frame_drop_0.50"]
    names = [c.name for c in conditions(ProbeSettings(no_video=False, transforms=["arrow"], frame_drop=[]))]
    assert names == ["clean", "blind", "transformed"]
    with pytest.raises(ValueError, match="unknown"):
        ProbeSettings(transforms=["flip"])
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        ProbeSettings(frame_drop=[1.0])


@pytest.mark.parametrize("total,ratio,kept", [(16, 0.5, 8), (16, 0.25, 12), (16, 0.9, 2), (6, 0.5, 2), (7, 0.1, 6)])
def test_dropped_frames_keep_their_own_timestamps(total, ratio, kept):
    frames = np.arange(total)[:, None, None, None] * np.ones((1, 3, 2, 2), dtype=np.uint8)
    timing = {"fps": 8.0, "total_num_frames": 64, "frames_indices": list(range(0, 4 * total, 4))}
    out, new_timing = drop_frames(frames, timing, ratio, np.random.default_rng(0))
    assert len(out) == kept and len(new_timing["frames_indices"]) == kept
    positions = out[:, 0, 0, 0].astype(int)
    assert list(positions) == sorted(set(positions))                      # order kept, no repeats
    assert new_timing["frames_indices"] == [4 * p for p in positions]    # each frame keeps its timestamp


def test_a_viss_r1_model_is_asked_with_its_own_prompt_on_the_unchanged_video(tiny_sft, eval_records):
    """Under prompt_format transform_answer the clean question follows the identity option's transform
    question (arrow: not reversed = A), and the frames are exactly the cached ones."""
    from viss_r1.data.frame_cache import FrameCacheReader
    from viss_r1.evaluate.probes import Condition, condition_rows, request

    records = pl.read_parquet(eval_records).head(2).to_dicts()
    settings = EvalSettings(prompt_format="transform_answer", identity_transform="arrow")
    (clean, *_), frames = condition_rows(Condition("clean", "clean"), records, settings), FrameCacheReader(tiny_sft.shard_files)
    assert (clean["transform_name"], clean["transform_param"], clean["transform_letter"]) == ("arrow", 0, "A")
    messages, media = request(Condition("clean", "clean"), clean, frames, "system", 0, "transform_answer")
    text = messages[1]["content"][-1]["text"]
    assert "Transform question:" in text and "reversed" in text and "<transform>" in text
    assert np.array_equal(media.frames, frames.load(clean["fingerprint"]).frames.transpose(0, 3, 1, 2))
    r1_messages, _ = request(Condition("clean", "clean"), clean, frames, "system", 0, "r1")
    assert "Transform question:" not in r1_messages[1]["content"][-1]["text"]
