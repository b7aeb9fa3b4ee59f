"""Evaluation throughput: samples/s of batched generation against one-by-one generation.

The same model, the same clean benchmark requests (R1 prompt, real clips with their timing), the
same decoding; only the batch size differs. By default the newest ``viss_r1_model`` and the
newest ``benchmark_synthetic`` of a state folder (after ``make run``); ``--model`` scores another
checkpoint folder. Every sample is answered to ``--max-new-tokens`` (``min_new_tokens`` is set to
the same), so both runs generate exactly the same number of tokens and the ratio measures
batching, not how early a model happens to stop.

    .venv/bin/python benchmarks/eval_throughput.py [--state state] [--samples 48] [--batch-size 16] [--rounds 2]

Batched and one-by-one runs alternate ``--rounds`` times; the figure is the best round of each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from viss_r1.artifacts import ArtifactStore
from viss_r1.data.frame_cache import FrameCacheReader, shard_files
from viss_r1.evaluate.probes import Condition, request
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT
from viss_r1.stages import VISS_R1_GRPO


def newest(store: ArtifactStore, asset: str) -> Path:
    manifests = sorted(Path(store.root, asset).glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    if not manifests:
        raise SystemExit(f"no {asset} artifact under {store.root}: run `make run` first")
    return manifests[-1].parent


def timed(model, processor, conversations, media, batch_size: int, tokens: int) -> float:
    import torch

    from viss_r1.modeling.tiny import VISION_TOKENS
    from viss_r1.modeling.video_inputs import forward_kwargs, model_inputs

    tokenizer = processor.tokenizer
    suppress = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))

    started = time.perf_counter()
    for start in range(0, len(conversations), batch_size):
        chunk = slice(start, start + batch_size)
        texts = [processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations[chunk]]
        batch = model_inputs(processor, texts, media[chunk], padding_side="left")
        with torch.inference_mode():
            out = model.generate(**forward_kwargs(batch), max_new_tokens=tokens, min_new_tokens=tokens,
                                 suppress_tokens=suppress, pad_token_id=tokenizer.pad_token_id,
                                 do_sample=True, temperature=0.01, top_p=0.001)
        assert out.shape[1] - batch["input_ids"].shape[1] == tokens
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", default="state")
    parser.add_argument("--asset", default=VISS_R1_GRPO.model)
    parser.add_argument("--model", help="a checkpoint folder instead of the asset's newest")
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import torch

    from viss_r1.modeling.generation import load_for_generation

    torch.set_num_threads(2)
    store = ArtifactStore(str(Path(args.state) / "artifacts"))
    model_dir = Path(args.model) if args.model else newest(store, args.asset) / "model"
    bench = newest(store, "benchmark_synthetic")
    records = pl.read_parquet(bench / "records.parquet").filter(pl.col("reason").is_null()).head(args.samples)
    records = [{**r, "sample_id": f"{r['source']}/{r['record_index']}"} for r in records.to_dicts()]
    frames = FrameCacheReader(shard_files(store, bench))
    requests = [request(Condition("clean", "clean"), r, frames, DEFAULT_SYSTEM_PROMPT, 0) for r in records]
    conversations, media = [m for m, _ in requests], [x for _, x in requests]
    model, processor = load_for_generation(str(model_dir))
    print(f"{model_dir}: {len(records)} clean synthetic samples, {args.max_new_tokens} new tokens each, "
          f"{media[0].frames.shape[0]} frames of {media[0].frames.shape[2]}×{media[0].frames.shape[3]}")

    timed(model, processor, conversations[:2], media[:2], 2, 4)   # warm-up
    best = {1: float("inf"), args.batch_size: float("inf")}
    for round_number in range(args.rounds):
        for size in best:
            seconds = timed(model, processor, conversations, media, size, args.max_new_tokens)
            best[size] = min(best[size], seconds)
            print(f"  round {round_number + 1}: batch {size:3d}: {len(records) / seconds:6.2f} samples/s "
                  f"({seconds:.1f} s)")
    one, batched = len(records) / best[1], len(records) / best[args.batch_size]
    print(f"one by one: {one:.2f} samples/s · batch {args.batch_size}: {batched:.2f} samples/s · "
          f"batching speed-up {batched / one:.2f}×")


if __name__ == "__main__":
    main()
