"""The evaluation process generating on a vLLM server (a stand-in on loopback that parses requests
as vLLM 0.33 does): every condition, concurrent requests, a server that serves another model, a
refused sample, and an outage that stops the run so a rerun resumes."""

from __future__ import annotations

import polars as pl
import pytest
from vllm_stand_in import StandInServer

from viss_r1.evaluate.config import EvalRunConfig, EvalSettings, ProbeSettings
from viss_r1.evaluate.run import PARTS_DIR, RESULTS_FILE, evaluate
from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.vllm_server import ServerError, ServerUnavailable, VLLMServer

RECORD_FIELDS = ("source", "record_index", "problem_id", "problem", "data_type", "problem_type", "options",
                 "process", "solution", "path", "data_source", "extra", "fingerprint", "num_frames")


@pytest.fixture
def records(tiny_sft, tmp_path):
    """The tiny setup's 8 clips as benchmark records, plus one whose video is missing."""
    rows = [{k: row[k] for k in RECORD_FIELDS} | {"source": "bench", "reason": None} for row in tiny_sft.rows]
    rows.append({**rows[0], "record_index": 100, "fingerprint": None, "num_frames": None,
                 "reason": "media quarantined: file not found"})
    path = tmp_path / "records.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


def served(model_path: str) -> list[dict[str, str]]:
    return [{"id": "policy", "root": model_path}]   # vllm serve <path> --served-model-name policy


def config(tiny_sft, records, output, url: str, max_concurrent: int = 4) -> EvalRunConfig:
    # A refused sample is 1 of the 8 samples a condition can ask: accepted here.
    settings = EvalSettings(decoding=Decoding(max_new_tokens=16), max_failed_fraction=0.2,
                            vllm_server=VLLMServer(url=url, max_concurrent=max_concurrent),
                            probes=ProbeSettings(blind=True, transforms=["arrow"], frame_drop=[0.5]))
    return EvalRunConfig(model=str(tiny_sft.model_dir), benchmark="synthetic", records=str(records),
                         frame_shards=tiny_sft.shard_files, output_dir=str(output), settings=settings)


def test_every_condition_is_generated_on_the_server_concurrently(tiny_sft, records, tmp_path):
    with StandInServer(served(str(tiny_sft.model_dir)), delay_s=0.05) as server:
        summary = evaluate(config(tiny_sft, records, tmp_path / "out", server.url))
    results = pl.read_parquet(tmp_path / "out" / RESULTS_FILE)
    counts = {(c, s): n for c, s, n in results.group_by("condition", "status").len().iter_rows()}
    assert counts == {(c, "ok"): 8 for c in ("clean", "blind", "no_video", "transformed", "frame_drop_0.50")} | {
        ("clean", "missing"): 1, ("transformed", "missing"): 1, ("frame_drop_0.50", "missing"): 1,
        ("blind", "missing"): 1, ("no_video", "missing"): 1}
    assert len(server.requests) == 40 and summary["generated"] == 40
    assert all(r.body["model"] == "policy" for r in server.requests)   # the name it serves the checkpoint under
    assert 1 < server.max_in_flight <= 4
    # the stand-in answers with the number of frames it decoded: the frames each condition sends
    ok = results.filter(pl.col("status") == "ok")
    conditions = ("clean", "blind", "no_video", "frame_drop_0.50")
    answers = {c: set(ok.filter(pl.col("condition") == c)["answer"]) for c in conditions}
    assert answers == {"clean": {"16"}, "blind": {"16"}, "no_video": {"0"}, "frame_drop_0.50": {"8"}}
    assert ok["num_tokens"].to_list() == ok["prediction"].str.len_chars().to_list()   # the server's usage count
    transformed = [r for r in server.requests if r.video is not None and "reversed" in " ".join(r.texts).lower()]
    assert len(transformed) == 8   # the ViSS-R1 prompt with the arrow question

    with StandInServer(served(str(tiny_sft.model_dir))) as server:
        again = evaluate(config(tiny_sft, records, tmp_path / "out", server.url))
    assert again["generated"] == 0 and server.requests == []   # all done: nothing asked again


def test_a_server_serving_another_model_is_refused_before_any_request(tiny_sft, records, tmp_path):
    with StandInServer([{"id": "Qwen/Qwen2.5-VL-7B-Instruct", "root": "Qwen/Qwen2.5-VL-7B-Instruct"}]) as server:
        with pytest.raises(ServerError, match=r"serves \['Qwen/Qwen2.5-VL-7B-Instruct'\], not"):
            evaluate(config(tiny_sft, records, tmp_path / "out", server.url))
    assert server.requests == []


def test_an_unreachable_server_is_a_clear_error(tiny_sft, records, tmp_path):
    with StandInServer(served("x")) as server:
        url = server.url   # closed on exit: nothing listens there any more
    with pytest.raises(ServerUnavailable, match="cannot be reached.*vllm serve"):
        evaluate(config(tiny_sft, records, tmp_path / "out", url))


def test_a_refused_sample_fails_alone_and_an_outage_stops_the_run_for_a_resume(tiny_sft, records, tmp_path):
    output = tmp_path / "out"
    # request 2 is refused (400: that sample's failure); from request 12 on the server is down (503)
    with StandInServer(served(str(tiny_sft.model_dir)), refuse={2: 400} | {n: 503 for n in range(12, 20)}) as server:
        with pytest.raises(ServerUnavailable, match="503"):
            evaluate(config(tiny_sft, records, output, server.url, max_concurrent=1))
    kept = pl.concat([pl.read_parquet(p) for p in sorted((output / PARTS_DIR).glob("*.parquet"))])
    assert (kept["status"] == "failed").sum() == 1
    assert "answered 400" in kept.filter(pl.col("status") == "failed")["failure"][0]
    assert not (output / RESULTS_FILE).exists()

    with StandInServer(served(str(tiny_sft.model_dir))) as server:
        summary = evaluate(config(tiny_sft, records, output, server.url, max_concurrent=1))
    results = pl.read_parquet(output / RESULTS_FILE)
    # the outage left no failures, and the refused sample was asked again (the server now answers)
    assert len(results) == 5 * 9 and (results["status"] == "failed").sum() == 0
    answered_before = (kept["status"] == "ok").sum()   # 8 per condition can be asked
    assert summary["resumed"] == len(kept) - 1
    assert len(server.requests) == summary["generated"] == 40 - answered_before
