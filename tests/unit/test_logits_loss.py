"""The SFT loss from the full logits: the next-token loss, shifted by one, over the label tokens."""

import math

import pytest
import torch

from viss_r1.train.logits_loss import IGNORE_INDEX, next_token_loss


def test_uniform_logits_cost_log_vocabulary_per_label_token():
    logits = torch.zeros(2, 5, 7)
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[0, 2:] = 3          # 3 label tokens (positions 2, 3, 4; position 0's label is never predicted)
    labels[1, 4] = 6           # 1 more
    loss, _, mask = next_token_loss(logits, labels)
    assert mask.sum().item() == 4
    assert loss.item() == pytest.approx(math.log(7))


def test_position_t_predicts_the_label_at_t_plus_one_and_ignored_tokens_cost_nothing():
    vocabulary = 4
    logits = torch.full((1, 3, vocabulary), -30.0)
    logits[0, 0, 2] = 30.0     # position 0 is sure of token 2
    logits[0, 1, 1] = 30.0     # position 1 is sure of token 1 (wrongly: its label is 3)
    labels = torch.tensor([[IGNORE_INDEX, 2, 3]])
    loss, log_probs, _ = next_token_loss(logits, labels)
    wrong = -log_probs[0, 1, 3].item()
    assert wrong == pytest.approx(60.0, abs=1e-3)
    assert loss.item() == pytest.approx(wrong / 2, abs=1e-3)    # the sure, right token costs ≈0


def test_a_token_count_given_over_accumulation_divides_the_summed_loss():
    logits = torch.zeros(1, 3, 5)
    labels = torch.tensor([[0, 1, 2]])
    loss, _, _ = next_token_loss(logits, labels, num_items_in_batch=torch.tensor(8))
    assert loss.item() == pytest.approx(2 * math.log(5) / 8)


def test_the_gradient_reaches_the_logits():
    logits = torch.randn(1, 4, 6, requires_grad=True)
    labels = torch.tensor([[IGNORE_INDEX, 1, IGNORE_INDEX, 5]])
    next_token_loss(logits, labels)[0].backward()
    grad = logits.grad[0].abs().sum(-1)
    assert grad[0] > 0 and grad[2] > 0          # positions 0 and 2 predict labels 1 and 5
    assert grad[1] == 0 and grad[3] == 0        # position 1 predicts an ignored token; 3 predicts nothing
