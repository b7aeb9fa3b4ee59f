"""Requests to a vLLM server carry the frames and timing the in-process path gives the model,
read back the way vLLM 0.33 reads them (``tests/vllm_stand_in.py``)."""

import numpy as np
import pytest
from transformers.video_utils import VideoMetadata
from vllm_stand_in import parse_chat_request

from viss_r1.data.loader import clip_metadata
from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.vllm_server import VLLMServer, chat_request
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
])
def test_server_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VLLMServer(**kwargs)
