"""Code that follows a dependency's private API checks the version it follows: another installed
version stops with an error naming what to port, the pinned one passes."""

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest
from trl import GRPOTrainer

import viss_r1.pinned_versions as pinned_versions
from assets import launcher
from viss_r1.pinned_versions import PinnedVersionError, private_overrides, require_version
from viss_r1.train import video_grpo

REPO = Path(__file__).resolve().parents[2]


def pretend_installed(monkeypatch, versions: dict[str, str | None]) -> None:
    real = pinned_versions.installed_version
    monkeypatch.setattr(pinned_versions, "installed_version",
                        lambda distribution: versions[distribution] if distribution in versions else real(distribution))


def test_private_overrides_are_the_subclass_own_private_methods_its_parent_has():
    class Parent:
        def _step(self): ...
        def _log(self): ...
        def run(self): ...

    class Child(Parent):
        def __init__(self): ...
        def _step(self): ...      # an override of a private method
        def _helper(self): ...    # new, not an override
        def run(self): ...        # public

    assert private_overrides(Child, Parent) == ["_step"]


def test_the_trl_overrides_are_derived_from_the_trainer():
    overrides = private_overrides(video_grpo.VideoGRPOTrainer, GRPOTrainer)
    assert {"_generate_and_score_completions", "_calculate_rewards", "_compute_loss",
            "_get_per_token_logps_and_entropies", "_tokenize_prompts", "_generate_single_turn"} <= set(overrides)
    assert "_log_kl" not in overrides and "__init__" not in overrides   # ours alone; not private


def test_the_installed_trl_is_the_one_the_overrides_follow():
    video_grpo.require_trl_version()


def test_another_trl_stops_the_import_naming_the_overridden_methods(monkeypatch):
    pretend_installed(monkeypatch, {"trl": "1.17.0"})
    with pytest.raises(PinnedVersionError) as raised:
        video_grpo.require_trl_version()
    message = str(raised.value)
    for method in private_overrides(video_grpo.VideoGRPOTrainer, GRPOTrainer):
        assert method in message
    assert "trl 1.16.0" in message and "trl 1.17.0 is installed" in message and "trl==1.16.0" in message
    # At import: the module runs the check itself (executed afresh, under another name).
    spec = importlib.util.spec_from_file_location("video_grpo_under_another_trl", video_grpo.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)   # dataclasses look their module up there
    with pytest.raises(PinnedVersionError, match=r"_compute_loss"):
        spec.loader.exec_module(module)


def test_a_missing_distribution_is_named():
    with pytest.raises(PinnedVersionError, match=r"no-such-distribution is not installed.*no-such-distribution==1\.0"):
        require_version("no-such-distribution", "1.0", "a test", ["_private"])


@pytest.mark.parametrize("distribution, declared", [
    ("trl", video_grpo.TRL_VERSION),
    ("dagster", launcher.DAGSTER_VERSION),
    ("dagster-k8s", launcher.DAGSTER_K8S_VERSION),
])
def test_the_declared_versions_are_the_pins(distribution, declared):
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if re.fullmatch(rf"{re.escape(distribution)}\s*==.*", d)]
    assert pin.split("==")[1].strip() == declared
    assert pinned_versions.installed_version(distribution) == declared
