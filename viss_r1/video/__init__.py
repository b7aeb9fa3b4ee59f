"""Video I/O: probing, frame sampling (qwen-vl-utils convention), decoding, frame encoding, and
``MediaInput`` (frames + timing, what the model is shown)."""
