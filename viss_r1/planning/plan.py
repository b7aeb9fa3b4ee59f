"""Does a stage fit a cluster, and if not, which setting to change.

A stage's ``Workload`` is what one GPU is asked to do: its media (frames × pixels), its tokens,
its batch, how it trains (ZeRO stage and offload, activation checkpointing, a reference model)
or generates (evaluation). ``plan_stage`` adds up what a GPU holds in each phase of a step:

- training (SFT, GRPO): model states (DeepSpeed's estimate) + the reference model + activations of
  the forward and backward (``viss_r1.planning.memory``);
- rollouts (GRPO, transformers' ``generate`` in the training processes): model states + reference
  + the whole policy gathered in bf16 (TRL's ``unwrap_model_for_generation`` under ZeRO-3) + the
  KV cache of the G rollouts at full length + the prefill's working set. With ``use_vllm`` the
  rollouts run on a server GPU (one GPU of the cluster leaves training); the trainer still gathers
  the policy to hand it over;
- evaluation: one process on one GPU: bf16 weights + the KV cache of a decoding batch + prefill.

The peak phase is compared with what a GPU offers after a reserve (CUDA context, NCCL and
DeepSpeed's communication buckets, allocator fragmentation). When it does not fit, ``suggestion``
tries the changes a run config can make, least disruptive first, and names the first that fits.
"""

from __future__ import annotations

from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from viss_r1.planning.memory import (
    GIB,
    ActivationBytes,
    ForwardShape,
    ZeroSettings,
    activation_bytes,
    inference_working_set,
    kv_cache_bytes,
    model_states,
    reference_model_bytes,
)
from viss_r1.planning.model import PlannedModel
from viss_r1.pretext.transforms import NUM_SEGMENTS

# Frames a video must keep: shuffle splits the clip into NUM_SEGMENTS segments of a frame or more (METHOD.md §2).
MIN_FRAMES = NUM_SEGMENTS
# Nodes the "more GPUs" suggestion looks at, at most.
MAX_NODES = 64


class Cluster(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gpus_per_node: int = Field(default=8, gt=0)
    gpu_memory_gib: float = Field(default=80.0, gt=0)     # as nvidia-smi counts it: an "80 GB" card has 80 GiB
    nodes: int = Field(default=1, gt=0)
    # Left of every GPU for what no estimate here counts: CUDA context, NCCL and DeepSpeed buffers,
    # the caching allocator's fragmentation.
    reserve: float = Field(default=0.10, ge=0.0, lt=1.0)

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def usable(self) -> int:
        return int(self.gpu_memory_gib * GIB * (1.0 - self.reserve))

    @property
    def label(self) -> str:
        return f"{self.nodes} × {self.gpus_per_node} GPUs × {self.gpu_memory_gib:g} GiB"


class Media(BaseModel):
    """The largest media one prompt shows (the plan is for the largest sample)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frames: int = 0                 # video frames (0: no video)
    max_pixels: int = 0             # per video frame
    image_max_pixels: int = 0       # per image (0: no image)

    def patches(self, model: PlannedModel) -> int:
        """Vision-tower patches of the largest media: a video's frames go in pairs (temporal
        patch), an image is one temporal patch; a patch covers patch_size² pixels."""
        dims = model.dims
        per_frame_group = self.max_pixels // dims.patch_size ** 2
        video = self.frames // dims.temporal_patch * per_frame_group
        image = self.image_max_pixels // dims.patch_size ** 2
        return max(video, image)

    @property
    def label(self) -> str:
        return f"{self.frames} × {self.max_pixels:,} px" if self.frames else f"image {self.image_max_pixels:,} px"


class Workload(BaseModel):
    """One stage as one GPU sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str                          # a stage's name (viss_r1.stages), or "evaluation"
    kind: Literal["sft", "grpo", "evaluation"]
    media: Media
    prompt_text_tokens: int             # system prompt, instructions, question and options (an assumption)
    new_tokens: int                     # SFT: the target's tokens; GRPO: max_completion_length; evaluation: max_new_tokens
    prompts_per_gpu: int                # SFT/GRPO: per_device_train_batch_size; evaluation: decoding.batch_size
    generations: int = 1                # GRPO: G rollouts per prompt
    loss_on_prompt: bool = False        # SFT's loss on every token, prompt included (the release's)
    logits_loss: bool = False           # SFT's loss from the full logits (lm_head_loss: logits), not the fused head
    zero: ZeroSettings = ZeroSettings(stage=0)
    activation_checkpointing: bool = True
    reference_model: bool = False       # GRPO with β ≠ 0: TRL keeps a frozen copy of the policy
    use_vllm: bool = False              # GRPO rollouts / evaluation answers on a vLLM server
    vllm_max_concurrent: int = 64       # requests a server holds at once
    frozen_parameters: int = 0          # kept out of the optimiser (a frozen vision tower)
    dtype_bytes: int = 2                # bf16; 4 in fp32

    @property
    def sequences(self) -> int:
        """Rows of one forward: GRPO scores prompts × G completions at once (TRL counts completions)."""
        return self.prompts_per_gpu * self.generations

    def prompt_tokens(self, model: PlannedModel) -> int:
        """Language-model tokens of a prompt: text, the vision placeholders and their start/end."""
        vision = self.media.patches(model) // model.dims.merge
        return self.prompt_text_tokens + (vision + 2 if vision else 0)

    def with_(self, **changes) -> "Workload":
        return self.model_copy(update=changes)


