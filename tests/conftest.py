"""Shared fixtures: small media made on the spot (no downloads), isolated state folders."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

# Training and evaluation retry on failure by default (assets/retries.py). Tests that make a stage
# fail expect the failure itself, so the suite's Definitions retry nothing unless a test asks
# (tests/faults/test_stage_retries.py builds its own); set before any test module builds them.
os.environ.setdefault("VISS_R1_STAGE_RETRIES", "0")


# Test files that share a session fixture, by group: under pytest-xdist they go to one worker
# together, so the fixture is built once (the main job's run, tests/e2e/conftest.py).
SHARED_SESSION_FIXTURES = {
    "tests/e2e/test_cli_job.py": "embedded_job",
    "tests/e2e/test_ui_browser.py": "embedded_job",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile`` (``make test``: two pytest-xdist workers) sends each test file to one
    worker whole, so its module fixtures are built once; here the files of
    ``SHARED_SESSION_FIXTURES`` also go together. (xdist's own ``loadgroup`` marks do nothing under
    pytest 9.2: pytest-dev/pytest-xdist#1386.) Files keep the collection order, which starts with
    the longest (tests/e2e)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFileAndSharedFixture(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return SHARED_SESSION_FIXTURES.get(file, file)

    return ByFileAndSharedFixture(config, log)


SESSION_START = time.time()


def pytest_terminal_summary(terminalreporter) -> None:
    """Lists the browser test's screenshots of this session (tests/e2e/test_ui_browser.py). Here,
    not in tests/e2e: under pytest-xdist only this conftest is loaded where the summary is written,
    and the test ran in a worker, so they are found in their folder."""
    from e2e.embedded_job import UI_ARTIFACTS

    taken = sorted(path for path in UI_ARTIFACTS.glob("*.png") if path.stat().st_mtime >= SESSION_START)
    if taken:
        terminalreporter.section("browser test screenshots")
        for path in taken:
            terminalreporter.write_line(str(path))


def write_mp4(path: Path, num_frames: int, fps: int = 8, size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    """A small H.264 clip whose frames differ (a bright column sweeping right)."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"threads": "1"}
        base = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        for t in range(num_frames):
            frame = base.copy()
            column = int(t * (width - 4) / max(num_frames - 1, 1))
            frame[:, column:column + 4] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def record(problem_id: int, path: str, **overrides) -> dict:
    """A valid Video-R1 record (multiple choice) pointing at ``path``."""
    base = {
        "problem_id": problem_id,
        "problem": "Which way does the bright bar move?",
        "data_type": "video",
        "problem_type": "multiple choice",
        "options": ["A. left", "B. right"],
        "process": "<think>The bar starts left and ends right.</think>",
        "solution": "<answer>B</answer>",
        "path": path,
        "data_source": "test",
    }
    base.update(overrides)
    return base


