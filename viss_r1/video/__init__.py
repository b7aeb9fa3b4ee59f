"""Video I/O: probing, frame sampling (qwen-vl-utils convention) and decoding."""
