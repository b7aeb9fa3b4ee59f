"""A finished result survives a failed publish (DESIGN.md "Durability contract": a finished result
is published before anything it came from is deleted). Training and evaluation run through a
stand-in launcher that writes what the real process leaves in its work folder, so each test costs
the small data plane, not a training run; the publish is made to fail once, and the rerun must
publish what the first run finished without launching the process again."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from asset_runs import metadata
from integration.test_evaluation_assets import ASSETS, EVAL_CONFIG
from integration.test_model_assets import run_config as model_run_config
from integration.test_shared_stores import object_store  # noqa: F401  (the S3 endpoint fixture)

import viss_r1.artifacts
import viss_r1.evaluate.run
from assets.models import finished_training
from assets.launcher import StageLauncher
from pipelines.definitions import resources

TRAINING = ["video_sources", "video_catalog", "frame_cache", "pretext_samples", "base_model", "instruct_model",
            "sft_model"]
SFT_LAUNCHES = ["viss_r1.train.sft"] * 2   # the shared warm-up, then the SSL-CoT SFT
EVALUATION = TRAINING[:5] + ["benchmark_synthetic", "eval/base_model/synthetic"]
RESULT = {"global_step": 4, "samples": 36, "train_loss": 1.25, "first_loss": 2.5, "last_loss": 0.5,
          "tokens_seen": 1000, "seconds": 3.0, "resumed_from": None, "losses": [[1, 2.5], [4, 0.5]]}


def run_config(selection: list[str]) -> dict:
    """The model tests' small settings (and the evaluation tests' decoding), for ``selection``."""
    ops = {**model_run_config()["ops"], "eval__base_model__synthetic": {"config": EVAL_CONFIG}}
    ops_selected = {name.replace("/", "__") for name in selection}
    return {"ops": {name: op for name, op in ops.items() if name in ops_selected}}


class InjectedFault(OSError):
    pass


def fail_once(monkeypatch: pytest.MonkeyPatch, owner, name: str, when=lambda *args, **kwargs: True) -> list:
    """Make ``owner.name`` raise InjectedFault the first time ``when(*args)`` holds; returns the
    calls that failed."""
    original = getattr(owner, name)
    failed = []

    def flaky(*args, **kwargs):
        if not failed and when(*args, **kwargs):
            failed.append(args)
            raise InjectedFault(f"{name}: injected failure")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return failed


@pytest.fixture
def launches(monkeypatch) -> list[str]:
    """The stage launcher replaced by one that records the module and writes what the real
    process leaves behind: for training ``final/`` then ``result.json`` (viss_r1.train.runner);
    for evaluation the real ``evaluate`` in process, with a model that always answers A."""
    launched: list[str] = []

    def run(self, context, module: str, config_file: str) -> dict:
        launched.append(module)
        output = Path(yaml.safe_load(Path(config_file).read_text())["output_dir"])
        if module == "viss_r1.evaluate.run":
            from viss_r1.evaluate.config import EvalRunConfig
            from viss_r1.process import load_config
            return viss_r1.evaluate.run.evaluate(load_config(config_file, EvalRunConfig))
        (output / "final").mkdir()
        (output / "final" / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
        (output / "final" / "model.safetensors").write_bytes(b"weights")
        (output / "result.json").write_text(json.dumps(RESULT))
        return RESULT

    def answers_a(config, model_and_processor=None):
        return lambda conversations, media, decoding: [{"text": "<answer>A</answer>", "num_tokens": 3}
                                                       for _ in conversations]

    monkeypatch.setattr(StageLauncher, "run", run)
    monkeypatch.setattr(viss_r1.evaluate.run, "generator", answers_a)
    return launched


def materialize(selection: list[str], raise_on_error: bool = True) -> dg.ExecuteInJobResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(ASSETS, selection=selection, resources=resources(), run_config=run_config(selection),
                              instance=instance, raise_on_error=raise_on_error)


def only(folder: Path) -> Path:
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1, f"{folder}: expected the one work folder of the failed publish, found {entries}"
    return entries[0]


def test_a_failed_publish_of_a_trained_model_is_published_by_the_rerun_without_training(
        isolated_state, monkeypatch, launches):
    failed = fail_once(monkeypatch, viss_r1.artifacts, "_replace_dir",
                       when=lambda staging, target: target.parent.name == "sft_model")
    first = materialize(TRAINING, raise_on_error=False)
    assert not first.success and len(failed) == 1 and launches == SFT_LAUNCHES
    work = only(isolated_state / "work" / "sft_model")
    assert (work / "final" / "model.safetensors").read_bytes() == b"weights"
    assert json.loads((work / "result.json").read_text()) == RESULT
    assert not (isolated_state / "artifacts" / "sft_model" / work.name / "manifest.json").exists()

    sft = metadata(materialize(TRAINING), "sft_model")
    assert launches == SFT_LAUNCHES                                # published, not trained again
    assert sft["cache_key"] == work.name and sft["reused"] is False and sft["global_step"] == 4
    artifact = isolated_state / "artifacts" / "sft_model" / work.name
    assert json.loads((artifact / "manifest.json").read_text())["summary"]["last_loss"] == 0.5
    assert (artifact / "model" / "model.safetensors").read_bytes() == b"weights"
    assert not work.exists()                                       # dropped only once published


def test_a_trained_model_that_finds_a_full_disk_says_so_and_the_rerun_publishes_it_without_training(
        isolated_state, monkeypatch, launches):
    """The store on another file system (no hard links: the model must be copied) with no room for
    the SFT model: the step says how much room it needs, before copying, and keeps the finished run."""
    link = os.link

    def link_unless_sft(source, target):
        if "/sft_model/" in str(target):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return link(source, target)

    free = {"bytes": 3}   # less than the stand-in's 7-byte weights
    disk_usage = shutil.disk_usage
    monkeypatch.setattr(os, "link", link_unless_sft)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: disk_usage(folder)._replace(free=free["bytes"]))
    first = materialize(TRAINING, raise_on_error=False)
    assert not first.success and launches == SFT_LAUNCHES
    (failure,) = [event for event in first.all_events if event.is_step_failure]
    work = only(isolated_state / "work" / "sft_model")
    assert failure.step_key == "sft_model" and failure.step_failure_data.error.message.startswith(
        "dagster._core.definitions.events.Failure: sft_model: cannot publish the trained model: no room to copy "
        f"2 files into {isolated_state / 'artifacts' / 'sft_model'}/.tmp-{work.name}-")
    assert f"0.00 GB free there. The finished run stays in {work}: free space and rerun" in \
        failure.step_failure_data.error.message
    assert (work / "final" / "model.safetensors").read_bytes() == b"weights"
    assert list((isolated_state / "artifacts" / "sft_model").iterdir()) == []   # no staging debris

    free["bytes"] = 10**12                                       # room made
    sft = metadata(materialize(TRAINING), "sft_model")
    assert launches == SFT_LAUNCHES and sft["cache_key"] == work.name and not sft["reused"]
    artifact = isolated_state / "artifacts" / "sft_model" / work.name
    assert (artifact / "model" / "model.safetensors").read_bytes() == b"weights" and not work.exists()


def test_only_a_result_json_beside_a_complete_final_model_counts_as_finished(tmp_path):
    context = dg.build_asset_context()
    (tmp_path / "result.json").write_text(json.dumps(RESULT))
    assert finished_training(context, tmp_path) is None            # final/ missing: belongs to no model
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.json").write_text("{}")
    assert finished_training(context, tmp_path) == RESULT
    (tmp_path / "result.json").write_text(json.dumps(RESULT)[:20])  # killed while writing it
    assert finished_training(context, tmp_path) is None


def test_a_failed_publish_of_an_evaluation_is_published_by_the_rerun_without_evaluating(
        isolated_state, monkeypatch, launches):
    failed = fail_once(monkeypatch, viss_r1.artifacts, "_replace_dir",
                       when=lambda staging, target: target.parent.name == "synthetic")
    first = materialize(EVALUATION, raise_on_error=False)
    assert not first.success and len(failed) == 1 and launches == ["viss_r1.evaluate.run"]
    work = only(isolated_state / "work" / "eval" / "base_model" / "synthetic")
    scores = json.loads((work / "scores.json").read_text())
    assert (work / "results.parquet").is_file() and scores["benchmark"] == "synthetic"

    scored = metadata(materialize(EVALUATION), "eval__base_model__synthetic")
    assert launches == ["viss_r1.evaluate.run"]                    # published, not evaluated again
    assert scored["cache_key"] == work.name and scored["reused"] is False
    assert scored["score"] == scores["conditions"]["clean"]["overall"]
    artifact = isolated_state / "artifacts" / "eval" / "base_model" / "synthetic" / work.name
    assert json.loads((artifact / "scores.json").read_text()) == scores and (artifact / "manifest.json").is_file()
    assert not work.exists()


def test_an_upload_to_s3_that_fails_midway_leaves_no_manifest_and_the_rerun_publishes(
        isolated_state, monkeypatch, launches, object_store):  # noqa: F811
    import s3fs

    bucket_fs, bucket = object_store
    monkeypatch.setenv("VISS_R1_ARTIFACT_ROOT", f"s3://{bucket}/artifacts")
    failed = fail_once(monkeypatch, s3fs.S3FileSystem, "put_file",
                       when=lambda fs, local, remote, **kwargs: "/sft_model/" in remote
                       and remote.endswith("/model/model.safetensors"))
    first = materialize(TRAINING, raise_on_error=False)
    assert not first.success and len(failed) == 1 and launches == SFT_LAUNCHES
    work = only(isolated_state / "work" / "sft_model")
    artifact = f"{bucket}/artifacts/sft_model/{work.name}"
    bucket_fs.invalidate_cache()
    assert bucket_fs.exists(f"{artifact}/model/config.json")       # uploaded before the failure
    assert not bucket_fs.exists(f"{artifact}/manifest.json")       # so not complete
    assert (work / "final" / "model.safetensors").read_bytes() == b"weights"

    sft = metadata(materialize(TRAINING), "sft_model")
    assert launches == SFT_LAUNCHES and sft["cache_key"] == work.name and not sft["reused"]
    bucket_fs.invalidate_cache()
    manifest = json.loads(bucket_fs.cat_file(f"{artifact}/manifest.json"))
    assert manifest["files"] == ["model/config.json", "model/model.safetensors", "result.json"]
    assert bucket_fs.cat_file(f"{artifact}/model/model.safetensors") == b"weights"
    assert not work.exists()
