"""Faults of an evaluation run and what a rerun does about them: a transient generation error is a
failed row that the next run asks again (and its newest row wins), too many failures fail the run
once their rows are written, a model that does not load stops the run before any sample is asked,
and the leaderboard shows the failed count beside the score it qualifies."""

from __future__ import annotations

import re

import polars as pl
import pytest
import torch

from viss_r1.evaluate.config import EvalRunConfig, EvalSettings, ProbeSettings
from viss_r1.evaluate.leaderboard import leaderboard_table, to_markdown
from viss_r1.evaluate.run import PARTS_DIR, RESULTS_FILE, evaluate, flat_scores
from viss_r1.modeling import generation
from viss_r1.modeling.generation import Decoding

RECORD_FIELDS = ("source", "record_index", "problem_id", "problem", "data_type", "problem_type", "options",
                 "process", "solution", "path", "data_source", "extra", "fingerprint", "num_frames")
LOADED = ("model", "processor")   # evaluate's model_and_processor: stands for a loaded model
OUT_OF_MEMORY = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.fixture
def records(tiny_sft, tmp_path):
    """The tiny setup's 8 clips as benchmark records (sample ids bench/0 … bench/7), each question
    tagged with its sample id so a stand-in model can tell them apart, plus one whose video is
    missing (bench/100)."""
    rows = [{k: row[k] for k in RECORD_FIELDS} | {"source": "bench", "reason": None} for row in tiny_sft.rows]
    rows = [{**row, "problem": f"{row['problem']} [bench/{row['record_index']}]"} for row in rows]
    rows.append({**rows[0], "record_index": 100, "fingerprint": None, "num_frames": None,
                 "reason": "media quarantined: file not found"})
    path = tmp_path / "records.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


def config(tiny_sft, records, output, **settings) -> EvalRunConfig:
    """The clean condition only, 4 samples a batch: 8 samples to ask, 1 missing."""
    return EvalRunConfig(model=str(tiny_sft.model_dir), benchmark="synthetic", records=str(records),
                         frame_shards=tiny_sft.shard_files, output_dir=str(output),
                         settings=EvalSettings(decoding=Decoding(max_new_tokens=4, batch_size=4),
                                               probes=ProbeSettings(blind=False, no_video=False, transforms=[],
                                                                     frame_drop=[]),
                                               **settings))


class StandInModel:
    """``generate_completions`` without a model: answers B, raises the error set for a sample
    (in any batch holding it), and records the sample ids it was asked, in order."""

    def __init__(self, errors: dict[str, Exception] | None = None):
        self.errors, self.asked = errors or {}, []

    def __call__(self, model, processor, conversations, media, decoding):
        assert (model, processor) == LOADED
        ids = [re.search(r"\[(bench/\d+)\]", str(conversation)).group(1) for conversation in conversations]
        self.asked += ids
        for sample in ids:
            if sample in self.errors:
                raise self.errors[sample]
        return [{"text": "<answer>B</answer>", "num_tokens": 3} for _ in ids]


def parts(output) -> pl.DataFrame:
    """Every row written, oldest part first (what is on disk, before the newest row wins)."""
    return pl.concat([pl.read_parquet(p) for p in sorted((output / PARTS_DIR).glob("*.parquet"))])


