"""Generation on a vLLM server (OpenAI-compatible chat completions): evaluation answers and GRPO
rollouts.

vLLM pins its own torch and transformers (0.33: torch 2.14.0, transformers < 5.21), so it cannot
share this project's environment; it runs as a server in its own, started by the user:

    vllm serve <checkpoint folder or hub id> --host 127.0.0.1 --port 8000

and evaluation sends it requests. Each request carries the frames the in-process path would
give the model, not the video file: the frame cache's sampled, resized and (for a probe)
transformed frames go as vLLM's raw-frame video format (``data:video/jpeg;base64,<f1>,<f2>,…``,
JPEG quality 95), and their timing goes as the request's ``media_io_kwargs`` (source fps, the
source index of every frame, the source frame count), from which vLLM's Qwen2.5-VL processor
derives the same ``second_per_grid_ts`` as ours. Requests are sent concurrently; the server
batches them itself (continuous batching).

Decoding maps onto the request: ``max_new_tokens`` → ``max_tokens``, ``temperature``, ``top_p``,
``seed``; ``do_sample: false`` → temperature 0 (greedy).

Requests go through the ``openai`` client (``base_url`` the server's ``/v1``, ``timeout``,
``max_retries`` with its exponential backoff on a connection error, a timeout, 408, 429 and 5xx);
the fields vLLM adds to the OpenAI API (``VLLM_FIELDS``) travel in its ``extra_body``. Its typed
errors become ours: a refusal (4xx) is that sample's ``ServerError``; no answer, a timeout or a
5xx after the retries is ``ServerUnavailable``, which stops the run.

Rollouts (``sample_completions``) ask for ``n`` completions of one prompt with their token ids, and
keep the policy's weights current on the server (``reload_weights``): the trainer writes them as a
checkpoint folder the server can read, and vLLM's development endpoint ``/collective_rpc`` reloads
them in place (the server runs with ``VLLM_SERVER_DEV_MODE=1``). That endpoint is not part of the
OpenAI API, so it is called with ``requests`` (same timeout; retried on a dropped connection or a
502/503/504, with backoff). It has no authentication, so such a server listens on loopback only
(``--host 127.0.0.1``).
"""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.video_inputs import missing_timing
from viss_r1.video.encoding import FrameEncoding, encode_frame
from viss_r1.video.media import MediaInput

if TYPE_CHECKING:
    from openai import OpenAI

WIRE_ENCODING = FrameEncoding(format="jpeg", quality=95)   # vLLM's raw-frame video is a JPEG sequence
# Request fields vLLM reads beyond the OpenAI API: the openai client sends them in ``extra_body``.
VLLM_FIELDS = ("repetition_penalty", "top_k", "min_p", "media_io_kwargs", "return_token_ids")
NO_API_KEY = "EMPTY"   # what a server started without --api-key is sent (the client requires some key)
CONNECT_TIMEOUT_S = 10.0   # a server that does not take the connection by then is not there
RETRY_BACKOFF_S = 0.5      # the weight reload's first retry waits this long, then doubles (as openai's)


