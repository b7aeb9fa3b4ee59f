"""A stand-in for ``vllm serve``'s OpenAI-compatible API, for tests on a machine without vLLM.

Request parsing follows vLLM 0.33 (``vllm/multimodal/media/video.py``, ``VideoMediaIO.load_base64``):
a ``data:video/jpeg;base64,<f1>,<f2>,…`` URL is split on commas and each part decoded as an image;
the video's timing comes from the request's ``media_io_kwargs["video"]`` (``fps``, default 1;
``frames_indices``, whose length must equal the frame count; ``total_num_frames`` ≥ that count;
``duration``) and becomes transformers' ``VideoMetadata``, from which Qwen2.5-VL's processor takes
``sampled_fps``. Instead of a model, the stand-in answers with what it received, so a test can see
what reached the server: ``<answer>{frames}</answer>`` (0 without video), and counts its length in
characters as the completion's tokens. Asked for ``n`` completions with ``return_token_ids``, it
answers each with ``rollout_ids(parsed, i)``. ``POST /collective_rpc`` with method
``reload_weights`` reads the checkpoint folder's safetensors, as vLLM's in-place reload does, and
keeps the tensors it read (``reloads``). Every request's ``Authorization`` header is kept
(``authorizations``), so a test can see the API key that was sent.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image


@dataclass
class ParsedRequest:
    body: dict[str, Any]
    texts: list[str]
    video: np.ndarray | None = None         # [T, H, W, 3]
    video_metadata: Any = None              # transformers VideoMetadata
    image: np.ndarray | None = None


def parse_chat_request(body: dict[str, Any]) -> ParsedRequest:
    """What vLLM 0.33 makes of a chat-completions body (the parts this project sends)."""
    from transformers.video_utils import VideoMetadata

    parsed = ParsedRequest(body=body, texts=[])
    for message in body["messages"]:
        for part in message["content"]:
            if part["type"] == "text":
                parsed.texts.append(part["text"])
            elif part["type"] == "image_url":
                header, data = part["image_url"]["url"].split(",", 1)
                assert header == "data:image/jpeg;base64", header
                parsed.image = np.asarray(Image.open(io.BytesIO(base64.b64decode(data, validate=True))).convert("RGB"))
            elif part["type"] == "video_url":
                header, data = part["video_url"]["url"].split(",", 1)
                assert header == "data:video/jpeg;base64", header
                kwargs = (body.get("media_io_kwargs") or {}).get("video", {})
                num_frames = kwargs.get("num_frames", 32)   # vLLM's default keeps only the first 32
                frames = data.split(",") if num_frames < 0 else data.split(",", num_frames)[:num_frames]
                parsed.video = np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(f, validate=True))))
                                         for f in frames])
                total = len(frames)
                fps = float(kwargs.get("fps", 1))
                indices = kwargs.get("frames_indices", list(range(total)))
                if not (isinstance(indices, list) and all(isinstance(i, int) for i in indices)):
                    raise ValueError("frames_indices must be a list of integers")
                if len(indices) != total:
                    raise ValueError(f"frames_indices length ({len(indices)}) must match number of frames sent ({total})")
                total_num_frames = kwargs.get("total_num_frames", total)
                if not isinstance(total_num_frames, int) or total_num_frames < total:
                    raise ValueError("total_num_frames must be an integer ≥ the frames sent")
                duration = kwargs.get("duration", total_num_frames / fps)
                parsed.video_metadata = VideoMetadata(total_num_frames=total_num_frames, fps=fps, duration=duration,
                                                      video_backend="jpeg_sequence", frames_indices=indices)
            else:
                raise ValueError(f"unexpected content part {part['type']!r}")
    return parsed


@dataclass
class StandInServer:
    """Serves ``models`` on 127.0.0.1; ``refuse`` maps a request number (from 0) to the status it
    answers with instead, ``refuse_reloads`` the same for weight reloads; ``delay_s`` keeps each
    request in flight a while (to see concurrency)."""

    models: list[dict[str, str]]
    refuse: dict[int, int] = field(default_factory=dict)
    delay_s: float = 0.0
    rollout_ids: Any = None                 # (ParsedRequest, choice index) -> token ids
    requests: list[ParsedRequest] = field(default_factory=list)
    reloads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refuse_reloads: dict[int, int] = field(default_factory=dict)
    reload_calls: int = 0
    authorizations: list[str | None] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> "StandInServer":
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            number = len(self.requests)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            time.sleep(self.delay_s)
            parsed = parse_chat_request(body)
            with self._lock:
                self.requests.append(parsed)
            if number in self.refuse:
                return self.refuse[number], {"error": {"message": f"refused request {number}"}}
            if body.get("return_token_ids"):
                choices = [{"index": i, "message": {"role": "assistant", "content": ""},
                            "token_ids": self.rollout_ids(parsed, i)} for i in range(body.get("n", 1))]
                return 200, {"choices": choices, "usage": {"completion_tokens": 0, "prompt_tokens": 1}}
            frames = 0 if parsed.video is None else len(parsed.video)
            text = f"<think>I see {frames} frames.</think><answer>{frames}</answer>"
            return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                         "usage": {"completion_tokens": len(text), "prompt_tokens": 1}}
        finally:
            with self._lock:
                self._in_flight -= 1

    def _rpc(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        from pathlib import Path

        from safetensors.torch import load_file

        number, self.reload_calls = self.reload_calls, self.reload_calls + 1
        if number in self.refuse_reloads:
            return self.refuse_reloads[number], {"error": {"message": f"refused reload {number}"}}
        if body.get("method") != "reload_weights":
            return 400, {"error": {"message": f"unexpected method {body.get('method')!r}"}}
        folder = Path(body["kwargs"]["weights_path"])
        tensors: dict[str, Any] = {}
        for file in sorted(folder.glob("*.safetensors")):
            tensors.update(load_file(file))
        if not tensors:
            return 500, {"error": {"message": f"no safetensors in {folder}"}}
        self.reloads.append((str(folder), tensors))
        return 200, {"results": [None]}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.authorizations.append(self.headers.get("Authorization"))
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"object": "model", **m} for m in server.models]})
                else:
                    self._send(404, {"error": {"message": self.path}})

            def do_POST(self) -> None:
                server.authorizations.append(self.headers.get("Authorization"))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/v1/chat/completions":
                    self._send(*server._answer(body))
                elif self.path == "/collective_rpc":
                    self._send(*server._rpc(body))
                else:
                    self._send(404, {"error": {"message": self.path}})

        return Handler
