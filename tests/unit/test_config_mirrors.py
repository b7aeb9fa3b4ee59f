"""Run configs mirror the library's settings models: one definition per setting, one mechanism."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import dagster as dg
import pytest

import assets.configs as configs
from assets.configs import LibraryConfig, LibraryOverrides
from viss_r1 import embedded
from viss_r1.rewards import RewardSettings
from viss_r1.stages import VIDEO_R1_GRPO

# Fields of a library model that are deliberately not run settings, and why.
FIXED = {
    configs.Sampling: {"frame_factor", "size_factor"},          # the model's patch geometry
    configs.TinyModelConfig: {"min_pixels", "max_pixels"},       # frames arrive already sized
    configs.CotAnnotationsConfig: {"samples", "frame_shards", "output_dir"},   # paths the asset fills in
}
# The embedded run's values (viss_r1.embedded) each mirror takes its defaults from; others: the library's.
EMBEDDED = {
    configs.Sampling: embedded.EMBEDDED_SAMPLING,
    configs.OptimConfig: embedded.EMBEDDED_SFT,
    configs.WarmupOptimConfig: embedded.EMBEDDED_WARMUP,
    configs.GRPOOptimConfig: embedded.EMBEDDED_GRPO,
    configs.RolloutConfig: embedded.EMBEDDED_ROLLOUTS,
    configs.DecodingConfig: embedded.EMBEDDED_EVAL_DECODING,
    configs.EvaluationConfig: embedded.EMBEDDED_EVALUATION,
    configs.TinyModelConfig: embedded.EMBEDDED_TINY_MODEL,
}
REQUIRED = {configs.CotAnnotationsConfig: {"annotator": "a"}}   # settings without a default


def mirrors() -> list[type[LibraryConfig]]:
    return [value for value in vars(configs).values()
            if inspect.isclass(value) and issubclass(value, LibraryConfig) and value is not LibraryConfig]


def test_every_library_mirror_is_listed_here():
    found = set(mirrors())
    assert {configs.Sampling, configs.SyntheticSet, configs.TinyModelConfig, configs.OptimConfig,
            configs.GRPOOptimConfig, configs.VLLMServerConfig, configs.RolloutConfig, configs.CotAnnotationsConfig,
            configs.DecodingConfig, configs.ProbesConfig, configs.EvaluationConfig} <= found
    assert set(FIXED) | set(EMBEDDED) <= found


@pytest.mark.parametrize("mirror", mirrors(), ids=lambda m: m.__name__)
def test_a_mirror_is_its_library_model_with_exactly_its_fields(mirror):
    """A new library field is a run setting at once; nothing but the listed fixed fields is left out."""
    library = mirror.library
    assert library in mirror.__mro__ and issubclass(mirror, dg.Config)   # a class a type checker sees
    assert set(mirror.model_fields) == set(library.model_fields) - FIXED.get(mirror, set())


@pytest.mark.parametrize("mirror", mirrors(), ids=lambda m: m.__name__)
def test_a_mirror_defaults_to_the_embedded_run_or_the_library(mirror):
    expected = EMBEDDED.get(mirror) or mirror.library.model_construct()
    built = mirror(**REQUIRED.get(mirror, {}))
    for name, field in mirror.model_fields.items():
        if field.is_required():
            continue
        value, default = getattr(built, name), getattr(expected, name)
        if isinstance(value, LibraryConfig):   # a nested mirror: the embedded run's, or its own defaults
            value, default = value.model_dump(), (default if mirror in EMBEDDED else type(value)()).model_dump()
        if isinstance(default, tuple):   # Dagster's config has lists where the library has tuples
            default = list(default)
        assert value == default, f"{mirror.__name__}.{name}: {value!r}, expected {default!r}"
    filled = {name: [] if name == "frame_shards" else "x" for name in FIXED.get(mirror, ())
              if mirror.library.model_fields[name].is_required()}   # paths the asset fills in
    assert type(built.to_library(**filled)) is mirror.library


def test_the_library_validators_run_on_the_run_config():
    with pytest.raises(ValueError, match="min_frames 8 > max_frames 4"):
        configs.Sampling(min_frames=8, max_frames=4)
    with pytest.raises(ValueError, match="schedule_horizon_steps"):
        configs.OptimConfig(schedule_horizon_steps=10, schedule_horizon_epochs=1.0)
    with pytest.raises(ValueError, match="greater than 0"):   # a Field constraint of the library
        configs.GRPOOptimConfig(schedule_horizon_steps=0)
    with pytest.raises(ValueError, match="vllm_server.url"):   # the validator sees the nested mirror
        configs.RolloutConfig(use_vllm=True)
    with pytest.raises(ValueError, match="frame_factor"):   # fixed: not a run setting
        configs.Sampling(frame_factor=4)
    assert configs.Sampling().frame_factor == 2   # yet read as the library's value
    with pytest.raises(ValueError, match="max_failed_fraction"):
        configs.EvaluationConfig(max_failed_fraction=2.0)


def test_nested_mirrors_take_run_config_and_give_the_library_model():
    rollouts = configs.RolloutConfig(vllm_server={"url": "http://127.0.0.1:8000"}, use_vllm=True)
    assert isinstance(rollouts.vllm_server, configs.VLLMServerConfig)
    library = rollouts.to_library()
    assert type(library.vllm_server) is configs.VLLMServer and library.vllm_server.url == "http://127.0.0.1:8000"


def test_reward_overrides_cover_every_reward_setting_and_apply_typed():
    assert issubclass(configs.RewardConfig, LibraryOverrides) and configs.RewardConfig.library is RewardSettings
    assert set(configs.RewardConfig.model_fields) == set(RewardSettings.model_fields)
    assert configs.RewardConfig().overrides() == {}
    stage = VIDEO_R1_GRPO.rewards
    applied = configs.RewardConfig(temporal=True, length_window=[100, 200]).apply_to(stage)
    assert isinstance(applied, RewardSettings) and applied.temporal and applied.length_window == (100, 200)
    assert applied.length_bonus == stage.length_bonus   # None keeps the stage's value
    with pytest.raises(ValueError, match="length_window"):   # validated as the library model
        configs.RewardConfig(length_window=[512, 320]).apply_to(stage)


def test_run_configs_are_class_statements_not_generated_at_runtime():
    tree = ast.parse(Path(configs.__file__).read_text())
    calls = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
             for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "create_model" not in calls
    # Every config is bound by a class statement (a type checker sees it), never by assignment.
    assigned = {target.id for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    configs_here = {name for name, value in vars(configs).items()
                    if inspect.isclass(value) and issubclass(value, dg.Config) and value.__module__ == configs.__name__}
    assert not configs_here & assigned


def test_a_mirror_needs_a_library_model_and_known_fixed_fields():
    with pytest.raises(TypeError, match="mirrors no library model"):
        class Orphan(LibraryConfig):
            pass
    with pytest.raises(TypeError, match="not fields of FrameSampling"):
        class Typo(LibraryConfig, configs.FrameSampling, fixed=("frame_facter",)):
            pass
    with pytest.raises(TypeError, match="defaults must be a FrameSampling"):
        class Wrong(LibraryConfig, configs.FrameSampling, defaults=embedded.EMBEDDED_EVAL_DECODING):
            pass