class StagePlan(BaseModel):
    """What one GPU holds for a stage, in bytes, and whether it fits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workload: Workload
    cluster: Cluster
    training_gpus: int                  # GPUs the stage trains on (evaluation: 1)
    tokens: int                         # language-model tokens per sequence (prompt + new tokens)
    patches: int                        # vision patches per sequence
    model_states: int                   # training: DeepSpeed's estimate; evaluation: the bf16 weights
    model_states_cpu: int               # per node, DeepSpeed's estimate (offloaded states, buffers)
    reference: int
    activations: int                    # training: peak of forward + backward without checkpointing
    activations_checkpointed: int       # the same with activation checkpointing
    rollouts: int                       # GRPO: generation's extra (gathered policy, KV cache, prefill); evaluation: KV + prefill
    server: int                         # a vLLM server GPU's need (0: none)
    peak: int
    fits: bool
    change: str | None = None           # the setting to change when it does not fit


def forward_shape(workload: Workload, model: PlannedModel) -> ForwardShape:
    prompt = workload.prompt_tokens(model)
    tokens = prompt + workload.new_tokens
    loss = tokens if workload.loss_on_prompt else workload.new_tokens
    return ForwardShape(sequences=workload.sequences, tokens=tokens, patches=workload.media.patches(model),
                        loss_tokens=loss, padded=workload.sequences > 1, logits_loss=workload.logits_loss)


def training_activations(workload: Workload, model: PlannedModel) -> ActivationBytes:
    return activation_bytes(model.dims, forward_shape(workload, model), workload.dtype_bytes)


def _generation_bytes(workload: Workload, model: PlannedModel, sequences: int) -> int:
    """KV cache of ``sequences`` rows at full length, plus their prefill's working set."""
    prompt = workload.prompt_tokens(model)
    b = workload.dtype_bytes
    return (kv_cache_bytes(model.dims, sequences, prompt + workload.new_tokens, b)
            + inference_working_set(model.dims, sequences, prompt, workload.media.patches(model), b)
            + sequences * model.dims.vocab * 4)   # the last position's logits, in fp32 for sampling


def _evaluation(workload: Workload, model: PlannedModel) -> dict:
    """One process on one GPU: bf16 weights, the decoding batch's KV cache and prefill; on a vLLM
    server instead when one is configured (the process then only sends requests)."""
    weights = workload.dtype_bytes * model.parameters.total
    generation = _generation_bytes(workload, model, workload.sequences)
    server = 0
    if workload.use_vllm:
        server = weights + _generation_bytes(workload, model, workload.vllm_max_concurrent)
        generation, weights = 0, 0
    return dict(training_gpus=1, model_states=weights, model_states_cpu=0, reference=0, activations=0,
                activations_checkpointed=0, rollouts=generation, server=server, peak=weights + generation)


