"""The GPU memory plan (viss_r1.planning): the 7B model built on the meta device, model states as
DeepSpeed's own estimators give them, the activation count against what autograd saves in the
tiny model and the peak against its measured memory, and the suggestion a stage gets when it does
not fit."""

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest
import torch

from viss_r1.planning.memory import (
    GIB,
    HEAD_TILE_TOKENS,
    HEAD_TILE_VOCAB,
    ForwardShape,
    ZeroSettings,
    activation_bytes,
    inference_working_set,
    kv_cache_bytes,
    model_states,
)
from viss_r1.planning.model import QWEN2_5_VL_7B_PARAMETERS, ModelShape, ParameterCounts, count_parameters
from viss_r1.planning.plan import Cluster, Media, Workload, plan, plan_stage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from memory_probe import measured_steps, saved_bytes, step_inputs, tiny_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_7b():
    from viss_r1.planning.model import qwen2_5_vl_7b

    return qwen2_5_vl_7b()


# --- The model --------------------------------------------------------------------------------

def test_the_7b_model_built_on_the_meta_device_has_qwen2_5_vl_7bs_parameters(model_7b):
    params = model_7b.parameters
    assert abs(params.total - 8.29e9) / 8.29e9 < 0.01
    assert params.total == QWEN2_5_VL_7B_PARAMETERS
    dims = model_7b.dims
    # the largest module is the untied embedding / LM head: vocab × hidden
    assert params.largest_layer == dims.vocab * dims.hidden == 152064 * 3584
    # the vision tower: 32 blocks of a 1280-wide SwiGLU transformer, the patch embedding, the merger
    assert 0.6e9 < params.vision_tower < 0.7e9 and params.vision_merger < params.vision_tower
    assert (dims.head_dim, dims.kv_width, dims.merge, dims.patch_values) == (128, 512, 4, 1176)


def test_parameter_counts_are_deepspeeds_on_a_real_model():
    from deepspeed.runtime.zero.stage3 import model_to_params

    model = tiny_model()
    counts = count_parameters(model)
    assert (counts.total, counts.largest_layer) == model_to_params(model)   # tied embeddings counted once


# --- Model states: DeepSpeed's own estimators --------------------------------------------------

