"""Did a training stage teach the tiny model anything? Its curve and a held-out transform probe.

Reads the newest artifact of a model asset (``sft_model`` by default, or ``viss_r1_model``, …) of a
state folder (after ``make run``) and follows its lineage to the frame cache and the records.
Prints the training loss (SFT) or mean reward (GRPO) at the start and the end, then asks the model about every held-out (eval-split) video under every option of each video
transform — forward and reversed, every angle, every swap — through the evaluation's
``transformed`` condition (``viss_r1.evaluate.run.ask_rows``, ViSS-R1 format), and prints pretext
accuracy against chance (with a one-sided binomial p-value), the answer score (the evaluation's
scoring) and format compliance. Goals: SFT (issue 3) loss well below its start, arrow accuracy above chance;
ViSS-R1 RL (issue 4) mean reward rises, transform accuracy well above chance.

    .venv/bin/python benchmarks/learning_check.py [--asset viss_r1_model] [--state state] [--transforms arrow rotate]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import polars as pl

from viss_r1.artifacts import ArtifactStore
from viss_r1.data.frame_cache import open_frame_cache
from viss_r1.data.pretext_samples import PretextSettings, PretextUse, build_use_table, records_with_clips
from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.evaluate.config import EvalSettings
from viss_r1.evaluate.probes import TRANSFORMED, chance, every_option
from viss_r1.evaluate.run import ask_rows, in_process
from viss_r1.evaluate.scores import pretext_accuracy
from viss_r1.modeling.generation import Decoding
from viss_r1.rewards import format_score
from viss_r1.stages import SSL_COT_SFT


def newest(store: ArtifactStore, asset: str) -> str:
    manifests = sorted((store.local_path(store.ref(asset, p.parent.name)) / "manifest.json"
                        for p in Path(store.root, asset).glob("*/manifest.json")), key=lambda p: p.stat().st_mtime)
    if not manifests:
        raise SystemExit(f"no {asset} artifact under {store.root}: run `make run` first")
    return manifests[-1].parent.name


def input_keys(store: ArtifactStore, asset: str, key: str, names: tuple[str, ...]) -> dict[str, str]:
    """The input keys an artifact was built from (its manifest's lineage); artifacts built before
    lineage was recorded fall back to the newest artifact of each input."""
    recorded = store.manifest(asset, key)["summary"].get("inputs")
    if recorded is None:
        print(f"note: {asset} {key} has no recorded lineage; using the newest {', '.join(names)}")
        return {name: newest(store, name) for name in names}
    return recorded


def binomial_p_above(successes: int, trials: int, chance: float) -> float:
    """P(X ≥ successes) for X ~ Binomial(trials, chance): how surprising the score is by luck."""
    return sum(math.comb(trials, k) * chance**k * (1 - chance) ** (trials - k) for k in range(successes, trials + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", default="state")
    parser.add_argument("--asset", default=SSL_COT_SFT.model, help="the model asset to probe (its newest artifact)")
    parser.add_argument("--transforms", nargs="+", default=["arrow", "rotate", "shuffle"])
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--model", help="a trained model folder to probe instead of the asset's newest "
                                        "(a run by hand on the same artifacts)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(2)
    store = ArtifactStore(str(Path(args.state) / "artifacts"))
    trained_key = newest(store, args.asset)
    trained = store.manifest(args.asset, trained_key)["summary"]
    samples = input_keys(store, "pretext_samples", trained["inputs"]["pretext_samples"],
                         ("video_sources", "video_catalog", "frame_cache"))
    folder = lambda asset, key: store.local_path(store.ref(asset, key))  # noqa: E731
    records = records_with_clips(
        pl.read_parquet(folder("video_sources", samples["video_sources"]) / "records.parquet"),
        pl.read_parquet(folder("video_catalog", samples["video_catalog"]) / "catalog.parquet"),
        pl.read_parquet(folder("frame_cache", samples["frame_cache"]) / "index.parquet"))
    held_out = records.filter(pl.col("split") == "eval", pl.col("reason").is_null()).to_dicts()
    frames = open_frame_cache(store, folder("frame_cache", samples["frame_cache"]))
    model_dir = Path(args.model) if args.model else folder(args.asset, trained_key) / "model"
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)

    result_file = model_dir.parent / "result.json" if args.model else folder(args.asset, trained_key) / "result.json"
    result = json.loads(result_file.read_text())
    print(f"{model_dir}: {result['global_step']} steps on {result.get('samples', result.get('prompts'))} samples")
    if result.get("first_loss") is not None:
        print(f"  training loss: {result['first_loss']:.3f} at the first logged step → {result['last_loss']:.3f} at "
              f"the last ({result['last_loss'] / result['first_loss']:.2f}× the start)")
    if result.get("rewards"):
        rewards = [reward for _, reward in result["rewards"]]
        fifth = max(1, len(rewards) // 5)
        print(f"  mean reward: {sum(rewards[:fifth]) / fifth:.3f} over the first fifth of the steps → "
              f"{sum(rewards[-fifth:]) / fifth:.3f} over the last fifth")
    # The evaluation's transformed condition (viss_r1.evaluate.run), on held-out clips under every
    # option of each transform; the held-out split is what the synthetic benchmark scores.
    settings = EvalSettings(decoding=Decoding(max_new_tokens=args.max_new_tokens, do_sample=False, batch_size=16))
    generate = in_process(model, processor)
    for name in args.transforms:
        use = PretextUse("probe", ("video",), video_transforms=(name,), splits=("eval",))
        rows, _ = build_use_table(held_out, use, PretextSettings())
        asked = ask_rows(TRANSFORMED, every_option(rows), generate, frames, settings, BENCHMARKS["synthetic"],
                         settings.decoding.batch_size, log=lambda _: None)
        results = [row for batch in asked for row in batch if row["status"] == "ok"]
        n, hits = len(results), sum(row["transform_correct"] for row in results)
        guess = chance("video", name)
        p_value = binomial_p_above(hits, n, guess)
        answer = sum(row["score"] for row in results) / max(n, 1)
        formatted = sum(format_score(row["prediction"], with_transform=True) for row in results) / max(n, 1)
        print(f"  {name:8s} held-out pretext accuracy {pretext_accuracy(results)[name]:6.2f}% on {n} samples "
              f"(chance {guess:.1%}, p = {p_value:.3f}); answer score {answer:.1%}; format compliance {formatted:.1%}")


if __name__ == "__main__":
    main()
