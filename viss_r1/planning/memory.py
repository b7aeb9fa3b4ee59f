"""What one GPU holds: model states (DeepSpeed's own ZeRO estimators), activations, KV cache.

Model states (parameters, gradients, optimiser state) come from DeepSpeed's estimators — the
functions its ``estimate_zero{2,3}_model_states_mem_needs_all_cold`` print — given the model's
parameter counts, the world size and the ZeRO JSON's stage and offload settings.

Activations are counted from what autograd saves for backward in transformers' Qwen2.5-VL
(``attn_implementation="sdpa"``, transformers 5.23), per language-model token and per vision
patch; ``tests/unit/test_memory_plan.py`` checks the count against the bytes autograd really saves
in the tiny model, and the peak against its measured memory. With ``b`` the bytes of the model's
dtype (2 in bf16) and 4 for fp32, per token and decoder layer:

- each of the two RMSNorms: its input copied to fp32 (4h), its rsqrt (4), the normalised value in
  the model's dtype (b·h); then the input of q/k/v and of gate/up (b·h each);
- attention: q and k after RoPE and v (b·(h + 2·kv)), the output (b·h), the log-sum-exp (4 per head);
- MLP: gate output, SiLU output, up output, their product (4·b·i).

Per patch and vision block the same, with the vision tower's widths, and: q, k after RoPE (2·b·d),
the qkv output kept whole because v is a view of it (3·b·d), the per-window attention outputs and
their concatenation (2·b·d). Beside the layers: RoPE tables, the pixels the patch embedding read,
the merger (its norm and three MLP inputs), the final norm and the fused LM head's input.

Activation checkpointing (transformers' non-reentrant checkpoint around every decoder layer and
vision block) keeps only each layer's input (b·h per token, b·d per patch) and what lies outside
the layers; backward recomputes one layer at a time. On top, backward needs a working set of
gradients: the MLP's (≈ 2·b·i + 2·b·h per token) and the LM head's (below).

The log-probabilities come from TRL's fused LM head (``add_fused_lm_head``, both trainers use it):
the (tokens × vocab) logits are never materialised, a 4096 × 32768 tile is; its backward holds
the head's weight gradient in fp32 and the hidden-state gradient in fp32. An SFT stage with
``lm_head_loss: logits`` (viss_r1.train.logits_loss) builds every row's logits instead: their
fp32 log-softmax is kept for backward, whose working set holds its gradient and its input's in fp32
and the logits' gradient in the model's dtype.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from viss_r1.planning.model import ModelShape, ParameterCounts

FP32 = 4
BOOL = 1
INT64 = 8
# TRL's fused LM head (trl.kernels.chunked_logprob): rows and vocabulary columns of its logits tile.
HEAD_TILE_TOKENS = 4096
HEAD_TILE_VOCAB = 32768
GIB = 2 ** 30


# --- Model states: DeepSpeed's estimators --------------------------------------------------------

class ZeroSettings(BaseModel):
    """The ZeRO JSON's settings that decide model-state memory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: int = Field(ge=0, le=3)            # 0: no ZeRO (plain data parallel)
    offload_optimizer: bool = False
    offload_param: bool = False               # ZeRO-3 only
    zero_init: bool = True                    # the model built under deepspeed.zero.Init (accelerate's zero3_init_flag)

    @classmethod
    def from_json(cls, path: str | Path, zero_init: bool = True) -> "ZeroSettings":
        zero = json.loads(Path(path).read_text()).get("zero_optimization", {})

        def offloaded(key: str) -> bool:
            return (zero.get(key) or {}).get("device", "none") not in ("none", None)

        return cls(stage=int(zero.get("stage", 0)), offload_optimizer=offloaded("offload_optimizer"),
                   offload_param=offloaded("offload_param"), zero_init=zero_init)

    @property
    def label(self) -> str:
        if self.stage == 0:
            return "none"
        offload = [name for name, on in (("optimizer", self.offload_optimizer), ("params", self.offload_param)) if on]
        return f"ZeRO-{self.stage}" + (f" + offload {', '.join(offload)}" if offload else "")


@lru_cache(maxsize=1)
def _deepspeed_estimators():
    """DeepSpeed's ZeRO-2 and ZeRO-3 estimators. Importing DeepSpeed looks for an accelerator
    and, on a machine without one, warns on stdout that it falls back to CPU; a plan needs none,
    so that one warning is left out of the plan's output."""
    logging.getLogger("DeepSpeed").addFilter(lambda record: "Setting accelerator to CPU" not in record.getMessage())
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    return estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs


class ModelStates(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu: int        # bytes per GPU
    cpu: int        # bytes per node (offloaded states and DeepSpeed's buffers), DeepSpeed's estimate


def model_states(parameters: ParameterCounts, zero: ZeroSettings, gpus_per_node: int, nodes: int,
                 frozen: int = 0) -> ModelStates:
    """Parameters, gradients and Adam states of the trainable parameters per GPU, as DeepSpeed
    estimates them (its ``additional_buffer_factor`` 1.5 applies to CPU memory only); ``frozen``
    parameters (a frozen vision tower) add their bf16 copy only, sharded under ZeRO-3. Without
    ZeRO, mixed-precision Adam's 16 bytes a parameter (ZeRO paper §3: 2 + 2 + 12)."""
    trainable = parameters.total - frozen
    world = gpus_per_node * nodes
    zero2, zero3 = _deepspeed_estimators()
    if zero.stage == 3:
        cpu, gpu, _ = zero3(
            total_params=trainable, largest_layer_params=parameters.largest_layer, num_gpus_per_node=gpus_per_node,
            num_nodes=nodes, cpu_offload=zero.offload_optimizer or zero.offload_param,
            cpu_offload_params=zero.offload_param, zero_init=zero.zero_init)
        frozen_gpu = 0 if zero.offload_param else 2 * frozen // world
    elif zero.stage in (1, 2):
        cpu, gpu = zero2(
            total_params=trainable, num_gpus_per_node=gpus_per_node, num_nodes=nodes,
            cpu_offload=zero.offload_optimizer)
        frozen_gpu = 2 * frozen
    else:
        cpu, gpu, frozen_gpu = 0, 16 * trainable, 2 * frozen
    return ModelStates(gpu=int(gpu) + frozen_gpu, cpu=int(cpu))


def reference_model_bytes(parameters: ParameterCounts, zero: ZeroSettings, world: int, dtype_bytes: int = 2) -> int:
    """GRPO's frozen reference policy (TRL keeps one when β ≠ 0): its weights in the model dtype,
    sharded when TRL prepares it with ZeRO-3, whole on each GPU otherwise."""
    whole = dtype_bytes * parameters.total
    return whole // world if zero.stage == 3 else whole


# --- Activations -----------------------------------------------------------------------------

class ForwardShape(BaseModel):
    """One forward (with backward, for training) on one GPU."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sequences: int              # rows in the forward: SFT's per-device batch, GRPO's prompts × G completions
    tokens: int                 # language-model tokens per row: text + vision placeholders (+ completion)
    patches: int                # vision-tower patches per row (0: text only)
    loss_tokens: int            # tokens per row whose log-probability the loss reads (the fused head's rows)
    padded: bool = True         # rows of unequal length: sdpa gets a boolean (rows × 1 × T × T) mask
    logits_loss: bool = False   # the loss from the full logits instead of the fused head (SFT's lm_head_loss)

    @property
    def all_tokens(self) -> int:
        return self.sequences * self.tokens

    @property
    def all_patches(self) -> int:
        return self.sequences * self.patches


def lm_layer_bytes_per_token(dims: ModelShape, b: int) -> int:
    """Bytes one decoder layer saves for backward, per token (see the module's docstring)."""
    h, i = dims.hidden, dims.intermediate
    norms = 2 * (FP32 * h + FP32 + b * h)
    projection_inputs = 2 * b * h
    attention = b * (h + 2 * dims.kv_width) + b * h + FP32 * dims.heads
    mlp = 4 * b * i
    return norms + projection_inputs + attention + mlp


def vision_block_bytes_per_patch(dims: ModelShape, b: int) -> int:
    """Bytes one vision block saves for backward, per patch."""
    d, i = dims.vision_hidden, dims.vision_intermediate
    norms = 2 * (FP32 * d + FP32 + b * d)
    projection_inputs = 2 * b * d
    attention = 3 * b * d + 2 * b * d + 2 * b * d + FP32 * dims.vision_heads
    mlp = 4 * b * i
    return norms + projection_inputs + attention + mlp


class ActivationBytes(BaseModel):
    """Saved-for-backward bytes of one forward, by where they are saved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lm_layer: int               # one decoder layer, all rows
    vision_block: int           # one vision block, all rows
    lm_layers: int              # every decoder layer
    vision_blocks: int          # every vision block
    outside: int                # outside the layers: pixels, RoPE tables, merger, embeddings, mask, final norm, head input
    pixels: int                 # of which the batch's pixel values (the patch embedding saves its input)
    lm_inputs: int              # the decoder layers' inputs (what checkpointing keeps of them)
    vision_inputs: int          # the vision blocks' inputs
    lm_backward: int            # gradient working set of one decoder layer's backward
    vision_backward: int        # of one vision block's backward
    head_backward: int          # of the fused LM head's backward

    @property
    def saved(self) -> int:
        """Everything saved at the end of the forward, without checkpointing."""
        return self.lm_layers + self.vision_blocks + self.outside

    @property
    def kept_with_checkpointing(self) -> int:
        return self.lm_inputs + self.vision_inputs + self.outside

    def peak(self, checkpointing: bool) -> int:
        """The most activation memory of a forward and backward: what is saved, plus the largest
        working set of the backward (the head's first, then one layer at a time; with
        checkpointing the layer's recomputed activations come with it)."""
        if not checkpointing:
            return self.saved + max(self.head_backward, self.lm_backward, self.vision_backward)
        return self.kept_with_checkpointing + max(self.head_backward, self.lm_layer + self.lm_backward,
                                                  self.vision_block + self.vision_backward)


def activation_bytes(dims: ModelShape, shape: ForwardShape, b: int = 2) -> ActivationBytes:
    """Saved-for-backward bytes of ``shape`` in the model dtype of ``b`` bytes (module docstring)."""
    tokens, patches = shape.all_tokens, shape.all_patches
    loss_tokens = shape.sequences * shape.loss_tokens
    h, d = dims.hidden, dims.vision_hidden
    lm_layer = tokens * lm_layer_bytes_per_token(dims, b)
    vision_block = patches * vision_block_bytes_per_patch(dims, b)
    pixels = patches * b * dims.patch_values                    # the pixels the patch embedding read
    vision_outside = pixels + patches * (
        2 * FP32 * (d // dims.vision_heads)                   # RoPE cos and sin (fp32)
        + (FP32 * d + FP32 + b * d) + 3 * b * d                 # merger: its norm, its MLP's three inputs
        + 2 * INT64 // dims.merge)                              # window order and its inverse, per merged token
    lm_outside = (
        tokens * (INT64 + BOOL                                  # token ids (embedding), the vision-token mask
                  + 2 * b * dims.head_dim                       # RoPE cos and sin
                  + FP32 * h + FP32 + b * h)                    # the final norm
        + (tokens * dims.vocab * FP32                           # the logits' fp32 log-softmax
           if shape.logits_loss else
           loss_tokens * (b * h + INT64 + 2 * FP32))            # the fused head: its rows' hidden states, targets, log-sum-exp
        + (shape.sequences * shape.tokens ** 2 * BOOL if shape.padded and shape.sequences > 1 else 0))  # sdpa mask
    head_backward = dims.vocab * h * (FP32 + b) + (            # weight gradient in fp32, then cast
        tokens * dims.vocab * (2 * FP32 + b)                    # the log-softmax's gradients, the logits' cast
        if shape.logits_loss else
        loss_tokens * h * FP32                                  # hidden-state gradient in fp32
        + min(loss_tokens, HEAD_TILE_TOKENS) * HEAD_TILE_VOCAB * b)   # the fused head's tile, allocated whole
    return ActivationBytes(
        lm_layer=lm_layer, vision_block=vision_block,
        lm_layers=dims.layers * lm_layer, vision_blocks=dims.vision_depth * vision_block,
        outside=vision_outside + lm_outside, pixels=pixels,
        lm_inputs=dims.layers * tokens * b * h, vision_inputs=dims.vision_depth * patches * b * d,
        lm_backward=tokens * b * (2 * dims.intermediate + 2 * h),
        vision_backward=patches * b * (2 * dims.vision_intermediate + 2 * d),
        head_backward=head_backward if loss_tokens else 0)


# --- Generation and scoring (no gradients) ---------------------------------------------------

def kv_cache_bytes(dims: ModelShape, sequences: int, tokens: int, b: int = 2) -> int:
    """Keys and values of every layer for ``sequences`` rows of ``tokens``."""
    return 2 * dims.layers * dims.kv_width * b * sequences * tokens


def inference_working_set(dims: ModelShape, sequences: int, tokens: int, patches: int, b: int = 2,
                          padded: bool = True) -> int:
    """The most a forward without gradients holds besides weights and KV cache (a prefill, or
    GRPO's reference/old-policy scoring): the batch's pixels, the vision embeddings it scatters
    in, the mask, and one layer's temporaries at a time (the residual stream, the norm's fp32 copy,
    q/k/v, the MLP's gate, up and product), in the tower or in the language model, whichever is
    larger. ``tests/unit/test_memory_plan.py`` checks it against the tiny model's measured memory."""
    rows_tokens, rows_patches = sequences * tokens, sequences * patches
    lm_layer = rows_tokens * (b * (3 * dims.intermediate + 3 * dims.hidden) + FP32 * dims.hidden)
    vision_block = rows_patches * (b * (3 * dims.vision_intermediate + 6 * dims.vision_hidden) + FP32 * dims.vision_hidden)
    pixels = rows_patches * b * dims.patch_values
    embeddings = rows_patches // dims.merge * b * dims.hidden
    mask = sequences * tokens ** 2 * BOOL if padded and sequences > 1 else 0
    return pixels + embeddings + mask + max(lm_layer, vision_block)