def printed_estimates(estimator, **kwargs) -> dict[str, float]:
    """DeepSpeed's ``…_all_cold`` table: options (e.g. "offload_param=none,offload_optimizer=cpu,zero_init=1")
    → GiB per GPU, as it prints them."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        estimator(**kwargs)
    rows = re.findall(r"^\s*[\d.]+GB \|\s*([\d.]+)GB \| (.+)$", out.getvalue(), re.MULTILINE)
    assert rows, out.getvalue()
    return {re.sub(r"OffloadDeviceEnum\.|\s", "", options): float(gpu) for gpu, options in rows}


@pytest.mark.parametrize("gpus_per_node, nodes", [(8, 1), (4, 2), (1, 1)])
def test_model_states_are_what_deepspeeds_estimators_print(model_7b, gpus_per_node, nodes):
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs_all_cold
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs_all_cold

    params = model_7b.parameters
    zero3 = printed_estimates(estimate_zero3_model_states_mem_needs_all_cold, total_params=params.total,
                              largest_layer_params=params.largest_layer, num_gpus_per_node=gpus_per_node, num_nodes=nodes)
    zero2 = printed_estimates(estimate_zero2_model_states_mem_needs_all_cold, total_params=params.total,
                              num_gpus_per_node=gpus_per_node, num_nodes=nodes)
    ours = {
        "offload_param=none,offload_optimizer=none,zero_init=1": ZeroSettings(stage=3),
        "offload_param=none,offload_optimizer=cpu,zero_init=1": ZeroSettings(stage=3, offload_optimizer=True),
        "offload_param=cpu,offload_optimizer=cpu,zero_init=1": ZeroSettings(stage=3, offload_optimizer=True,
                                                                            offload_param=True),
    }
    for options, zero in ours.items():
        got = model_states(params, zero, gpus_per_node, nodes).gpu / GIB
        assert got == pytest.approx(zero3[options], abs=0.006), options
    assert model_states(params, ZeroSettings(stage=2), gpus_per_node, nodes).gpu / GIB == pytest.approx(
        zero2["offload_optimizer=none"], abs=0.006)
    assert model_states(params, ZeroSettings(stage=2, offload_optimizer=True), gpus_per_node, nodes).gpu / GIB == \
        pytest.approx(zero2["offload_optimizer=cpu"], abs=0.006)


def test_the_7b_recipes_states_per_gpu_on_8_gpus(model_7b):
    p = model_7b.parameters
    # ZeRO-2: bf16 weights whole on every GPU, the 16 bytes of fp32 weights, gradients and Adam
    # (plus the 16-bit gradients) sharded; ZeRO-3 shards everything but the largest layer's gather.
    assert model_states(p, ZeroSettings(stage=2), 8, 1).gpu == 2 * p.total + int(18 * p.total / 8)
    assert model_states(p, ZeroSettings(stage=3), 8, 1).gpu == 4 * p.largest_layer + int(18 * p.total / 8)
    # a frozen vision tower keeps only its bf16 copy (sharded under ZeRO-3), no optimiser state
    frozen = p.vision_tower
    assert model_states(p, ZeroSettings(stage=3), 8, 1, frozen=frozen).gpu == \
        4 * p.largest_layer + int(18 * (p.total - frozen) / 8) + 2 * frozen // 8


def test_zero_settings_read_from_the_repositorys_deepspeed_json():
    assert ZeroSettings.from_json(ROOT / "infra" / "deepspeed" / "zero2.json") == ZeroSettings(stage=2)
    assert ZeroSettings.from_json(ROOT / "infra" / "deepspeed" / "zero3.json") == ZeroSettings(stage=3)


def test_offload_is_read_from_a_deepspeed_json(tmp_path):
    path = tmp_path / "offload.json"
    path.write_text('{"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "cpu"}, '
                    '"offload_param": {"device": "none"}}}')
    assert ZeroSettings.from_json(path) == ZeroSettings(stage=3, offload_optimizer=True)


# --- Activations against the tiny model ---------------------------------------------------------

def _shape(model, sequences, grid, text_tokens, loss_tokens) -> ForwardShape:
    t, h, w = grid
    merge = model.config.vision_config.spatial_merge_size ** 2
    return ForwardShape(sequences=sequences, tokens=t * h * w // merge + 2 + text_tokens, patches=t * h * w,
                        loss_tokens=loss_tokens, padded=False)


@pytest.mark.parametrize("dtype, bytes_", [("float32", 4), ("bfloat16", 2)])
@pytest.mark.parametrize("spec", [{}, {"hidden_size": 96, "intermediate_size": 320, "num_heads": 6, "num_kv_heads": 3,
                                       "vision_hidden_size": 48, "vision_heads": 3, "num_layers": 3, "vision_depth": 2}])
def test_saved_activation_count_matches_what_autograd_saves_in_the_tiny_model(dtype, bytes_, spec):
    model = tiny_model(dtype, **spec)
    dims = ModelShape.from_config(model.config)
    for sequences, grid, text_tokens, loss_tokens in ((2, (2, 8, 8), 50, 20), (1, (4, 8, 16), 120, 100)):
        measured = saved_bytes(model, step_inputs(model, sequences, grid, text_tokens, loss_tokens))
        estimated = activation_bytes(dims, _shape(model, sequences, grid, text_tokens, loss_tokens), bytes_).saved
        # within 1 %: what the count leaves out are a few small index tensors
        assert estimated == pytest.approx(measured, rel=0.01), (sequences, grid)


def test_peak_estimates_against_the_tiny_models_measured_memory():
    """In a fresh process, a prefill and one training step without and with activation
    checkpointing: the peak of the resident set against the estimates (the batch's pixels are an
    input the process held before; the LM head's loss is left out on both sides, see
    tests/memory_probe.py). Without checkpointing the step's estimate is within 10 %; with it the
    estimate may be up to 40 % high (backward frees a layer's recomputed activations as it goes),
    at most 5 % low; the prefill's (KV cache + working set) within 35 %."""
    sequences, grid, text_tokens, loss_tokens = 2, (4, 16, 16), 300, 200
    model = tiny_model("float32")
    dims = ModelShape.from_config(model.config)
    shape = _shape(model, sequences, grid, text_tokens, loss_tokens)
    estimate = activation_bytes(dims, shape, 4).model_copy(update={"head_backward": 0})
    measured = measured_steps(sequences, grid, text_tokens, loss_tokens)
    prefill = (kv_cache_bytes(dims, sequences, shape.tokens, 4) - estimate.pixels
               + inference_working_set(dims, sequences, shape.tokens, shape.patches, 4, padded=False))
    assert prefill == pytest.approx(measured["prefill"], rel=0.35), (prefill, measured)
    without = estimate.peak(False) - estimate.pixels
    with_ = estimate.peak(True) - estimate.pixels
    assert without == pytest.approx(measured["without_checkpointing"], rel=0.10), (without, measured)
    assert 0.95 * measured["with_checkpointing"] <= with_ <= 1.40 * measured["with_checkpointing"], (with_, measured)
    # checkpointing is what the recipes rely on: here it keeps less than a third
    assert measured["with_checkpointing"] < measured["without_checkpointing"] / 3


@pytest.mark.parametrize("dtype, bytes_", [(torch.float32, 4), (torch.bfloat16, 2)])
def test_the_loss_from_logits_saves_what_the_plan_counts(dtype, bytes_):
    """``lm_head_loss: logits``: autograd keeps the logits' fp32 log-softmax (beside the head's input,
    which the fused head keeps too); the plan counts it in place of the fused head's rows."""
    from viss_r1.train.logits_loss import next_token_loss

    model = tiny_model("float32")
    dims = ModelShape.from_config(model.config)
    rows, tokens = 2, 300
    head = torch.nn.Linear(dims.hidden, dims.vocab, bias=False, dtype=dtype)
    hidden = torch.randn(rows, tokens, dims.hidden, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, dims.vocab, (rows, tokens))
    saved: dict[int, int] = {}

    def pack(tensor):
        if tensor.untyped_storage().data_ptr() != head.weight.untyped_storage().data_ptr():
            saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        next_token_loss(head(hidden), labels)[0].backward()
    measured = sum(saved.values()) - hidden.untyped_storage().nbytes()
    shape = ForwardShape(sequences=rows, tokens=tokens, patches=0, loss_tokens=tokens, padded=False)
    fused = activation_bytes(dims, shape, bytes_)
    logits = activation_bytes(dims, shape.model_copy(update={"logits_loss": True}), bytes_)
    fused_rows = rows * tokens * (bytes_ * dims.hidden + 8 + 2 * 4)
    assert logits.outside - fused.outside + fused_rows == pytest.approx(measured, rel=0.02)


def test_the_fused_lm_heads_tile_is_trls():
    from trl.kernels.chunked_logprob import TOKEN_CHUNK_SIZE
    from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

    assert (HEAD_TILE_TOKENS, HEAD_TILE_VOCAB) == (TOKEN_CHUNK_SIZE, _CHUNKED_LOGPROB_CHUNK_SIZE)


def test_checkpointing_keeps_layer_inputs_and_recomputes_one_layer(model_7b):
    dims = model_7b.dims
    shape = ForwardShape(sequences=8, tokens=3330, patches=8192, loss_tokens=768)
    acts = activation_bytes(dims, shape)
    assert acts.lm_inputs == dims.layers * 8 * 3330 * 2 * dims.hidden
    assert acts.vision_inputs == dims.vision_depth * 8 * 8192 * 2 * dims.vision_hidden
    assert acts.peak(True) < acts.peak(False) / 10
    assert acts.peak(True) >= acts.kept_with_checkpointing + max(acts.lm_layer, acts.vision_block)


# --- The plan and its suggestions ------------------------------------------------------------------

VISS_R1_MEDIA = Media(frames=32, max_pixels=128 * 28 * 28)


def grpo_7b(**changes) -> Workload:
    """The ViSS-R1 RL stage of the 7B recipe (viss_r1_qwen2_5_vl_7b.yaml) as one GPU carries it."""
    return Workload(stage="viss_r1_grpo", kind="grpo", media=VISS_R1_MEDIA, prompt_text_tokens=512, new_tokens=768,
                    prompts_per_gpu=1, generations=8, zero=ZeroSettings(stage=3), activation_checkpointing=True,
                    reference_model=True).with_(**changes)


def sft_7b(**changes) -> Workload:
    return Workload(stage="ssl_cot_sft", kind="sft", media=VISS_R1_MEDIA, prompt_text_tokens=512, new_tokens=1024,
                    prompts_per_gpu=1, loss_on_prompt=True, zero=ZeroSettings(stage=2)).with_(**changes)


def test_the_7b_recipe_fits_8_gpus_of_80_gb(model_7b):
    for workload in (grpo_7b(), sft_7b()):
        planned = plan(workload, model_7b, Cluster(gpu_memory_gib=80))
        assert planned.fits and planned.change is None, planned
        assert planned.peak <= Cluster(gpu_memory_gib=80).usable


def test_a_stage_that_does_not_fit_8_gpus_of_40_gb_gets_a_change_that_makes_it_fit(model_7b):
    small = Cluster(gpu_memory_gib=40)
    planned = plan(grpo_7b(), model_7b, small)
    assert not planned.fits and planned.peak > small.usable
    assert planned.change.startswith("zero_optimization.offload_optimizer.device: cpu"), planned.change
    assert plan_stage(grpo_7b(zero=ZeroSettings(stage=3, offload_optimizer=True)), model_7b, small).fits
    sft = plan(sft_7b(), model_7b, small)
    assert not sft.fits and sft.change.startswith("ZeRO-3"), sft.change
    assert plan_stage(sft_7b(zero=ZeroSettings(stage=3)), model_7b, small).fits


def test_without_activation_checkpointing_the_suggestion_is_to_turn_it_on(model_7b):
    planned = plan(grpo_7b(activation_checkpointing=False), model_7b, Cluster(gpu_memory_gib=80))
    assert not planned.fits and planned.activations > planned.activations_checkpointed
    assert planned.change == "training.activation_checkpointing: true"


def test_a_searched_change_is_the_largest_that_fits(model_7b):
    """On 24 GiB GPUs no setting alone is enough for the GRPO stage: the settings that help, then
    the largest frame size that fits on top of them (one step larger does not)."""
    cluster = Cluster(gpu_memory_gib=24)
    planned = plan(grpo_7b(), model_7b, cluster)
    found = re.search(r"max_pixels ≤ (\d+)·28·28", planned.change)
    assert found and "offload_optimizer" in planned.change, planned.change
    k = int(found.group(1))
    offloaded = ZeroSettings(stage=3, offload_optimizer=True, offload_param="offload_param" in planned.change)

    def fits(units: int) -> bool:
        media = VISS_R1_MEDIA.model_copy(update={"max_pixels": units * 28 * 28})
        return plan_stage(grpo_7b(zero=offloaded, media=media), model_7b, cluster).fits

    assert fits(k) and not fits(k + 1)


def test_evaluation_gets_the_largest_batch_that_fits(model_7b):
    evaluation = Workload(stage="evaluation", kind="evaluation", media=Media(frames=32, max_pixels=256 * 28 * 28),
                          prompt_text_tokens=512, new_tokens=1024, prompts_per_gpu=64, activation_checkpointing=False)
    cluster = Cluster(gpu_memory_gib=40)
    planned = plan(evaluation, model_7b, cluster)
    batch = int(re.fullmatch(r"decoding.batch_size: (\d+)", planned.change).group(1))
    assert plan_stage(evaluation.with_(prompts_per_gpu=batch), model_7b, cluster).fits
    assert not plan_stage(evaluation.with_(prompts_per_gpu=batch + 1), model_7b, cluster).fits
    # the weights alone: one bf16 copy
    assert planned.model_states == 2 * model_7b.parameters.total


def test_more_gpus_shrink_the_sharded_states_only(model_7b):
    one, two = (plan_stage(grpo_7b(), model_7b, Cluster(nodes=n)) for n in (1, 2))
    assert two.model_states < one.model_states and two.reference < one.reference
    assert two.activations_checkpointed == one.activations_checkpointed


def test_vllm_rollouts_move_the_kv_cache_to_a_server_gpu(model_7b):
    in_process = plan_stage(grpo_7b(), model_7b, Cluster())
    on_server = plan_stage(grpo_7b(use_vllm=True), model_7b, Cluster())
    assert on_server.training_gpus == 7 and on_server.server > 2 * model_7b.parameters.total
    assert on_server.rollouts < in_process.rollouts   # the trainer only gathers the policy to hand it over


def test_a_hypothetical_model_plans_from_its_counts_alone():
    # DeepSpeed's estimators take counts, not a model
    counts = ParameterCounts(total=10_000, largest_layer=1_000, vision_tower=0, vision_merger=0)
    assert model_states(counts, ZeroSettings(stage=3), 2, 1).gpu == 4 * 1_000 + int(18 * 10_000 / 2)
