"""What a GRPO batch asks the policy: each prompt's chat messages and media, keyed by prompt.

Shared by ``VideoGRPOTrainer``, which builds the requests, and ``ServerRollouts``, which sends
them to a vLLM server; both import this module, and neither imports the other at run time.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from viss_r1.video.media import MediaInput

# One prompt as the model is asked it: chat messages (system + user) and its media.
PromptRequest = Callable[[Mapping[str, Any]], tuple[list[dict[str, Any]], MediaInput]]
# The requests of one batch, by prompt (the G rollouts of a group share one).
PromptRequests = dict[Any, tuple[list[dict[str, Any]], MediaInput]]


def prompt_key(row: Mapping[str, Any]) -> Any:
    """The prompt a rollout row belongs to: the G rows of a group share it."""
    return row.get("sample_id", id(row))
