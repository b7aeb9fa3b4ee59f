"""SSL-CoT annotation killed after its first batch: that batch's judgements are on disk, and the
rerun asks the annotator only for the rest and ends with the files an uninterrupted run writes."""

import json

import polars as pl
import pytest

import viss_r1.annotate as annotate_stage
from viss_r1.annotate import KEPT_FILE, PARTS_DIR, REJECTED_FILE, SUMMARY_FILE, main
from viss_r1.answers import extract_answer
from viss_r1.process import write_config
from viss_r1.train.config import CotAnnotationRunConfig


class Killed(Exception):
    """Stands in for the SIGKILL that would end the process in the middle of annotating."""


@pytest.fixture
def annotator(monkeypatch):
    """The tiny model's real generation, counted per batch; rows with an even problem id get a
    correct completion instead (a random model's are all rejected, and kept records must survive
    too). ``annotator.kill_on_call = n`` makes the n-th batch raise."""

    class Annotator:
        asked: list[list[str]] = []
        kill_on_call: int | None = None

    real = annotate_stage.generator

    def generator(config):
        generate = real(config)

        def counted(rows):
            Annotator.asked.append([row["sample_id"] for row in rows])
            if len(Annotator.asked) == Annotator.kill_on_call:
                raise Killed
            completions = generate(rows)
            return [(f"<think>row {row['problem_id']}</think><transform>{row['transform_letter']}"
                     f"</transform><answer>{extract_answer(row['solution'])}</answer>")
                    if int(row["problem_id"]) % 2 == 0 else completion for row, completion in zip(rows, completions)]

        return counted

    monkeypatch.setattr(annotate_stage, "generator", generator)
    return Annotator


def annotate(tiny_sft, output_dir):
    config = CotAnnotationRunConfig(annotator=str(tiny_sft.model_dir), samples=str(tiny_sft.samples),
                                    frame_shards=tiny_sft.shard_files, output_dir=str(output_dir),
                                    max_new_tokens=6, batch_size=3)
    output_dir.mkdir(parents=True, exist_ok=True)
    main(["--config", str(write_config(config, output_dir / "annotate.yaml"))])


def outputs(folder):
    return (json.loads((folder / KEPT_FILE).read_text()), pl.read_parquet(folder / REJECTED_FILE).to_dicts(),
            json.loads((folder / SUMMARY_FILE).read_text()))


def test_a_killed_annotation_resumes_with_only_the_samples_not_judged(tiny_sft, tmp_path, annotator):
    ids = sorted(row["sample_id"] for row in tiny_sft.rows)    # 8 samples: batches of 3, 3, 2
    annotator.kill_on_call = 2
    with pytest.raises(Killed):
        annotate(tiny_sft, tmp_path / "killed")
    parts = tmp_path / "killed" / PARTS_DIR
    (part,) = parts.glob("*.json")
    assert [entry["sample_id"] for entry in json.loads(part.read_text())] == ids[:3]
    assert not (tmp_path / "killed" / KEPT_FILE).exists()
    # A second part cut short by the kill never got its final name: the rerun must not read it.
    (parts / ".000001.tmp").write_text('[{"sample_id": "' + ids[3])

    annotator.asked.clear()
    annotator.kill_on_call = None
    annotate(tiny_sft, tmp_path / "killed")
    assert annotator.asked == [ids[3:6], ids[6:]]

    annotator.asked.clear()
    annotate(tiny_sft, tmp_path / "uninterrupted")
    assert annotator.asked == [ids[:3], ids[3:6], ids[6:]]
    kept, rejected, summary = outputs(tmp_path / "killed")
    assert (kept, rejected, summary) == outputs(tmp_path / "uninterrupted")
    assert summary == {"samples": 8, "kept": 4, "rejected": 4, "kept_fraction": 0.5, "prompt": "hinted"}
    assert [record["problem_id"] for record in kept] == ["0", "2", "4", "6"]