def _training(workload: Workload, model: PlannedModel, cluster: Cluster) -> dict:
    """A training GPU: model states, reference model, then the larger of the step's activations
    and (GRPO) the rollouts' extra."""
    params, b = model.parameters, workload.dtype_bytes
    training_gpus = cluster.gpus - (1 if workload.use_vllm else 0)
    states = model_states(params, workload.zero, -(-training_gpus // cluster.nodes), cluster.nodes,
                          frozen=workload.frozen_parameters)
    reference = reference_model_bytes(params, workload.zero, training_gpus, b) if workload.reference_model else 0
    acts = training_activations(workload, model)
    rollouts = server = 0
    if workload.kind == "grpo":
        # ZeRO-3 holds 1/N of the policy; generation (or the hand-over to a vLLM server) gathers it whole.
        own_shard = 0 if workload.zero.offload_param else b * params.total // training_gpus
        gathered = b * params.total - own_shard if workload.zero.stage == 3 else 0
        if workload.use_vllm:
            rollouts = gathered
            in_flight = min(workload.vllm_max_concurrent, workload.prompts_per_gpu * training_gpus)
            server = b * params.total + _generation_bytes(workload, model, in_flight * workload.generations)
        else:
            rollouts = gathered + _generation_bytes(workload, model, workload.sequences)
    peak = states.gpu + reference + max(acts.peak(workload.activation_checkpointing), rollouts)
    return dict(training_gpus=training_gpus, model_states=states.gpu, model_states_cpu=states.cpu,
                reference=reference, activations=acts.peak(False), activations_checkpointed=acts.peak(True),
                rollouts=rollouts, server=server, peak=peak)


def plan_stage(workload: Workload, model: PlannedModel, cluster: Cluster) -> StagePlan:
    """What one GPU holds in the stage's largest phase, and whether it fits (no suggestion:
    ``plan`` adds one)."""
    shape = forward_shape(workload, model)
    held = _evaluation(workload, model) if workload.kind == "evaluation" else _training(workload, model, cluster)
    fits = held["peak"] <= cluster.usable and held["server"] <= cluster.usable
    return StagePlan(workload=workload, cluster=cluster, tokens=shape.tokens, patches=shape.patches, fits=fits, **held)


# --- What to change when it does not fit ------------------------------------------------------

# A change: (workload, cluster) → the changed pair and how to say it, or None where it does not apply.
Change = Callable[[Workload, Cluster, PlannedModel], "tuple[Workload, Cluster, str] | None"]


def _checkpointing(w: Workload, c: Cluster, m: PlannedModel):
    if w.kind == "evaluation" or w.activation_checkpointing:
        return None
    return w.with_(activation_checkpointing=True), c, "training.activation_checkpointing: true"


def _zero3(w: Workload, c: Cluster, m: PlannedModel):
    if w.kind == "evaluation" or w.zero.stage == 3:
        return None
    zero = w.zero.model_copy(update={"stage": 3})
    return w.with_(zero=zero), c, "ZeRO-3 (training.deepspeed: infra/deepspeed/zero3.json)"


def _offload(what: str) -> Change:
    def change(w: Workload, c: Cluster, m: PlannedModel):
        field = f"offload_{what}"
        if w.kind == "evaluation" or getattr(w.zero, field) or (what == "param" and w.zero.stage != 3) or w.zero.stage == 0:
            return None
        zero = w.zero.model_copy(update={field: True})
        changed = w.with_(zero=zero)
        cpu = plan_stage(changed, m, c).model_states_cpu
        return changed, c, f"zero_optimization.{field}.device: cpu (≈{cpu / GIB:,.0f} GiB of CPU memory per node)"
    return change


def _vllm(w: Workload, c: Cluster, m: PlannedModel):
    if w.kind != "grpo" or w.use_vllm or c.gpus < 2:
        return None
    return w.with_(use_vllm=True), c, "rollouts.use_vllm: true (rollouts on a vLLM server, one GPU)"


def _largest(values: range, make: Callable[[int], Workload], c: Cluster, m: PlannedModel) -> tuple[int, Workload] | None:
    """The first value (of a descending range) whose workload fits."""
    for value in values:
        changed = make(value)
        if plan_stage(changed, m, c).fits:
            return value, changed
    return None


def _fewer_pixels(w: Workload, c: Cluster, m: PlannedModel):
    unit = (m.dims.patch_size * m.dims.spatial_merge) ** 2          # one merged token: 28·28 px
    if not w.media.frames or w.media.max_pixels <= 4 * unit:
        return None
    found = _largest(range(w.media.max_pixels // unit - 1, 3, -1),
                     lambda k: w.with_(media=w.media.model_copy(update={"max_pixels": k * unit})), c, m)
    if found is None:
        return None
    k, changed = found
    return changed, c, f"max_pixels ≤ {k}·28·28 ({k * unit:,}) per frame"


def _fewer_frames(w: Workload, c: Cluster, m: PlannedModel):
    step = m.dims.temporal_patch
    if w.media.frames <= MIN_FRAMES:
        return None
    found = _largest(range(w.media.frames - step, MIN_FRAMES - 1, -step),
                     lambda n: w.with_(media=w.media.model_copy(update={"frames": n})), c, m)
    if found is None:
        return None
    n, changed = found
    return changed, c, f"{n} frames per video"


def _smaller_batch(w: Workload, c: Cluster, m: PlannedModel):
    if w.kind != "evaluation" or w.prompts_per_gpu <= 1:
        return None
    found = _largest(range(w.prompts_per_gpu - 1, 0, -1), lambda n: w.with_(prompts_per_gpu=n), c, m)
    if found is None:
        return None
    n, changed = found
    return changed, c, f"decoding.batch_size: {n}"


def _more_nodes(w: Workload, c: Cluster, m: PlannedModel):
    if w.kind == "evaluation":
        return None
    for nodes in range(c.nodes + 1, MAX_NODES + 1):
        more = c.model_copy(update={"nodes": nodes})
        if plan_stage(w, m, more).fits:
            return w, more, f"more GPUs: {nodes} nodes × {c.gpus_per_node}"
    return None


# Least disruptive first: settings that leave the method as it is, then ones that change what the
# model sees, then hardware.
SETTINGS: tuple[Change, ...] = (_checkpointing, _zero3, _offload("optimizer"), _offload("param"), _vllm)
SEARCHES: tuple[Change, ...] = (_smaller_batch, _fewer_pixels, _fewer_frames, _more_nodes)


def _need(plan: StagePlan) -> int:
    """The most any one GPU of the plan holds (a training GPU, or the vLLM server's)."""
    return max(plan.peak, plan.server)


def suggestion(workload: Workload, model: PlannedModel, cluster: Cluster) -> str:
    """The first single change that makes the stage fit; else the settings that lower what a
    GPU needs, together, and the first search that fits on top of them; else what it would
    still need."""
    for change in (*SETTINGS, *SEARCHES):
        result = change(workload, cluster, model)
        if result is not None and plan_stage(result[0], model, result[1]).fits:
            return result[2]
    w, c, said = workload, cluster, []
    need = _need(plan_stage(w, model, c))
    for change in SETTINGS:
        result = change(w, c, model)
        if result is not None and _need(plan_stage(result[0], model, result[1])) < need:
            w, c = result[0], result[1]
            need = _need(plan_stage(w, model, c))
            said.append(result[2])
    for change in SEARCHES:
        result = change(w, c, model)
        if result is not None:
            return " + ".join([*said, result[2]])
    return f"does not fit even with {' + '.join(said) or 'any setting'}: needs {need / GIB:.1f} GiB"


def plan(workload: Workload, model: PlannedModel, cluster: Cluster) -> StagePlan:
    """``plan_stage`` with the change to make when it does not fit."""
    planned = plan_stage(workload, model, cluster)
    return planned if planned.fits else planned.model_copy(update={"change": suggestion(workload, model, cluster)})
