"""SSL-CoT annotation: regenerate chain of thought on transformed media with an annotator model.

The release re-annotated Video-R1-COT-165k with Qwen2.5-VL-72B on transformed clips and kept a
sample only when the annotator named the transformation *and* answered the question correctly
(≈153k of 165k). This does the same for any annotator checkpoint: the ViSS-R1 prompt on the
transformed clip, near-greedy decoding, and a record in the SSL-CoT schema (Video-R1 fields with
``process`` replaced, plus ``trans_opt``/``trans_ans`` holding the *true* transform) for every
kept sample — so the output file loads as an annotation source exactly like the release's.

    python -m viss_r1.data.cot_annotation --config annotate.yaml
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import polars as pl

from viss_r1.rewards import accuracy, extract_answer, extract_transform, format_score
from viss_r1.train.config import CotAnnotationRunConfig

_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
RECORD_FIELDS = ("problem_id", "problem", "data_type", "problem_type", "options", "solution", "path", "data_source")
KEPT_FILE, REJECTED_FILE = "ssl_cot.json", "rejected.parquet"


def judge(row: Mapping[str, Any], completion: str, min_answer_accuracy: float) -> tuple[dict | None, str | None]:
    """(SSL-CoT record, None) if the completion is kept, else (None, the reason it was not)."""
    if not format_score(completion, with_transform=True):
        return None, "not <think>…</think><transform>…</transform><answer>…</answer>"
    predicted = extract_transform(completion)
    if predicted != row["transform_letter"]:
        return None, f"transform {predicted!r}, truth {row['transform_letter']!r}"
    score = accuracy(extract_answer(completion), extract_answer(row["solution"]), row["problem_type"])
    if score < min_answer_accuracy:
        return None, f"answer accuracy {score:.2f} < {min_answer_accuracy}"
    think = _THINK_RE.search(completion).group(1).strip()
    record = {field: row[field] for field in RECORD_FIELDS}
    record.update(process=f"<think>{think}</think>", trans_opt=row["transform_name"], trans_ans=row["transform_letter"])
    return record, None


def annotate(model, processor, rows: Sequence[Mapping[str, Any]], frames, config: CotAnnotationRunConfig
             ) -> tuple[list[dict], list[dict]]:
    from viss_r1.modeling.generation import Decoding, generate_for_rows

    decoding = Decoding(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
                        batch_size=config.batch_size)
    kept, rejected = [], []
    for row, completion in zip(rows, generate_for_rows(model, processor, rows, frames, decoding)):
        record, reason = judge(row, completion["text"], config.min_answer_accuracy)
        if record is not None:
            kept.append(record)
        else:
            rejected.append({"sample_id": row["sample_id"], "reason": reason, "completion": completion["text"]})
    return kept, rejected


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    args, _ = parser.parse_known_args(argv)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from viss_r1.data.frame_cache import FrameCacheReader
    from viss_r1.train.config import load_config
    from viss_r1.train.reporting import pipes_session

    config = load_config(args.config, CotAnnotationRunConfig)
    rows = pl.read_parquet(config.samples).sort("sample_id").to_dicts()[: config.max_samples]
    model = AutoModelForImageTextToText.from_pretrained(config.annotator, dtype="auto", trust_remote_code=False)
    processor = AutoProcessor.from_pretrained(config.annotator, trust_remote_code=False)
    with pipes_session() as pipes:
        kept, rejected = annotate(model, processor, rows, FrameCacheReader(config.frame_shards), config)
        out = Path(config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / KEPT_FILE).write_text(json.dumps(kept, indent=1))
        pl.DataFrame(rejected, schema={"sample_id": pl.String, "reason": pl.String, "completion": pl.String}
                     ).write_parquet(out / REJECTED_FILE)
        summary = {"samples": len(rows), "kept": len(kept), "rejected": len(rejected)}
        (out / "summary.json").write_text(json.dumps(summary))
        if pipes is not None:
            pipes.report_asset_materialization(metadata=summary)


if __name__ == "__main__":
    main()
