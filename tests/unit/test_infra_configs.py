"""The deployment files in infra/ are accepted by the tools that read them, on a CPU machine:
DeepSpeed's config classes, the HF Trainer's filling of "auto" values, accelerate's config loader
and launch environment, our run-config models and the Dagster job. The 7B files carry the SSL-CoT
SFT recipe of METHOD.md §6 (lr 1e-6, 1 epoch, effective batch 16, bf16, ZeRO-2, 32 frames)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml

from viss_r1.process import load_config
from viss_r1.stages import PRETEXT_GRPO_STAGE1, SSL_COT_SFT, VIDEO_R1_GRPO, VISS_R1_GRPO
from viss_r1.train.config import OptimSettings, SFTRunConfig

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
DEEPSPEED_FILES = {"zero2.json": 2, "zero3.json": 3}
ACCELERATE_FILES = ("1gpu.yaml", "8gpu_zero2.yaml", "8gpu_zero3.yaml", "multinode_zero3.yaml")
SFT_7B = INFRA / "configs" / "viss_r1_qwen2_5_vl_7b.yaml"  # SFT then ViSS-R1 RL
SFT_STANDALONE = INFRA / "configs" / "sft_standalone_example.yaml"
# Dagster run configs (and overlays that set only resources), as opposed to the standalone
# training configs beside them.
DAGSTER_RUN_CONFIGS = sorted(p.name for p in (INFRA / "configs").glob("*.yaml")
                             if {"ops", "resources"} & set(yaml.safe_load(p.read_text())))
QWEN2_5_VL_7B_HIDDEN_SIZE = 3584   # what the Trainer derives the "auto" bucket sizes from


def read(path: Path):
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def accelerate_config(name: str):
    from accelerate.commands.config.config_args import load_config_from_file

    return load_config_from_file(str(INFRA / "accelerate" / name))   # ClusterConfig; unknown keys raise


def launcher_accelerate_file(run_config: dict) -> str:
    args = run_config["resources"]["stage_launcher"]["config"]["launcher_args"]
    return args[args.index("--config_file") + 1]


def trainer_args(optim: OptimSettings, world_size: int) -> SimpleNamespace:
    """What HfTrainerDeepSpeedConfig reads from TrainingArguments, with our settings."""
    return SimpleNamespace(
        world_size=world_size, per_device_train_batch_size=optim.per_device_train_batch_size,
        gradient_accumulation_steps=optim.gradient_accumulation_steps, max_grad_norm=optim.max_grad_norm,
        learning_rate=optim.learning_rate, weight_decay=optim.weight_decay, adam_beta1=0.9, adam_beta2=0.999,
        adam_epsilon=1e-8, save_on_each_node=False, fp16=False, fp16_full_eval=False, bf16=optim.bf16,
        bf16_full_eval=False, get_warmup_steps=lambda steps: 0)


@pytest.fixture
def hf_deepspeed():
    """HfDeepSpeedConfig registers itself globally (from_pretrained then thinks ZeRO-3 is on): unset
    it after the test so no later test loads a model under deepspeed.zero.Init."""
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig, unset_hf_deepspeed_config

    yield HfTrainerDeepSpeedConfig
    unset_hf_deepspeed_config()


def test_every_file_parses_and_the_expected_ones_exist():
    expected = {INFRA / "deepspeed" / name for name in DEEPSPEED_FILES} | {
        INFRA / "accelerate" / name for name in ACCELERATE_FILES} | {SFT_7B, SFT_STANDALONE}
    found = {p for p in INFRA.rglob("*") if p.suffix in (".json", ".yaml", ".yml")}
    assert expected <= found
    for path in found:
        assert isinstance(read(path), dict), path
    for path in expected:
        assert not re.search(r"/home/|/Users/|~/", path.read_text()), f"{path}: a home-directory path"


@pytest.mark.parametrize("name", sorted(DEEPSPEED_FILES))
def test_deepspeed_keys_exist_and_auto_only_where_deepspeed_tolerates_it(name):
    import deepspeed.runtime.constants as runtime_constants
    import deepspeed.runtime.precision_config as precision_config
    import deepspeed.runtime.zero.config as zero_config
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig

    config = read(INFRA / "deepspeed" / name)
    # DeepSpeedConfig ignores unknown top-level keys silently: check them against its key constants.
    known = {value for module in (runtime_constants, precision_config, zero_config)
             for key, value in vars(module).items() if key.isupper() and isinstance(value, str)}
    assert set(config) <= known, set(config) - known
    assert "optimizer" not in config and "scheduler" not in config   # the Trainer builds both
    # The zero section: every key a field (extra keys are rejected); "auto" entries are dropped in
    # DeepSpeed's non-strict mode, exactly what happens before the Trainer fills them.
    zero = DeepSpeedZeroConfig(**config["zero_optimization"])
    assert zero.stage == DEEPSPEED_FILES[name]
    assert zero.overlap_comm and zero.contiguous_gradients
    assert config["zero_optimization"]["reduce_bucket_size"] == "auto"
    if zero.stage == 3:
        assert zero.gather_16bit_weights_on_model_save   # save_pretrained writes full weights
        assert config["zero_optimization"]["stage3_param_persistence_threshold"] == "auto"


@pytest.mark.parametrize("name", sorted(DEEPSPEED_FILES))
def test_trainer_fills_every_auto_and_deepspeed_accepts_the_result(name, hf_deepspeed):
    from deepspeed.runtime import config as ds_config
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig

    optim = OptimSettings.model_validate(read(SFT_7B)["ops"]["sft_model"]["config"]["training"])
    args = trainer_args(optim, world_size=8)
    model = SimpleNamespace(config=SimpleNamespace(text_config=SimpleNamespace(hidden_size=QWEN2_5_VL_7B_HIDDEN_SIZE)))
    hf = hf_deepspeed(str(INFRA / "deepspeed" / name))
    hf.trainer_config_process(args)
    hf.trainer_config_finalize(args, model, num_training_steps=1000)   # raises on a mismatch
    resolved = hf.config
    assert "auto" not in json.dumps(resolved), resolved   # every "auto" sits where the Trainer fills it
    DeepSpeedZeroConfig(strict=True, **resolved["zero_optimization"])

    with mock.patch.object(ds_config.dist, "get_world_size", return_value=8), \
            mock.patch.object(ds_config.dist, "get_rank", return_value=0):
        checked = ds_config.DeepSpeedConfig(resolved)   # also asserts batch = micro × accumulation × world
    assert checked.train_batch_size == 16
    assert (checked.train_micro_batch_size_per_gpu, checked.gradient_accumulation_steps) == (1, 2)
    assert checked.gradient_clipping == optim.max_grad_norm
    assert checked.bfloat16_config.enabled and not checked.float16_config.enabled
    assert checked.zero_optimization_stage == DEEPSPEED_FILES[name]
    assert resolved["zero_optimization"]["reduce_bucket_size"] == QWEN2_5_VL_7B_HIDDEN_SIZE ** 2


@pytest.mark.parametrize("name", ACCELERATE_FILES)
def test_accelerate_files_load_and_name_existing_deepspeed_files(name):
    from accelerate.commands.launch import launch_command_parser
    from accelerate.utils import DistributedType

    config = accelerate_config(name)
    if name == "1gpu.yaml":
        assert config.distributed_type == DistributedType.NO and config.num_processes == 1
        return
    assert config.distributed_type == DistributedType.DEEPSPEED
    # ClusterConfig does not check the deepspeed_config keys; launch copies each onto its options.
    options = {action.dest for action in launch_command_parser()._actions}
    assert set(config.deepspeed_config) <= options, set(config.deepspeed_config) - options
    json_file = config.deepspeed_config["deepspeed_config_file"]
    assert not Path(json_file).is_absolute() and (ROOT / json_file).is_file()
    stage = DEEPSPEED_FILES[Path(json_file).name]
    assert ("zero3" in name) == (stage == 3)
    assert config.num_processes == 8 * config.num_machines


@pytest.mark.parametrize("name", ACCELERATE_FILES)
def test_launch_environment_is_accepted_by_the_training_process(name, hf_deepspeed, monkeypatch):
    """What `accelerate launch --config_file FILE` exports, read back the way TrainingArguments
    does (DeepSpeedPlugin). Catches e.g. a mixed_precision key next to a deepspeed_config_file,
    which the launched process refuses."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_simple_launcher_cmd_env

    monkeypatch.chdir(ROOT)
    per_node = ["--machine_rank", "1", "--main_process_ip", "127.0.0.1"] if "multinode" in name else []
    args = launch_command_parser().parse_args(
        ["--config_file", f"infra/accelerate/{name}", *per_node, "-m", "viss_r1.train.sft", "--config", "x.yaml"])
    args, defaults, mixed_precision_from_file = _validate_launch_command(args)   # as launch_command does
    if not args.use_deepspeed:
        _, env = prepare_simple_launcher_cmd_env(args)
        assert env["ACCELERATE_MIXED_PRECISION"] == "no"   # precision: the run config's training.bf16
        return
    args.deepspeed_fields_from_accelerate_config = ",".join(
        [*defaults.deepspeed_config, *(["mixed_precision"] if mixed_precision_from_file else [])])
    _, env = prepare_deepspeed_cmd_env(args)
    with mock.patch.dict(os.environ, env):
        json_file = env["ACCELERATE_DEEPSPEED_CONFIG_FILE"]
        given = DeepSpeedPlugin(hf_ds_config=hf_deepspeed(json_file))   # training.deepspeed set
        from_env = DeepSpeedPlugin()                                       # training.deepspeed null
    assert given.zero_stage == from_env.zero_stage == DEEPSPEED_FILES[Path(json_file).name]
    assert given.zero3_init_flag == (given.zero_stage == 3)