@pytest.fixture
def bad_media_root(tmp_path: Path) -> tuple[Path, Path]:
    """A media root with good clips and every kind of bad input the pipeline must quarantine,
    plus the annotation file that references them. Returns (annotations, media_root)."""
    root = tmp_path / "media"
    for i in range(3):
        write_mp4(root / f"good_{i}.mp4", num_frames=24, seed=i)
    (root / "zero.mp4").write_bytes(b"")
    full = write_mp4(root / "full.mp4", num_frames=24, seed=9).read_bytes()
    (root / "truncated.mp4").write_bytes(full[: len(full) // 3])
    (root / "text.mp4").write_text("this is not a video\n" * 50)
    write_mp4(root / "one_frame.mp4", num_frames=1)
    (tmp_path / "outside.mp4").write_bytes(full)
    records = [record(i, f"./good_{i}.mp4") for i in range(3)] + [
        record(10, "./zero.mp4"),
        record(11, "./truncated.mp4"),
        record(12, "./text.mp4"),
        record(13, "./one_frame.mp4"),
        record(14, "./missing.mp4"),
        record(15, "../outside.mp4"),
        {k: v for k, v in record(16, "./good_0.mp4").items() if k != "solution"},   # missing field
        record(17, "./good_1.mp4", options="A. left"),                               # wrong type
        record(18, "./good_2.mp4", problem_type="essay"),                            # unknown type
    ]
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps(records))
    return annotations, root


@pytest.fixture
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run state (artifacts, MLflow, Dagster home) in a temp folder, never the user's."""
    state = tmp_path / "state"
    (state / "dagster_home").mkdir(parents=True)
    monkeypatch.setenv("VISS_R1_STATE_DIR", str(state))
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("VISS_R1_ARTIFACT_ROOT", raising=False)
    return state


@dataclass
class TinySFTSetup:
    """A tiny checkpoint plus SFT samples whose clips sit in a real frame-cache shard."""

    model_dir: Path
    samples: Path
    shard_files: list[Path]
    rows: list[dict]


@pytest.fixture(scope="session")
def tiny_sft(tmp_path_factory: pytest.TempPathFactory) -> TinySFTSetup:
    from viss_r1.data.frame_cache import SHARD_FILE, ClipToCache, build_shard
    from viss_r1.data.pretext_samples import PretextSettings, PretextUse, build_use_table
    from viss_r1.data.tables import write_table
    from viss_r1.embedded import EMBEDDED_SAMPLING
    from viss_r1.modeling.corpus import tokenizer_corpus
    from viss_r1.modeling.tiny import TinyModelSpec, build_tiny_model
    from viss_r1.video.encoding import FrameEncoding

    root = tmp_path_factory.mktemp("tiny_sft")
    clips, records = [], []
    for i in range(8):
        write_mp4(root / "media" / f"v{i}.mp4", num_frames=32, fps=8, size=(64, 48), seed=i)
        fingerprint = f"{i:024x}"
        clips.append(ClipToCache(fingerprint, f"v{i}.mp4", str(root / "media"), "video"))
        records.append({**record(i, f"./v{i}.mp4"), "problem_id": str(i), "source": "train", "split": "train",
                        "record_index": i, "extra": "{}", "fingerprint": fingerprint, "num_frames": 16,
                        "trans_opt": None, "trans_ans": None})
    (root / "shard").mkdir()
    summary = build_shard(clips, EMBEDDED_SAMPLING, FrameEncoding(), root / "shard")
    assert summary["clips"] == 8, summary
    sft_use = PretextUse("cot", ("video",), require_process=True)
    rows, quarantine = build_use_table(records, sft_use, PretextSettings(seed=0))
    assert len(rows) == 8 and not quarantine
    samples = root / "cot.parquet"
    write_table(rows, samples, "pretext_samples")
    spec = TinyModelSpec(hidden_size=64, intermediate_size=128, num_layers=2, vision_depth=2, vision_hidden_size=32,
                         vision_heads=2)
    build_tiny_model(root / "model", tokenizer_corpus(rows), spec)
    return TinySFTSetup(root / "model", samples, [root / "shard" / SHARD_FILE], rows)


def _kill_after_checkpoint(command: list[str], output_dir: Path, step: int, timeout: float = 300) -> int:
    """Start a training process, SIGKILL it once ``checkpoint-<step>`` is complete, and return
    the newest complete checkpoint's step (the one a rerun must resume from)."""
    import signal
    import subprocess
    import time

    checkpoints = output_dir / "checkpoints"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not (checkpoints / f"checkpoint-{step}" / "trainer_state.json").is_file():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, f"no checkpoint-{step} within {timeout:.0f} s"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (output_dir / "result.json").exists()
    return max(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*")
               if (p / "trainer_state.json").is_file())


@pytest.fixture
def kill_after_checkpoint():
    """``kill_after_checkpoint(command, output_dir, step) -> killed_at`` (kill-and-resume tests)."""
    return _kill_after_checkpoint