class VLLMServer(BaseModel):
    """A vLLM server to generate on (evaluation answers, GRPO rollouts). ``url`` empty: generate
    in process, with transformers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = ""               # e.g. http://127.0.0.1:8000 (the server's root, without /v1)
    served_model: str = ""      # the name it serves the model under; "": the model path it was started with
    max_concurrent: int = 64    # requests in flight at once
    timeout_s: float = 600.0    # per request (a long video answer, or a 7B checkpoint's reload)
    max_retries: int = 2        # per request, with exponential backoff, when the server drops or fails it
    # The environment variable holding the key the server was started with (``vllm serve
    # --api-key``); the key itself never enters a run config, which is logged and hashed.
    api_key_env: str = "VLLM_API_KEY"

    @model_validator(mode="after")
    def _check(self) -> VLLMServer:
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"vllm_server.url {self.url!r} must start with http:// or https://")
        if self.max_concurrent < 1:
            raise ValueError(f"vllm_server.max_concurrent must be ≥ 1, got {self.max_concurrent}")
        if self.timeout_s <= 0:
            raise ValueError(f"vllm_server.timeout_s must be > 0, got {self.timeout_s}")
        if self.max_retries < 0:
            raise ValueError(f"vllm_server.max_retries must be ≥ 0 (0: no retry), got {self.max_retries}")
        return self

    @property
    def api(self) -> str:
        return self.url.rstrip("/") + "/v1"


class ServerError(RuntimeError):
    """The server refused a request (4xx: that sample's failure) or serves another model."""


class ServerUnavailable(ServerError):
    """The server cannot be reached, did not answer in time or failed (5xx, 408, 429), still so
    after ``max_retries``: the run stops, and a rerun resumes after the finished samples rather
    than recording the rest as failed."""


def _api_key(server: VLLMServer) -> str | None:
    return os.environ.get(server.api_key_env) if server.api_key_env else None


def openai_client(server: VLLMServer) -> OpenAI:
    """The openai client for ``server`` (close it, or use it as a context manager, when done)."""
    from openai import OpenAI, Timeout

    return OpenAI(base_url=server.api, api_key=_api_key(server) or NO_API_KEY, max_retries=server.max_retries,
                  timeout=Timeout(server.timeout_s, connect=min(CONNECT_TIMEOUT_S, server.timeout_s)))


@contextmanager
def _server_errors(server: VLLMServer) -> Iterator[None]:
    """openai's typed errors, after its retries, as ours: what the server refused (4xx) is a
    ``ServerError``; no answer in time, no connection or a failure on its side (5xx; 408 and 429,
    still so after the retries) is ``ServerUnavailable``."""
    import openai

    try:
        yield
    except openai.APITimeoutError as error:
        raise ServerUnavailable(f"vLLM server at {server.url} did not answer within timeout_s {server.timeout_s} s "
                                f"({server.max_retries} retries); raise vllm_server.timeout_s for long "
                                "generations, or check that the server is up") from error
    except openai.APIConnectionError as error:
        cause = error.__cause__ or error
        raise ServerUnavailable(f"vLLM server at {server.url} cannot be reached after {server.max_retries} retries "
                                f"({type(cause).__name__}: {cause})") from error
    except openai.APIStatusError as error:
        status = error.status_code
        unavailable = isinstance(error, (openai.InternalServerError, openai.RateLimitError)) or status == 408
        hint = ""
        if isinstance(error, openai.AuthenticationError):
            hint = f"; set ${server.api_key_env} to the key the server was started with (--api-key)"
        raise (ServerUnavailable if unavailable else ServerError)(
            f"vLLM server at {server.url} answered {status}: {error.response.text[:500]}{hint}") from error
    except openai.APIError as error:   # an answer that is not the OpenAI API's
        raise ServerError(f"vLLM server at {server.url}: {type(error).__name__}: {error}") from error


def _create(client: OpenAI, body: Mapping[str, Any]):
    """``chat.completions.create`` with ``body`` (``chat_request``'s wire form): the OpenAI
    fields as arguments, vLLM's own (``VLLM_FIELDS``) in ``extra_body``."""
    standard = {key: value for key, value in body.items() if key not in VLLM_FIELDS}
    extra = {key: value for key, value in body.items() if key in VLLM_FIELDS}
    return client.chat.completions.create(**standard, extra_body=extra)


def _jpeg_base64(frame_chw: np.ndarray) -> str:
    jpeg = encode_frame(np.ascontiguousarray(frame_chw.transpose(1, 2, 0)), WIRE_ENCODING)
    return base64.b64encode(jpeg).decode("ascii")


def _media_part(media: MediaInput) -> dict[str, Any]:
    if media.data_type == "image":
        return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + _jpeg_base64(media.frames[0])}}
    frames = ",".join(_jpeg_base64(frame) for frame in media.frames)
    return {"type": "video_url", "video_url": {"url": "data:video/jpeg;base64," + frames}}


def _video_timing(media: MediaInput) -> dict[str, Any]:
    """The frames' timing as vLLM's raw-frame loader reads it (num_frames -1: keep every frame sent)."""
    meta = media.video_metadata
    missing = missing_timing(meta)
    if missing:
        raise ValueError(f"video_metadata lacks {missing}: the server would assume 1 fps and lose frame timing")
    timing = {"num_frames": -1, "fps": float(meta["fps"]), "total_num_frames": int(meta["total_num_frames"]),
              "frames_indices": [int(i) for i in meta["frames_indices"]]}
    if meta.get("duration") is not None:
        timing["duration"] = float(meta["duration"])
    return timing


def chat_request(model: str, messages: Sequence[Mapping[str, Any]], media: MediaInput,
                 decoding: Decoding) -> dict[str, Any]:
    """The chat-completions body the server receives for one conversation
    (``viss_r1.prompts.chat_messages`` form, whose ``{"type": "video"}``/``{"type": "image"}`` part
    marks where the media goes); ``_create`` sends it through the openai client."""
    converted = []
    for message in messages:
        content = []
        for part in message["content"]:
            if part["type"] in ("video", "image"):
                if media.data_type != part["type"] or media.frames is None:
                    raise ValueError(f"the conversation asks for a {part['type']} but the sample has "
                                     f"{media.data_type or 'no media'}")
                content.append(_media_part(media))
            else:
                content.append({"type": "text", "text": part["text"]})
        converted.append({"role": message["role"], "content": content})
    body: dict[str, Any] = {
        "model": model, "messages": converted, "max_tokens": decoding.max_new_tokens,
        "temperature": decoding.temperature if decoding.do_sample else 0.0,
        "top_p": decoding.top_p if decoding.do_sample else 1.0, "seed": decoding.seed, "n": 1,
        # vLLM fills what a request leaves unset from the checkpoint's generation_config
        # (METHOD.md §9): every sampling parameter is sent, -1 being vLLM's "top_k off".
        "repetition_penalty": decoding.repetition_penalty,
        "top_k": decoding.top_k if decoding.do_sample and decoding.top_k > 0 else -1, "min_p": 0.0,
    }
    if media.data_type == "video" and media.frames is not None:
        body["media_io_kwargs"] = {"video": _video_timing(media)}
    return body


