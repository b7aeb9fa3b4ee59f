"""Requests to a vLLM server carry the frames and timing the in-process path gives the model,
read back the way vLLM 0.33 reads them (``tests/vllm_stand_in.py``); the openai client retries
what the server failed, with backoff, and never what it refused."""

import time

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers.video_utils import VideoMetadata
from vllm_stand_in import StandInServer, parse_chat_request

from viss_r1.data.loader import clip_metadata
from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.vllm_server import (
    NO_API_KEY,
    VLLM_FIELDS,
    ServerError,
    ServerUnavailable,
    VLLMServer,
    chat_request,
    generate_with_server,
    reload_weights,
)
from viss_r1.prompts import chat_messages
from viss_r1.video.media import MediaInput


def smooth_clip(num_frames: int = 8, height: int = 56, width: int = 84) -> np.ndarray:
    """[T, C, H, W] uint8: a gradient whose brightness rises frame by frame (JPEG keeps it well)."""
    ramp = np.linspace(0, 120, width, dtype=np.float32)[None, None, :]
    frames = [np.broadcast_to(ramp + 15 * t, (3, height, width)) for t in range(num_frames)]
    return np.stack(frames).astype(np.uint8)


def video_media(frames: np.ndarray, indices: list[int]) -> MediaInput:
    timing = {"fps": 30.0, "total_num_frames": 300, "frames_indices": indices}
    return MediaInput("video", frames, clip_metadata(timing, frames))


def test_video_request_carries_every_frame_in_order_with_its_timing():
    frames = smooth_clip()
    reversed_frames = frames[::-1].copy()          # an arrow-of-time probe: order must survive
    indices = [int(i) for i in np.linspace(0, 299, 8).round()][::-1]
    media = video_media(reversed_frames, indices)
    body = chat_request("ckpt", chat_messages("How many?", "video"), media, Decoding(max_new_tokens=64))

    parsed = parse_chat_request(body)
    sent = reversed_frames.transpose(0, 2, 3, 1)
    assert parsed.video.shape == sent.shape
    assert np.abs(parsed.video.astype(int) - sent).mean() < 1.5            # JPEG quality 95
    assert (np.diff(parsed.video.mean(axis=(1, 2, 3))) < 0).all()          # still darkening: reversed
    expected = VideoMetadata(**{k: media.video_metadata[k] for k in ("fps", "total_num_frames", "frames_indices")})
    assert parsed.video_metadata.frames_indices == indices
    assert parsed.video_metadata.sampled_fps == pytest.approx(expected.sampled_fps)   # 8 / 300 × 30 = 0.8
    assert parsed.video_metadata.sampled_fps == pytest.approx(0.8)
    assert parsed.texts[-1] == "How many?" and body["model"] == "ckpt"
    assert [part["type"] for part in body["messages"][1]["content"]] == ["video_url", "text"]   # video first


def test_more_than_thirty_two_frames_all_reach_the_server():
    # vLLM keeps only the first 32 raw frames unless num_frames says otherwise
    frames = smooth_clip(num_frames=40, height=28, width=28)
    body = chat_request("m", chat_messages("q", "video"), video_media(frames, list(range(40))), Decoding())
    assert len(parse_chat_request(body).video) == 40


def test_image_and_blind_requests():
    image = smooth_clip(num_frames=1)
    body = chat_request("m", chat_messages("What is it?", "image"), MediaInput("image", image), Decoding())
    parsed = parse_chat_request(body)
    assert parsed.image.shape == (56, 84, 3) and "media_io_kwargs" not in body

    blind = chat_request("m", chat_messages("Guess.", None), MediaInput(None), Decoding())
    assert all(part["type"] == "text" for message in blind["messages"] for part in message["content"])
    assert "media_io_kwargs" not in blind


def test_decoding_maps_onto_the_request():
    media = MediaInput(None)
    sampled = chat_request("m", chat_messages("q", None), media,
                           Decoding(max_new_tokens=77, temperature=0.01, top_p=0.001, seed=5))
    assert (sampled["max_tokens"], sampled["temperature"], sampled["top_p"], sampled["seed"]) == (77, 0.01, 0.001, 5)
    greedy = chat_request("m", chat_messages("q", None), media, Decoding(do_sample=False))
    assert (greedy["temperature"], greedy["top_p"]) == (0.0, 1.0)


def test_a_video_without_timing_or_a_mismatched_media_is_refused():
    frames = smooth_clip(num_frames=4)
    with pytest.raises(ValueError, match="lacks"):
        chat_request("m", chat_messages("q", "video"), MediaInput("video", frames, {"fps": 2.0}), Decoding())
    with pytest.raises(ValueError, match="asks for a video"):
        chat_request("m", chat_messages("q", "video"), MediaInput(None), Decoding())


@pytest.mark.parametrize("kwargs, message", [
    ({"url": "127.0.0.1:8000"}, "http"),
    ({"url": "http://h:1", "max_concurrent": 0}, "max_concurrent"),
    ({"url": "http://h:1", "max_retries": -1}, "max_retries"),
    ({"url": "http://h:1", "timeout_s": 0}, "timeout_s"),
])
def test_server_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VLLMServer(**kwargs)


