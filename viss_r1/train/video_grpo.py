"""``VideoGRPOTrainer``: TRL's ``GRPOTrainer`` (written against trl==1.16.0) with video.

TRL 1.16 handles images only: given video it runs but drops it — ``_tokenize_prompts`` collects
image parts, and the log-prob forwards never see ``pixel_values_videos``/``video_grid_thw``/
``second_per_grid_ts`` — so the loss is computed on bare ``<|video_pad|>`` embeddings with no
error. This subclass overrides a few of TRL's private methods and keeps everything else (loss
types, KL, reward weighting, importance sampling, logging) as TRL has it:

- ``_generate_and_score_completions`` encodes each prompt's media once per group (the row's
  transform is applied to the frames, so all G rollouts see the same transformed clip) and keeps
  the encoded vision inputs with the rollouts, where shuffling and splitting carry them along;
- ``_tokenize_prompts`` hands generation the expanded prompt ids and the vision inputs;
- ``_compute_loss`` and ``_get_per_token_logps_and_entropies`` give every log-prob forward (old,
  reference and policy) the same vision inputs, ``second_per_grid_ts`` and ``mm_token_type_ids``
  included (METHOD.md §9).

Its settings are a ``VideoGRPOConfig``: TRL's ``GRPOConfig`` and the fields below.

``temporal_rollouts=k`` is Video-R1's T-GRPO: before scoring, k extra rollouts per video prompt
are generated on its frames in a random order, with the main rollouts' generation config, and
their mean accuracy goes to the rewards as column ``shuffled_accuracy``
(``viss_r1.rewards.temporal_reward``).

Groups across processes: ``per_device_train_batch_size`` counts completions in TRL; when it is not
a whole number of groups (our run config always gives whole groups, a ``GRPOConfig`` made by hand
may not), one prompt's G rollouts are spread over processes (METHOD.md §9). TRL scores each
process's slice alone; ``_calculate_rewards`` is overridden to score the whole generation batch,
gathered over processes, so the group-conditional rewards (length bonus, T-GRPO) see whole groups.
A group's shuffled-frame rollouts are sampled once, by the process holding its first rollout, and
shared; the rollout table holds every process's rollouts.

``rollouts=ServerRollouts(...)`` generates on a vLLM server instead of with transformers
(``viss_r1.train.server_rollouts``: ``_generate_single_turn`` is overridden for that).

``kl_in_loss=False`` is ViSS-R1's RL stage: the reference model still scores every rollout and
the KL is logged under TRL's name ("kl"), but the loss has no KL term (METHOD.md §5).

Private methods are not TRL's API: these overrides follow trl 1.16.0 (``TRL_VERSION``), and
importing this module with another TRL installed stops with an error naming them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch
from accelerate.utils import gather_object
from trl import GRPOConfig, GRPOTrainer

from viss_r1.modeling.tiny import VISION_TOKENS
from viss_r1.modeling.video_inputs import model_inputs
from viss_r1.pinned_versions import private_overrides, require_version
from viss_r1.train.rollout_requests import PromptRequest, PromptRequests, prompt_key
from viss_r1.video.media import MediaInput

if TYPE_CHECKING:
    from viss_r1.train.server_rollouts import ServerRollouts

TRL_VERSION = "1.16.0"  # the version whose private methods these overrides follow
# TRL 1.16's unwrap_model_for_generation reads transformers 5's deprecated alias
# `is_gradient_checkpointing` at every rollout, and the FutureWarning would print at every step.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
VISION_FIELDS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "pixel_values", "image_grid_thw")


@dataclass
class EncodedPrompt:
    """A prompt tokenised with its media: ids with the vision placeholders expanded, and the
    vision tensors of that one sample (empty for a blind prompt)."""

    prompt_ids: list[int]
    vision: dict[str, torch.Tensor]


def concat_vision(encoded: Sequence[EncodedPrompt]) -> dict[str, torch.Tensor]:
    """The vision tensors of several samples as one batch (the processor's layout: patches and
    grids concatenated in sample order)."""
    fields: dict[str, list[torch.Tensor]] = {}
    for item in encoded:
        for name, value in item.vision.items():
            fields.setdefault(name, []).append(value)
    return {name: torch.cat(values) for name, values in fields.items()}


def mm_token_type_ids(input_ids: torch.Tensor, image_token_id: int, video_token_id: int) -> torch.Tensor:
    """0 text, 1 image, 2 video per token: the processor's convention. Without it transformers
    silently skips 3-D mRoPE (METHOD.md §9)."""
    types = torch.zeros_like(input_ids)
    types[input_ids == image_token_id] = 1
    types[input_ids == video_token_id] = 2
    return types


@dataclass
class VideoGRPOConfig(GRPOConfig):
    """TRL's ``GRPOConfig`` with what video GRPO adds (as TRL's own experimental trainers extend it)."""

    kl_in_loss: bool = field(default=True, metadata={
        "help": "β·KL in the loss. False (ViSS-R1's RL stage): the reference model still scores every rollout "
                "and the KL is logged as 'kl', but the loss has no KL term."})
    pretext_tag: str | None = field(default=None, metadata={
        "help": "The tag the prompt asks the transform letter in ('transform' or 'answer'), for the "
                "per-transform pretext accuracy; None: not logged."})
    temporal_rollouts: int = field(default=0, metadata={
        "help": "T-GRPO (Video-R1): extra rollouts per video prompt on its frames in random order, whose mean "
                "accuracy the temporal reward reads as 'shuffled_accuracy'; 0: off."})
    rollout_table_steps: int = field(default=0, metadata={
        "help": "Hand a table of the step's rollouts to rollout_sink every this many steps; 0: never."})


class VideoGRPOTrainer(GRPOTrainer):
    """GRPO whose prompts carry video (or images) from the frame cache.

    ``prompt_request(row)`` turns a dataset row into its chat messages and media (transformed or
    not, as the stage wants); rows also carry the per-sample fields the rewards read."""

    def __init__(self, *args, prompt_request: PromptRequest,
                 rollout_sink: Callable[[int, list[dict[str, Any]]], None] | None = None,
                 rollouts: ServerRollouts | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, VideoGRPOConfig):
            raise TypeError(f"VideoGRPOTrainer needs a VideoGRPOConfig (TRL's GRPOConfig with the video fields: "
                            f"kl_in_loss, pretext_tag, temporal_rollouts, rollout_table_steps), got "
                            f"{type(self.args).__name__}")
        self.temporal_rollouts = self.args.temporal_rollouts
        self.kl_in_loss = self.args.kl_in_loss
        self.rollout_sink, self.rollout_table_steps = rollout_sink, self.args.rollout_table_steps
        if self.use_vllm:
            raise ValueError("TRL's use_vllm takes images only in TRL 1.16; video rollouts on vLLM go "
                             "through a server (rollouts=ServerRollouts, grpo.use_vllm in our config)")
        self.server_rollouts = rollouts
        self._batch_rows: Sequence[Mapping[str, Any]] | None = None
        self._batch_requests: PromptRequests | None = None
        self.prompt_request = prompt_request
        self.pretext_tag = self.args.pretext_tag
        tokenizer = self.processing_class.tokenizer
        self._image_token_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self._video_token_id = tokenizer.convert_tokens_to_ids("<|video_pad|>")
        # A vision placeholder sampled into a completion would make the next forward count more
        # placeholders than vision features and fail: rollouts never emit one.
        vision_ids = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
        self.generation_config.suppress_tokens = sorted(set(self.generation_config.suppress_tokens or []) | set(vision_ids))
        self._batch_prompts: list[EncodedPrompt] | None = None
        self._policy_logps: torch.Tensor | None = None
        self._rollouts: list[dict[str, Any]] = []

    # -- encoding ------------------------------------------------------------------------------
    def prompt_requests(self, rows: Sequence[Mapping[str, Any]]) -> PromptRequests:
        """(messages, media) per distinct prompt, each clip read and transformed once: encoding,
        T-GRPO's shuffled rollouts and server rollouts of the batch all use these."""
        requests: PromptRequests = {}
        for row in rows:
            key = prompt_key(row)
            if key not in requests:
                requests[key] = self.prompt_request(row)
        return requests

    def encode_prompt(self, messages: list[dict[str, Any]], media: MediaInput) -> EncodedPrompt:
        text = self.processing_class.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        batch = model_inputs(self.processing_class, [text], [media])
        vision = {name: torch.as_tensor(batch[name]) for name in VISION_FIELDS if batch.get(name) is not None}
        return EncodedPrompt(batch["input_ids"][0].tolist(), vision)

    def encode_rows(self, rows: Sequence[Mapping[str, Any]],
                    requests: PromptRequests | None = None) -> list[EncodedPrompt]:
        """One encoding per distinct prompt: the G rollouts of a group share it."""
        requests = self.prompt_requests(rows) if requests is None else requests
        encoded = {key: self.encode_prompt(*request) for key, request in requests.items()}
        return [encoded[prompt_key(row)] for row in rows]

    def _vision_inputs(self, encoded: Sequence[EncodedPrompt], input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        device = input_ids.device
        fields = {name: value.to(device) for name, value in concat_vision(encoded).items()}
        if "pixel_values_videos" in fields:
            fields["pixel_values_videos"] = fields["pixel_values_videos"].to(self.model.dtype)
        if "pixel_values" in fields:
            fields["pixel_values"] = fields["pixel_values"].to(self.model.dtype)
        fields["mm_token_type_ids"] = mm_token_type_ids(input_ids, self._image_token_id, self._video_token_id)
        return fields

    # -- TRL overrides ---------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs):
        requests = self.prompt_requests(inputs)
        if self.temporal_rollouts:
            self._add_shuffled_accuracy(inputs, requests)
        self._batch_prompts, self._batch_rows, self._batch_requests = self.encode_rows(inputs, requests), inputs, requests
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            encoded, self._batch_prompts, self._batch_rows, self._batch_requests = self._batch_prompts, None, None, None
        output["encoded_prompts"] = encoded  # a list: TRL's shuffle/split keep it aligned with the rows
        self._record_rollouts(inputs, output)
        return output

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if self.server_rollouts is None:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        if self._batch_rows is None or len(self._batch_rows) != len(prompt_ids):
            raise RuntimeError("server rollouts run only inside _generate_and_score_completions")
        self.server_rollouts.sync_weights(self)
        return self.server_rollouts.generate(self, self._batch_rows, self._batch_requests), None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """Every process scores the whole generation batch, so a group spread over processes is
        judged whole by the group-conditional rewards (length bonus, T-GRPO).

        TRL scores each process's slice and gathers the scores. Here the rows, prompts and
        completions are gathered first, in rank order — the order of TRL's gathered rewards and of
        its per-process advantage slices. TRL's own gather then returns one copy per process, and
        rank 0's is kept, so the processes agree even on a reward that is not deterministic.
        (A reward function logging through ``log_extra``/``log_metric`` would log every rollout
        once per process; ours log nothing.)"""
        if self.accelerator.num_processes == 1:
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        whole = [gather_object(list(part)) for part in (inputs, prompts, completions, completion_ids_list)]
        return super()._calculate_rewards(*whole)[:len(whole[0])]

    def _group_starts(self, count: int) -> list[int]:
        """Local indices of the rows that begin a group. TRL hands process p rows
        [p·count, (p+1)·count) of the generation batch, whose groups are G consecutive rows."""
        group_size = self.num_generations if self.model.training else self.num_generations_eval
        offset = self.accelerator.process_index * count
        return [i for i in range(count) if (offset + i) % group_size == 0]

    def _add_shuffled_accuracy(self, rows, requests: PromptRequests | None = None) -> None:
        """T-GRPO's reference: per video prompt, the mean accuracy of ``temporal_rollouts``
        rollouts on its frames in a random order (the timing metadata stays that of the clip).
        A group is sampled once, by the process holding its first rollout; every process then
        gets every group's value, so all G rollouts are compared with the same reference."""
        requests = self.prompt_requests(rows) if requests is None else requests
        owned = {prompt_key(rows[i]): rows[i] for i in self._group_starts(len(rows))}
        shared: dict[Any, float] = {}
        for scores in gather_object([self._shuffled_accuracies(owned, requests)]):  # one dict per process
            shared.update(scores)
        for row in rows:
            row["shuffled_accuracy"] = shared.get(prompt_key(row))

    def _shuffled_accuracies(self, prompts: Mapping[Any, Mapping[str, Any]],
                             requests: PromptRequests) -> dict[Any, float]:
        """Mean accuracy of ``temporal_rollouts`` shuffled-frame rollouts per video prompt of
        ``prompts`` (by prompt key). Each process draws its own permutations, and samples from its
        own random stream (TRL seeds it per process), so two processes never shuffle or sample
        alike; every process calls this, with or without prompts (``_sample_shuffled``)."""
        import numpy as np

        from viss_r1.answers import extract_answer
        from viss_r1.rewards import accuracy

        rng = np.random.default_rng([self.args.seed, self.state.global_step, self.accelerator.process_index])
        conversations, media, owners = [], [], []
        for key, row in prompts.items():
            messages, clip = requests[key]
            if clip.data_type != "video":
                continue
            order = rng.permutation(len(clip.frames))
            shuffled = MediaInput("video", clip.frames[order], clip.video_metadata)
            conversations += [messages] * self.temporal_rollouts
            media += [shuffled] * self.temporal_rollouts
            owners += [key] * self.temporal_rollouts
        scores: dict[Any, list[float]] = {}
        for key, text in zip(owners, self._sample_shuffled(conversations, media)):
            row = prompts[key]
            scores.setdefault(key, []).append(accuracy(
                extract_answer(text), extract_answer(row["solution"]), row["problem_type"]))
        return {key: sum(values) / len(values) for key, values in scores.items()}

    def _sample_shuffled(self, conversations: Sequence[list[dict[str, Any]]], media: Sequence[MediaInput]) -> list[str]:
        """One completion per conversation, sampled as the main rollouts are: TRL's
        ``generation_config`` (temperature, top_p, top_k, min_p, repetition_penalty, max_new_tokens,
        do_sample, the suppressed vision tokens) passed whole, so a checkpoint's
        ``generation_config.json`` cannot change them (METHOD.md §9), and the model unwrapped as
        TRL unwraps it (ZeRO-3 gathers its weights on every process: each one enters, even with
        nothing to sample)."""
        from trl.models.utils import unwrap_model_for_generation

        from viss_r1.modeling.video_inputs import forward_kwargs, model_inputs

        with (unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                          gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                          generation_kwargs=self.generation_kwargs,
                                          gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs)
              as model, torch.no_grad()):
            if not conversations:
                return []
            texts = [self.processing_class.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                     for c in conversations]
            batch = forward_kwargs(model_inputs(self.processing_class, texts, media, padding_side="left"))
            batch = {name: value.to(model.device) for name, value in batch.items()}
            for name in ("pixel_values_videos", "pixel_values"):
                if name in batch:
                    batch[name] = batch[name].to(model.dtype)
            out = model.generate(**batch, generation_config=self.generation_config)
        return self.processing_class.batch_decode(out[:, batch["input_ids"].size(1):], skip_special_tokens=True)

    def _record_rollouts(self, rows, output) -> None:
        """The rollouts of the whole generation batch, gathered over processes in rank order, for
        the sample table, and the pretext accuracy per transform over them (a metric)."""
        from viss_r1.answers import extract_answer, extract_transform

        mode = "train" if self.model.training else "eval"
        ids = output["completion_ids"].masked_fill(output["completion_mask"] == 0, self._tokenizer.pad_token_id)
        texts = self.processing_class.batch_decode(ids, skip_special_tokens=True)
        self._rollouts = gather_object([
            {"sample_id": row.get("sample_id"), "transform": row.get("transform_name"),
             "transform_letter": row.get("transform_letter"), "solution": row.get("solution"),
             "completion": text, "advantage": float(advantage)}
            for row, text, advantage in zip(rows, texts, output["advantages"].tolist())])
        stage_answer = extract_transform if self.pretext_tag == "transform" else extract_answer
        by_transform: dict[str, list[float]] = {}
        for rollout in self._rollouts:
            if self.pretext_tag and rollout["transform_letter"]:
                by_transform.setdefault(rollout["transform"], []).append(
                    float(stage_answer(rollout["completion"]) == rollout["transform_letter"]))
        for name, hits in sorted(by_transform.items()):
            self._metrics[mode][f"pretext/{name}/accuracy"].append(sum(hits) / len(hits))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log(logs, start_time)
        step = self.state.global_step
        if (self.rollout_sink is not None and self.rollout_table_steps and step % self.rollout_table_steps == 0
                and self._rollouts and self.accelerator.is_main_process and "loss" in logs):
            # TRL keeps the rewards of the last generation batch gathered over processes in rank
            # order: the order of the gathered rollouts.
            for name, values in self._logs["rewards"].items():
                for rollout, value in zip(self._rollouts, list(values)[-len(self._rollouts):]):
                    rollout[f"reward/{name}"] = value
            self.rollout_sink(step, self._rollouts)

    def _tokenize_prompts(self, prompts: list):
        if self._batch_prompts is None:
            raise RuntimeError("VideoGRPOTrainer tokenises prompts only inside _generate_and_score_completions")
        encoded = self._batch_prompts
        fields: dict[str, Any] = dict(concat_vision(encoded))
        fields["mm_token_type_ids"] = [
            mm_token_type_ids(torch.tensor(e.prompt_ids), self._image_token_id, self._video_token_id).tolist()
            for e in encoded]
        return [e.prompt_ids for e in encoded], None, fields

    def _compute_loss(self, model, inputs):
        self._batch_prompts = inputs["encoded_prompts"]
        beta = self.beta
        if not self.kl_in_loss:
            self.beta = 0.0  # TRL adds beta·KL to the loss only when beta != 0
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            self.beta, self._batch_prompts = beta, None
        if not self.kl_in_loss and inputs.get("ref_per_token_logps") is not None:
            self._log_kl(inputs)
        return loss

    def _log_kl(self, inputs) -> None:
        """TRL's k3 KL of the policy to the reference, logged as "kl", never added to the loss."""
        ref, logps = inputs["ref_per_token_logps"], self._policy_logps
        mask = inputs["completion_mask"] if "tool_mask" not in inputs else inputs["completion_mask"] * inputs["tool_mask"]
        per_token_kl = torch.exp(ref - logps) - (ref - logps) - 1
        totals = self.accelerator.reduce(torch.stack([(per_token_kl * mask).sum(), mask.sum().float()]), reduction="sum")
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["kl"].append((totals[0] / totals[1].clamp(min=1.0)).item())

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **image_fields):
        encoded = self._batch_prompts
        if encoded is None or len(encoded) != input_ids.size(0):
            raise RuntimeError(f"log-prob forward of {input_ids.size(0)} sequences without their vision inputs")
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux_losses = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids, mask = input_ids[start:end], attention_mask[start:end]
            inputs = {"input_ids": ids, "attention_mask": mask, **self._vision_inputs(encoded[start:end], ids)}
            if compute_aux_loss:
                inputs["output_router_logits"] = True
            labels = ids.masked_fill(mask == 0, -100)
            labels[:, :-logits_to_keep] = -100  # only the completion is scored
            with self.accelerator.autocast():
                outputs = model(**inputs, labels=labels, fused_lm_head=True)
            logps.append(outputs.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                entropies.append(outputs.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                aux_losses.append(outputs.aux_loss)
        self._policy_logps = torch.cat(logps).detach()
        return (torch.cat(logps), torch.cat(entropies) if compute_entropy else None,
                torch.stack(aux_losses).mean() if compute_aux_loss else None)


def require_trl_version() -> None:
    """Stop unless the installed TRL is the one the private overrides above follow."""
    require_version("trl", TRL_VERSION, "VideoGRPOTrainer's overrides of GRPOTrainer",
                    private_overrides(VideoGRPOTrainer, GRPOTrainer))


require_trl_version()