def served_model_name(server: VLLMServer, model: str) -> str:
    """The name to send requests under, after checking that the server serves ``model``
    (by name, or by the path it was started with), so a run never scores the wrong model."""
    try:
        with openai_client(server) as client, _server_errors(server):
            served = [(entry.id, getattr(entry, "root", None)) for entry in client.models.list().data]
    except ServerError as error:
        raise ServerUnavailable(f"vLLM server at {server.url} cannot be reached or did not list its models "
                                f"({type(error).__name__}: {error}); start it with `vllm serve {model}` or set "
                                "vllm_server.url to '' to generate in process") from error
    wanted = server.served_model or model
    for name, root in served:
        if wanted in (name, root):
            return name
    names = [name for name, _ in served]
    raise ServerError(f"vLLM server at {server.url} serves {names}, not {wanted!r}; start it with "
                      f"`vllm serve {model}` or set vllm_server.served_model to the name it serves it under")


def _complete(client: OpenAI, server: VLLMServer, body: Mapping[str, Any]) -> dict[str, Any]:
    with _server_errors(server):
        answer = _create(client, body)
    return {"text": answer.choices[0].message.content or "", "num_tokens": int(answer.usage.completion_tokens)}


def generate_with_server(server: VLLMServer, model: str, conversations: Sequence[Sequence[Mapping[str, Any]]],
                         media: Sequence[MediaInput], decoding: Decoding) -> list[dict[str, Any]]:
    """One completion per conversation, ``{"text", "num_tokens"}`` in input order, like
    ``viss_r1.modeling.generation.generate_completions``. Raises if any request fails."""
    bodies = [chat_request(model, messages, item, decoding) for messages, item in zip(conversations, media)]
    with openai_client(server) as client, \
            ThreadPoolExecutor(max_workers=min(server.max_concurrent, max(len(bodies), 1))) as pool:
        return list(pool.map(lambda body: _complete(client, server, body), bodies))


def sample_completions(client: OpenAI, server: VLLMServer, body: Mapping[str, Any], n: int,
                       suppress_token_ids: Sequence[int] = ()) -> list[list[int]]:
    """``n`` sampled completions of one chat request, as token ids (ending in the end-of-turn
    token when the completion finished). ``suppress_token_ids`` are never sampled (a vision
    placeholder in a completion would break the next forward). ``client``: ``openai_client(server)``."""
    request = {**body, "n": n, "return_token_ids": True}
    if suppress_token_ids:
        request["logit_bias"] = {str(token): -100 for token in suppress_token_ids}
    with _server_errors(server):
        answer = _create(client, request)
    choices = sorted(answer.choices, key=lambda choice: choice.index)
    token_ids = [getattr(choice, "token_ids", None) for choice in choices]   # vLLM's field, not OpenAI's
    if len(choices) != n or any(ids is None for ids in token_ids):
        raise ServerError(f"vLLM server at {server.url} returned {len(choices)} completions without token ids "
                          f"for n={n}: rollouts need vLLM ≥ 0.10 (return_token_ids)")
    return [list(ids) for ids in token_ids]


def reload_weights(server: VLLMServer, folder: str) -> None:
    """Make the server generate with the checkpoint in ``folder`` (safetensors + config), which
    must be readable at that path on the server's machine. Reloading one folder twice does no
    harm, so a dropped connection or a 502/503/504 is retried (``max_retries``, with backoff)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(total=server.max_retries, backoff_factor=RETRY_BACKOFF_S, status_forcelist=(502, 503, 504),
                  allowed_methods=frozenset({"POST"}), raise_on_status=False)
    key = _api_key(server)
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        try:
            response = session.post(server.url.rstrip("/") + "/collective_rpc",
                                    json={"method": "reload_weights",
                                          "kwargs": {"weights_path": folder, "is_checkpoint_format": True}},
                                    headers={"Authorization": f"Bearer {key}"} if key else {},
                                    timeout=(min(CONNECT_TIMEOUT_S, server.timeout_s), server.timeout_s))
        except requests.RequestException as error:
            raise ServerUnavailable(f"vLLM server at {server.url} did not reload the weights in {folder} after "
                                    f"{server.max_retries} retries ({type(error).__name__}: {error})") from error
    if response.status_code == 404:
        raise ServerError(f"vLLM server at {server.url} has no /collective_rpc: start it with "
                          "VLLM_SERVER_DEV_MODE=1 so the trainer can push the policy's weights")
    if response.status_code != 200:
        failure = ServerUnavailable if response.status_code >= 500 else ServerError
        raise failure(f"vLLM server at {server.url} answered {response.status_code} to reloading the weights in "
                      f"{folder}: {response.text[:500]}")
