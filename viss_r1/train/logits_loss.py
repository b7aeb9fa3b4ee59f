"""The SFT loss from the full logits, instead of TRL's fused LM-head kernel.

TRL's ``SFTTrainer`` computes the next-token loss with a chunked kernel that never builds the
vocabulary's logits (``fused_lm_head=True``): the right choice for a 150k-token vocabulary, where
the logits of one long row take gigabytes. On the tiny model's 1,215-token vocabulary the logits
are small and the kernel's tiling is pure overhead: a fifth of an SFT step on two cores. ``LogitsLoss``
is a mixin for ``SFTTrainer`` that computes the same loss the way transformers' own loss (and the
release) does: the logits, log-softmax, the label's log-probability, summed over the label tokens
and divided by their count (``num_items_in_batch`` over gradient accumulation, as TRL). It logs
the same metrics as TRL's path (entropy, mean token accuracy, tokens seen). Same mathematics, other
rounding: the weights agree to ≈4e-5 after 120 steps, not to the bit.
"""

from __future__ import annotations

import functools

from viss_r1.train.sft_data import IGNORE_INDEX


def next_token_loss(logits, labels, num_items_in_batch=None):
    """(summed loss / label tokens, per-position log-probabilities, label mask) of ``logits`` (B×T×V)
    predicting ``labels`` (B×T) shifted by one: position t predicts the label at t+1."""
    import torch

    target = labels[:, 1:]
    mask = target != IGNORE_INDEX
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = log_probs.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    count = mask.sum() if num_items_in_batch is None else num_items_in_batch
    loss = -(picked * mask).sum() / torch.as_tensor(count, device=picked.device).clamp(min=1)
    return loss, log_probs, mask


class LogitsLoss:
    """Mixin before TRL's ``SFTTrainer`` in the bases: ``compute_loss`` from the full logits."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        import torch

        if self.aux_loss_enabled or self.args.loss_type != "nll" or self.label_smoother is not None:
            raise ValueError("the SFT loss from logits is the plain next-token loss: it has no router aux "
                             f"loss, label smoothing or loss_type {self.args.loss_type!r}; use the fused loss")
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        outputs = model(**{key: value for key, value in inputs.items() if key != "labels"})
        loss, log_probs, mask = next_token_loss(outputs.logits, inputs["labels"], num_items_in_batch)
        # As TRL: with the token count of every rank, DDP's gradient average would divide once more.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        with torch.no_grad():
            entropy = -(log_probs.exp() * log_probs).sum(-1)
            top1 = log_probs.argmax(-1) == inputs["labels"][:, 1:]
            gather = self.accelerator.gather_for_metrics
            valid = gather(mask.sum()).sum()
            entropy_sum = gather((entropy * mask).sum()).sum()
            correct = gather((top1 & mask).sum()).sum()
            self._metrics[mode]["entropy"].append((entropy_sum / valid).item() if valid > 0 else 0.0)
            self._metrics[mode]["mean_token_accuracy"].append((correct / valid).item() if valid > 0 else 0.0)
            if mode == "train":
                self._total_train_tokens += gather(inputs["attention_mask"].sum()).sum().item() // self._tp_size
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, outputs) if return_outputs else loss


@functools.cache
def with_logits_loss(trainer_class: type) -> type:
    """``trainer_class`` (TRL's ``SFTTrainer``, maybe with other mixins) with ``LogitsLoss`` mixed in,
    so the trainer modules keep importing TRL lazily."""
    return type(trainer_class.__name__, (LogitsLoss, trainer_class), {"__module__": __name__})