def test_standalone_example_is_a_valid_sft_run_config():
    config = load_config(SFT_STANDALONE, SFTRunConfig)
    assert config.stage == SSL_COT_SFT and config.mlflow is None
    dagster_training = OptimSettings.model_validate(read(SFT_7B)["ops"]["sft_model"]["config"]["training"])
    assert config.training == dagster_training   # by hand or through Dagster: one recipe
    assert config.training.deepspeed == accelerate_config("8gpu_zero2.yaml").deepspeed_config["deepspeed_config_file"]


def test_7b_sft_stage_carries_the_recipe():
    run_config = read(SFT_7B)
    training = run_config["ops"]["sft_model"]["config"]["training"]
    assert set(training) == set(OptimSettings.model_fields)   # every field spelled out
    optim = OptimSettings.model_validate(training)
    launcher = run_config["resources"]["stage_launcher"]["config"]
    assert launcher["launcher"] == "accelerate"
    accelerate = accelerate_config(Path(launcher_accelerate_file(run_config)).name)
    assert Path(launcher_accelerate_file(run_config)) == Path("infra/accelerate/8gpu_zero2.yaml")
    assert accelerate.num_processes * optim.per_device_train_batch_size * optim.gradient_accumulation_steps == 16
    assert optim.learning_rate == 1e-6 and optim.num_train_epochs == 1 and optim.max_steps == -1
    assert optim.bf16 and optim.activation_checkpointing
    assert optim.deepspeed == accelerate.deepspeed_config["deepspeed_config_file"]
    assert DEEPSPEED_FILES[Path(optim.deepspeed).name] == 2
    assert run_config["ops"]["base_model"]["config"]["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    # The data plane as the Video-R1 data file has it (32 frames at 128·28·28 px), on the SSL-CoT file.
    data = read(INFRA / "configs" / "video_r1_data.yaml")["ops"]
    assert run_config["ops"]["frame_cache"] == data["frame_cache"]
    assert run_config["ops"]["frame_cache"]["config"]["sampling"]["max_frames"] == 32
    assert [s["name"] for s in run_config["ops"]["video_sources"]["config"]["sources"]] == ["sslcot", "video_r1_260k"]
    uses = run_config["ops"]["pretext_samples"]["config"]
    assert uses["cot"]["sources"] == ["sslcot"] and uses["video_questions"]["sources"] == ["video_r1_260k"]


def test_7b_viss_r1_rl_config_carries_the_recipe():
    """8 GPUs × 1 prompt × 8 rollouts, lr 1e-6 cosine, wd 0.01, clip 5, ZeRO-3 through its own
    accelerate file, the release's rollouts, no KL term (METHOD.md §5, §6)."""
    from viss_r1.train.config import GRPOSettings

    run_config = read(SFT_7B)
    rl = run_config["ops"]["viss_r1_model"]["config"]
    assert set(rl["training"]) == set(OptimSettings.model_fields) and set(rl["rollouts"]) == set(GRPOSettings.model_fields)
    optim, rollouts = OptimSettings.model_validate(rl["training"]), GRPOSettings.model_validate(rl["rollouts"])
    launcher = run_config["resources"]["stage_launcher"]["config"]
    zero3 = launcher["stage_launcher_args"]["viss_r1.train.grpo"][1]
    assert Path(zero3) == Path("infra/accelerate/8gpu_zero3.yaml")
    accelerate = accelerate_config(Path(zero3).name)
    assert accelerate.num_processes * optim.per_device_train_batch_size == 8 and rollouts.num_generations == 8
    assert optim.deepspeed == accelerate.deepspeed_config["deepspeed_config_file"]
    assert DEEPSPEED_FILES[Path(optim.deepspeed).name] == 3
    assert (optim.learning_rate, optim.lr_scheduler_type, optim.weight_decay, optim.max_grad_norm) == (1e-6, "cosine", 0.01, 5.0)
    assert optim.max_steps == 2000 and optim.bf16
    assert (rollouts.temperature, rollouts.top_p, rollouts.max_completion_length) == (1.0, 0.95, 768)
    assert rollouts.loss_type == "grpo" and rollouts.beta == 0.04 and not rollouts.kl_penalised(VISS_R1_GRPO)


# Run configs used with another job, and the files their documented command merges before them.
RUN_CONFIG_JOBS = {"pretext_grpo_qwen2_5_vl_7b.yaml": ("pretext_grpo", ["video_r1_data.yaml"]),
                   "viss_r1_qwen2_5_vl_7b.yaml": ("viss_r1_arm", []),
                   "video_r1_baseline_qwen2_5_vl_7b.yaml": ("video_r1_baseline", []),
                   "evaluate_qwen2_5_vl_7b.yaml": ("evaluate", []),
                   "evaluate_on_vllm.yaml": ("evaluate", ["evaluate_qwen2_5_vl_7b.yaml"])}


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """(file, job, -c files) of every `dagster job execute` command a run config's comments give."""
    found = []
    for name in DAGSTER_RUN_CONFIGS:
        text = re.sub(r"\s*\\\n#\s*", " ", (INFRA / "configs" / name).read_text())
        for job, files in re.findall(r"dagster job execute -j (\S+)((?: -c \S+)+)", text):
            found.append((name, job, [Path(f).name for f in files.split(" -c ") if f.strip()]))
    return found


@pytest.mark.parametrize("name,job,files", documented_commands())
def test_documented_commands_validate(name, job, files):
    """The command each run config documents, with every file it merges, is valid for its job."""
    from pipelines import defs

    config: dict = {}
    for file in files:
        config = deep_merge(config, read(INFRA / "configs" / file))
    dg_validate(defs.resolve_job_def(job), config)


def dg_validate(job, config: dict) -> None:
    import dagster as dg

    dg.validate_run_config(job, config)   # raises DagsterInvalidConfigError


def deep_merge(base: dict, extra: dict) -> dict:
    """Dagster's merge of several -c files: dictionaries key by key, anything else replaced."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


@pytest.mark.parametrize("name", DAGSTER_RUN_CONFIGS)
def test_dagster_run_configs_validate_against_the_job(name):
    import dagster as dg

    from pipelines.definitions import defs

    job_name, before = RUN_CONFIG_JOBS.get(name, ("full_viss_r1", []))
    config: dict = {}
    for file in [*before, name]:
        config = deep_merge(config, read(INFRA / "configs" / file))
    dg.validate_run_config(defs.resolve_job_def(job_name), config)   # raises DagsterInvalidConfigError


def test_7b_pretext_grpo_config_refines_the_data_file():
    """16 frames instead of 32, β 0.04 in the loss for both stages, ZeRO-3 for every GRPO process."""
    from viss_r1.train.config import GRPOSettings

    config = deep_merge(read(INFRA / "configs" / "video_r1_data.yaml"), read(INFRA / "configs" / "pretext_grpo_qwen2_5_vl_7b.yaml"))
    assert config["ops"]["frame_cache"]["config"]["sampling"]["max_frames"] == 16
    assert config["ops"]["frame_cache"]["config"]["sampling"]["fps"] == 2.0   # the rest from the data file
    for stage, steps in (("pretext_grpo_model", 1200), ("pretext_grpo_stage2_model", 1000)):
        rl = config["ops"][stage]["config"]
        optim, rollouts = OptimSettings.model_validate(rl["training"]), GRPOSettings.model_validate(rl["rollouts"])
        assert optim.max_steps == steps and DEEPSPEED_FILES[Path(optim.deepspeed).name] == 3
        assert rollouts.beta == 0.04 and rollouts.kl_penalised(PRETEXT_GRPO_STAGE1) and rollouts.num_generations == 8
    launcher = config["resources"]["stage_launcher"]["config"]
    assert launcher["launcher_args"] == ["--config_file", "infra/accelerate/8gpu_zero3.yaml"]


def test_min_frames_refusals_follow_the_sampling_mode():
    """In num_frames mode a clip shorter than asked gives all its frames (as the release
    evaluates it), so the probe may keep anything from one temporal patch (2 frames) up; its
    min_frames and max_frames no longer set what a clip needs. In fps mode min_frames still does."""
    import dagster as dg

    from assets.configs import BenchmarkConfig, check_data_plane_min_frames

    fixed = {"num_frames": 32, "min_frames": 32, "max_frames": 32}
    assert BenchmarkConfig(min_frames=2, sampling=fixed).min_frames == 2
    with pytest.raises(ValueError, match=r"min_frames 1 is below 2, the frame factor sampling\.num_frames 32 needs "
                                         r"at least: .* Raise min_frames to at least 2\."):
        BenchmarkConfig(min_frames=1, sampling=fixed)
    with pytest.raises(ValueError, match=r"min_frames 2 is below sampling\.min_frames 32"):
        BenchmarkConfig(min_frames=2, sampling={**fixed, "num_frames": None})

    def run_config(catalog_min: int, sampling: dict) -> dict:
        return {"ops": {"video_catalog": {"config": {"min_frames": catalog_min}},
                        "frame_cache": {"config": {"sampling": sampling}}}}

    check_data_plane_min_frames(run_config(2, {"num_frames": 16, "min_frames": 6, "max_frames": 8}))
    with pytest.raises(dg.Failure, match=r"video_catalog\.config\.min_frames 1 is below 2, the frame factor "
                                         r"frame_cache\.config\.sampling\.num_frames 16 needs at least"):
        check_data_plane_min_frames(run_config(1, {"num_frames": 16}))


VIDEO_R1_7B = INFRA / "configs" / "video_r1_baseline_qwen2_5_vl_7b.yaml"


def test_7b_video_r1_baseline_carries_video_r1s_recipe():
    """Video-R1's scripts: plain-CoT SFT on Video-R1-COT-165k (lr 1e-6, 1 epoch, batch 8, ZeRO-2),
    then GRPO with T-GRPO on Video-R1-260k (4 prompts × 8 rollouts a step, 1,200 steps, lr 1e-6
    cosine, wd 0.01, clip 5, β 0.04 in the loss, 768-token completions), 16 frames at 128·28·28 px."""
    import dagster as dg

    from pipelines.definitions import defs
    from viss_r1.rewards import RewardSettings, stage_rewards
    from viss_r1.train.config import GRPOSettings

    run_config = read(VIDEO_R1_7B)
    assert dg.validate_run_config(defs.resolve_job_def("video_r1_baseline"), run_config)
    ops = run_config["ops"]
    sampling = ops["frame_cache"]["config"]["sampling"]
    assert (sampling["fps"], sampling["min_frames"], sampling["max_frames"]) == (2.0, 4, 16)
    assert sampling["min_pixels"] == sampling["max_pixels"] == 128 * 28 * 28
    assert ops["video_catalog"]["config"]["min_frames"] == sampling["min_frames"]
    assert ops["base_model"]["config"] == {"model": "Qwen/Qwen2.5-VL-7B-Instruct",
                                           "revision": "cc594898137f460bfe9f0759e9844b3ce807cfb5"}
    sources = {s["name"]: Path(s["annotations"]).name for s in ops["video_sources"]["config"]["sources"]}
    assert sources == {"video_r1_cot_165k": "Video-R1-COT-165k.json", "video_r1_260k": "Video-R1-260k.json"}
    uses = ops["pretext_samples"]["config"]
    assert uses["cot"] == {"sources": ["video_r1_cot_165k"], "draws": 1}
    assert uses[VIDEO_R1_GRPO.samples]["sources"] == ["video_r1_260k"]   # the table grpo_baseline_model reads

    launcher = run_config["resources"]["stage_launcher"]["config"]
    assert launcher["launcher"] == "accelerate"
    sft = OptimSettings.model_validate(ops["cot_sft_model"]["config"]["training"])
    sft_processes = accelerate_config(Path(launcher_accelerate_file(run_config)).name).num_processes
    assert sft_processes * sft.per_device_train_batch_size * sft.gradient_accumulation_steps == 8
    assert (sft.learning_rate, sft.num_train_epochs, sft.max_steps, sft.max_grad_norm) == (1e-6, 1.0, -1, 5.0)
    assert sft.bf16 and sft.activation_checkpointing and DEEPSPEED_FILES[Path(sft.deepspeed).name] == 2

    rl = ops["grpo_baseline_model"]["config"]
    optim, rollouts = OptimSettings.model_validate(rl["training"]), GRPOSettings.model_validate(rl["rollouts"])
    grpo_args = launcher["stage_launcher_args"]["viss_r1.train.grpo"]
    zero3 = accelerate_config(Path(grpo_args[grpo_args.index("--config_file") + 1]).name)
    assert optim.deepspeed == zero3.deepspeed_config["deepspeed_config_file"]
    assert DEEPSPEED_FILES[Path(optim.deepspeed).name] == 3
    processes = int(grpo_args[grpo_args.index("--num_processes") + 1])
    assert processes * optim.per_device_train_batch_size * optim.gradient_accumulation_steps == 4
    assert (optim.learning_rate, optim.lr_scheduler_type, optim.weight_decay, optim.max_grad_norm) == (1e-6, "cosine", 0.01, 5.0)
    assert optim.max_steps == 1200 and optim.bf16
    assert (rollouts.num_generations, rollouts.temperature, rollouts.top_p, rollouts.max_completion_length) == (8, 1.0, 0.95, 768)
    assert rollouts.beta == 0.04 and rollouts.kl_penalised(VIDEO_R1_GRPO) and rollouts.loss_type == "grpo"
    # T-GRPO on, as Video-R1 runs it: the temporal reward with its 0.8 ratio, the 320–512 length window.
    assert rl["rewards"] == {"temporal": True}
    settings = RewardSettings.model_validate({**VIDEO_R1_GRPO.rewards.model_dump(), **rl["rewards"]})
    funcs, _ = stage_rewards(VIDEO_R1_GRPO.prompt_format, settings)
    assert "temporal_reward" in [getattr(f, "func", f).__name__ for f in funcs]
    assert (settings.temporal_ratio, settings.temporal_bonus, settings.length_window) == (0.8, 0.3, (320, 512))


def test_7b_configs_use_the_release_transform_sets():
    """The ViSS-R1 and Pretext-GRPO 7B runs draw the transforms the release's trainers apply."""
    from assets.configs import PretextSamplesConfig

    viss = PretextSamplesConfig(**read(SFT_7B)["ops"]["pretext_samples"]["config"]).to_library()
    pretext_file = deep_merge(read(INFRA / "configs" / "video_r1_data.yaml"),
                              read(INFRA / "configs" / "pretext_grpo_qwen2_5_vl_7b.yaml"))
    pretext = PretextSamplesConfig(**pretext_file["ops"]["pretext_samples"]["config"]).to_library()
    active = lambda settings: {u.name: (u.video_transforms, u.image_transforms) for u in settings.uses}  # noqa: E731
    assert active(viss)["video_questions"] == (("arrow",), ("puzzle",))
    assert active(viss)["cot"] == (("rotate", "arrow", "shuffle"), ("rotate", "flip", "puzzle"))
    assert active(pretext)["questions"] == (("rotate", "arrow", "shuffle"), ("flip",))
