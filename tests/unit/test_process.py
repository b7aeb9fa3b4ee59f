"""What every stage process shares (``viss_r1.process``): a strict run config read back exactly as
written, an unknown field refused with the file and the field named, and the command line that
parses the config, runs the stage and reports to Dagster Pipes."""

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

import viss_r1.process as process
from viss_r1.code_versions import stage_modules
from viss_r1.process import StrictModel, command_line, load_config, write_config


class Inner(StrictModel):
    rate: float = 0.5


class RunConfig(StrictModel):
    model: str
    shards: list[Path]
    inner: Inner = Field(default_factory=Inner)
    note: str | None = None


CONFIG = RunConfig(model="tiny", shards=[Path("a/0.parquet"), Path("b/1.parquet")], inner=Inner(rate=0.25))


def test_a_written_config_loads_back_equal(tmp_path):
    assert load_config(write_config(CONFIG, tmp_path / "run.yaml"), RunConfig) == CONFIG
    (tmp_path / "run.json").write_text(json.dumps(CONFIG.model_dump(mode="json")))
    assert load_config(tmp_path / "run.json", RunConfig) == CONFIG


def test_an_unknown_field_is_refused_naming_the_file_and_the_field(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: tiny\nshards: []\ninner:\n  rte: 0.1\n")   # a misspelt rate
    with pytest.raises(ValueError) as refused:
        load_config(path, RunConfig)
    message = str(refused.value)
    assert f"{path}: not a valid RunConfig" in message and "['inner.rte']" in message
    assert "fix their spelling or remove them" in message


def test_a_missing_field_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: tiny\n")
    with pytest.raises(ValueError, match=r"(?s)run\.yaml: not a valid RunConfig\n.*shards\n  Field required"):
        load_config(path, RunConfig)


def test_the_command_line_runs_the_stage_on_the_parsed_config(tmp_path):
    seen = []
    config_file = write_config(CONFIG, tmp_path / "run.yaml")
    # Arguments Pipes may append are not the stage's business.
    command_line("a stage", RunConfig, lambda config, pipes: seen.append((config, pipes)) or {},
                 argv=["--config", str(config_file), "--extra", "x"])
    assert seen == [(CONFIG, None)]   # not launched by Dagster: no Pipes session
    with pytest.raises(SystemExit):
        command_line("a stage", RunConfig, lambda config, pipes: {}, argv=[])


def test_under_pipes_the_result_is_reported_without_its_curve_and_unset_values(tmp_path, monkeypatch):
    class FakePipes:
        reported = None

        def report_asset_materialization(self, metadata):
            self.reported = metadata

    pipes = FakePipes()
    monkeypatch.setattr(process, "pipes_session", lambda: contextlib.nullcontext(pipes))
    result = {"loss": 0.5, "losses": [[1, 0.7], [2, 0.5]], "peak_gpu_memory_gb": None}
    command_line("a stage", RunConfig, lambda config, pipes: result, curve="losses",
                 argv=["--config", str(write_config(CONFIG, tmp_path / "run.yaml"))])
    assert pipes.reported == {"loss": 0.5}


def test_it_is_the_bottom_of_the_library_and_loads_neither_torch_nor_dagster():
    assert stage_modules("viss_r1.process") == ["viss_r1", "viss_r1.process"]
    loaded = subprocess.run(
        [sys.executable, "-c", "import json, sys, viss_r1.process as p\n"
                               "with p.pipes_session(): pass\n"
                               "p.end_distributed()\n"
                               "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2]).stdout
    loaded = json.loads(loaded)
    assert "torch" not in loaded and "dagster" not in loaded and "dagster_pipes" in loaded