SERVED = [{"id": "m", "root": "m"}]


def ask_once(server: VLLMServer) -> list[dict]:
    """One blind question, sampled (so every sampling field is sent)."""
    return generate_with_server(server, "m", [chat_messages("q", None)], [MediaInput(None)],
                                Decoding(max_new_tokens=8, do_sample=True, top_k=5, repetition_penalty=1.05))


def test_a_transient_503_is_retried_with_exponential_backoff():
    with StandInServer(SERVED, refuse={0: 503, 1: 503}) as stand_in:
        start = time.monotonic()
        (answer,) = ask_once(VLLMServer(url=stand_in.url, max_retries=2))
        waited = time.monotonic() - start
    assert answer["text"].endswith("<answer>0</answer>")   # the third try was answered
    assert len(stand_in.requests) == 3
    # openai's backoff: 0.5 s, then 1 s, each less at most 25 % jitter; no backoff would take ≈0 s
    assert waited >= 0.75 * (0.5 + 1.0)
    # vLLM's own sampling fields went in extra_body and reached the body's top level, as vLLM reads them
    body = stand_in.requests[-1].body
    assert (body["top_k"], body["repetition_penalty"], body["min_p"]) == (5, 1.05, 0.0)
    assert "extra_body" not in body and {"repetition_penalty", "top_k", "min_p"} <= set(VLLM_FIELDS)


def test_a_server_still_failing_after_the_retries_stops_the_run():
    with StandInServer(SERVED, refuse={n: 503 for n in range(3)}) as stand_in:
        with pytest.raises(ServerUnavailable, match="answered 503"):
            ask_once(VLLMServer(url=stand_in.url, max_retries=2))
    assert len(stand_in.requests) == 3   # the first try and two retries
    with StandInServer(SERVED, refuse={0: 503}) as stand_in:
        with pytest.raises(ServerUnavailable, match="answered 503"):
            ask_once(VLLMServer(url=stand_in.url, max_retries=0))
    assert len(stand_in.requests) == 1


def test_a_refused_request_is_the_samples_error_and_is_not_retried():
    with StandInServer(SERVED, refuse={0: 400}) as stand_in:
        server = VLLMServer(url=stand_in.url, max_retries=2)
        with pytest.raises(ServerError, match="answered 400.*refused request 0") as refused:
            ask_once(server)
        assert not isinstance(refused.value, ServerUnavailable)   # the sample fails, not the run
        assert len(stand_in.requests) == 1
        assert len(ask_once(server)) == 1 and len(stand_in.requests) == 2   # the server itself is fine


def test_a_server_that_does_not_answer_in_time_is_unavailable():
    with StandInServer(SERVED, delay_s=2.0) as stand_in:
        with pytest.raises(ServerUnavailable, match="within timeout_s 0.5"):
            ask_once(VLLMServer(url=stand_in.url, timeout_s=0.5, max_retries=0))


def test_the_api_key_is_read_from_the_configured_environment_variable(monkeypatch, tmp_path):
    folder = tmp_path / "step_0000001"
    folder.mkdir()
    save_file({"w": torch.ones(2)}, folder / "model.safetensors")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    monkeypatch.setenv("EVAL_SERVER_KEY", "s3cret")
    with StandInServer(SERVED) as stand_in:
        ask_once(VLLMServer(url=stand_in.url))
        ask_once(VLLMServer(url=stand_in.url, api_key_env="EVAL_SERVER_KEY"))
        reload_weights(VLLMServer(url=stand_in.url, api_key_env="EVAL_SERVER_KEY"), str(folder))
    assert stand_in.authorizations == [f"Bearer {NO_API_KEY}", "Bearer s3cret", "Bearer s3cret"]
    assert "s3cret" not in VLLMServer(url=stand_in.url, api_key_env="EVAL_SERVER_KEY").model_dump_json()


def test_the_weight_reload_retries_an_unavailable_server_but_not_a_failed_reload(tmp_path):
    folder = tmp_path / "step_0000001"
    folder.mkdir()
    save_file({"w": torch.ones(2)}, folder / "model.safetensors")
    with StandInServer(SERVED, refuse_reloads={0: 503, 1: 503}) as stand_in:
        start = time.monotonic()
        reload_weights(VLLMServer(url=stand_in.url, max_retries=2), str(folder))
        waited = time.monotonic() - start
    assert stand_in.reload_calls == 3 and [path for path, _ in stand_in.reloads] == [str(folder)]
    assert torch.equal(stand_in.reloads[0][1]["w"], torch.ones(2))
    assert waited >= 0.5   # urllib3's backoff before the second retry (0.5 s × 2¹)

    empty = tmp_path / "empty"
    empty.mkdir()
    with StandInServer(SERVED) as stand_in:   # answers 500: no safetensors there, which a retry cannot mend
        with pytest.raises(ServerUnavailable, match="answered 500 to reloading"):
            reload_weights(VLLMServer(url=stand_in.url, max_retries=2), str(empty))
    assert stand_in.reload_calls == 1