def test_a_transient_error_fails_one_sample_and_the_rerun_asks_only_it_again(tiny_sft, records, tmp_path,
                                                                             monkeypatch):
    output = tmp_path / "out"
    flaky = StandInModel({"bench/3": OUT_OF_MEMORY})
    monkeypatch.setattr(generation, "generate_completions", flaky)
    first = evaluate(config(tiny_sft, records, output, max_failed_fraction=0.2), model_and_processor=LOADED)
    failed = pl.read_parquet(output / RESULTS_FILE).filter(pl.col("status") == "failed")
    assert failed.select("sample_id", "failure").rows() == [
        ("bench/3", "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")]
    assert (first["conditions"]["clean"]["failed"], first["generated"]) == (1, 7)

    healthy = StandInModel()
    monkeypatch.setattr(generation, "generate_completions", healthy)
    again = evaluate(config(tiny_sft, records, output, max_failed_fraction=0.2), model_and_processor=LOADED)
    assert healthy.asked == ["bench/3"]   # the 7 answered and the missing one are final
    results = pl.read_parquet(output / RESULTS_FILE)
    assert results.group_by("status").len().sort("status").rows() == [("missing", 1), ("ok", 8)]
    assert results.filter(pl.col("sample_id") == "bench/3")["status"].to_list() == ["ok"]
    # The failed row stays on disk (parts are append-only); the newer ok row replaces it.
    assert parts(output).filter(pl.col("sample_id") == "bench/3")["status"].to_list() == ["failed", "ok"]
    assert (again["resumed"], again["generated"], flat_scores(again)["samples/failed"]) == (8, 1, 0)


def test_too_many_failures_fail_the_run_after_writing_them_and_a_rerun_asks_exactly_those(tiny_sft, records,
                                                                                          tmp_path, monkeypatch):
    output = tmp_path / "out"
    errors = {"bench/2": OUT_OF_MEMORY, "bench/5": ConnectionResetError("connection reset by peer")}
    monkeypatch.setattr(generation, "generate_completions", StandInModel(errors))
    with pytest.raises(RuntimeError) as raised:
        evaluate(config(tiny_sft, records, output), model_and_processor=LOADED)   # default: 5% may fail
    assert ("clean: 2 of 8 failed (25.0%), more than max_failed_fraction 5.0%; first errors: "
            "['OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB', "
            "'ConnectionResetError: connection reset by peer']") in str(raised.value)
    written = parts(output)
    assert written.filter(pl.col("status") == "failed")["sample_id"].sort().to_list() == ["bench/2", "bench/5"]

    healthy = StandInModel()
    monkeypatch.setattr(generation, "generate_completions", healthy)
    summary = evaluate(config(tiny_sft, records, output), model_and_processor=LOADED)
    assert healthy.asked == ["bench/2", "bench/5"]
    assert summary["conditions"]["clean"]["failed"] == 0 and summary["conditions"]["clean"]["scored"] == 8


def test_a_model_that_does_not_load_stops_the_run_before_any_sample(tiny_sft, records, tmp_path, monkeypatch):
    output = tmp_path / "out"
    loads, model = [], StandInModel()

    def load_for_generation(path, revision=None):
        loads.append(path)
        raise OSError(f"no model weights in {path}")

    monkeypatch.setattr(generation, "load_for_generation", load_for_generation)
    monkeypatch.setattr(generation, "generate_completions", model)
    with pytest.raises(RuntimeError, match=r"could not be loaded for generation \(OSError: no model weights in"):
        evaluate(config(tiny_sft, records, output))
    assert loads == [str(tiny_sft.model_dir)] and model.asked == []
    assert parts(output)["status"].to_list() == ["missing"]   # no sample was recorded as failed
    assert not (output / RESULTS_FILE).exists()


def test_the_leaderboard_shows_failed_samples_beside_the_score():
    scores = pl.DataFrame(
        [{"model": "base_model", "reference": "base", "benchmark": "synthetic", "metric": m, "value": v}
         for m, v in {"score/overall": 40.0, "samples/failed": 0.0}.items()]
        + [{"model": "viss_r1_model", "reference": "viss", "benchmark": "synthetic", "metric": m, "value": v}
           for m, v in {"score/overall": 63.2, "samples/failed": 2.0, "score/blind": 30.0}.items()])
    table = leaderboard_table(scores, ("base_model", "viss_r1_model"))
    assert table.select("Synthetic", "Synthetic failed", "Synthetic blind").rows() == [(40.0, 0.0, None),
                                                                                     (63.2, 2.0, 30.0)]
    markdown = to_markdown(table).splitlines()
    assert markdown[0].endswith("| Synthetic | Synthetic blind |")   # the count sits in its score's cell
    assert markdown[2].endswith("| 40.0 | – |")
    assert markdown[3].endswith("| 63.2 (2 failed) | 30.0 |")
