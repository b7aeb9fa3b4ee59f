"""SSL-CoT annotation: regenerate chain of thought on transformed media with an annotator model.

The release re-annotated Video-R1-COT-165k with Qwen2.5-VL-72B on transformed clips
(preprocess_SFT/anno_sft_72b.py), *hinted*: the annotator is shown the true transform and the true
answer and asked to write the reasoning that reaches them, without mentioning that it was told
(≈153k of 165k kept). ``prompt: hinted`` (the default) asks exactly that, in the release's words;
``prompt: blind`` asks our ViSS-R1 prompt with nothing shown. Either way a sample is kept only when
the output names the true transformation and answers correctly (for hinted: and its reasoning
does not mention the "ground truth", the release's own filter), as a record in the SSL-CoT schema
(Video-R1 fields with ``process`` replaced, plus ``trans_opt``/``trans_ans`` holding the *true*
transform) — so the output file loads as an annotation source exactly like the release's.
``summary.json`` says how many were kept (``kept_fraction``: the price of the filter).

Where the release's filter (preprocess_SFT/utils.py collect_save_results) differs: it drops only
outputs whose <think> says "ground truth" or whose <transform> is empty or longer than one
character, stores the annotator's letter, and keeps the original Video-R1 process when there is
no <think>; it never compares the letter or the answer with the truth. We do (METHOD.md §6): an
output that disagrees with what it was told is a chain of thought that reaches a wrong answer.

Judgements are written batch by batch to ``output_dir/parts/``, so a run killed after hours of
72B generation resumes where it stopped: a rerun with the same config asks only the
samples no part holds yet.

    python -m viss_r1.annotate --config annotate.yaml

A stage process like ``viss_r1.train.sft`` and ``viss_r1.evaluate.run``: it runs a model on the
data plane's samples, so it sits above both (``viss_r1.data.requests`` builds what the annotator
is asked, ``viss_r1.modeling.generation`` asks it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import polars as pl

from viss_r1.answers import extract_answer, extract_transform
from viss_r1.process import command_line
from viss_r1.progress import Progress
from viss_r1.prompts import OURS, PromptWording, system_prompt_for
from viss_r1.release_prompts import GROUND_TRUTH_MENTION
from viss_r1.rewards import accuracy, format_score
from viss_r1.train.config import CotAnnotationRunConfig

_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
# preprocess_SFT/utils.py extract_think: the hinted output is read the release's way, tags found
# anywhere (no whole-output format check: the SFT target is rebuilt from the parts anyway).
_RELEASE_THINK_RE = re.compile(r"<think>\s*(.*?)\s*</think>", re.DOTALL)
ANNOTATION_PROMPTS = ("hinted", "blind")
RECORD_FIELDS = ("problem_id", "problem", "data_type", "problem_type", "options", "solution", "path", "data_source")
KEPT_FILE, REJECTED_FILE, SUMMARY_FILE = "ssl_cot.json", "rejected.parquet", "summary.json"
PARTS_DIR = "parts"   # judgements batch by batch: what a rerun after a kill does not ask again


def annotator_prompt(prompt: str) -> tuple[PromptWording, str]:
    """(wording of the ViSS-R1 request, system prompt) the annotator is asked with."""
    if prompt not in ANNOTATION_PROMPTS:
        raise ValueError(f"annotation prompt {prompt!r} is unknown; expected one of {ANNOTATION_PROMPTS}")
    wording = PromptWording("release", "annotation") if prompt == "hinted" else OURS
    return wording, system_prompt_for("transform_answer", wording)


def _hinted_reasoning(completion: str) -> tuple[str | None, str | None]:
    """(the <think> content, None), or (None, why the release would not keep it)."""
    match = _RELEASE_THINK_RE.search(completion)
    think = match.group(1).strip() if match else ""
    if not think:
        return None, "no <think>…</think>"
    if GROUND_TRUTH_MENTION in think:
        return None, f"reasoning mentions the {GROUND_TRUTH_MENTION}"
    letter = extract_transform(completion)
    if len(letter) != 1:
        return None, f"transform {letter!r} is not one letter"
    return think, None


def judge(row: Mapping[str, Any], completion: str, min_answer_accuracy: float,
          prompt: str) -> tuple[dict | None, str | None]:
    """(SSL-CoT record, None) if the completion is kept, else (None, the reason it was not).
    ``prompt``: what the annotator was asked (``hinted`` outputs are read as the release reads them)."""
    if prompt == "hinted":
        think, why = _hinted_reasoning(completion)
        if why is not None:
            return None, why
    elif not format_score(completion, with_transform=True):
        return None, "not <think>…</think><transform>…</transform><answer>…</answer>"
    else:
        think = _THINK_RE.search(completion).group(1).strip()
    predicted = extract_transform(completion)
    if predicted != row["transform_letter"]:
        return None, f"transform {predicted!r}, truth {row['transform_letter']!r}"
    score = accuracy(extract_answer(completion), extract_answer(row["solution"]), row["problem_type"])
    if score < min_answer_accuracy:
        return None, f"answer accuracy {score:.2f} < {min_answer_accuracy}"
    record = {field: row[field] for field in RECORD_FIELDS}
    record.update(process=f"<think>{think}</think>", trans_opt=row["transform_name"], trans_ans=row["transform_letter"])
    return record, None


Generate = Callable[[list[Mapping[str, Any]]], list[str]]


def generator(config: CotAnnotationRunConfig) -> Generate:
    """``generate(rows) -> completions`` with the annotator loaded once, here — before any sample
    is asked, so a model that does not load stops the run with that error rather than showing up
    as a failure of each batch."""
    from viss_r1.data.frame_cache import FrameCacheReader
    from viss_r1.data.requests import row_requests
    from viss_r1.modeling.generation import Decoding, generate_completions, load_for_generation

    try:
        model, processor = load_for_generation(config.annotator)
    except Exception as error:
        raise RuntimeError(f"annotator {config.annotator!r} could not be loaded ({type(error).__name__}: {error}); "
                           "no sample was asked: fix the annotator (path, files, GPU memory) and rerun, "
                           "samples already judged are kept") from error
    frames = FrameCacheReader(config.frame_shards)
    decoding = Decoding(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
                        batch_size=config.batch_size)
    wording, system = annotator_prompt(config.prompt)

    def generate(rows: list[Mapping[str, Any]]) -> list[str]:
        conversations, media = row_requests(rows, frames, "transform_answer", system, wording)
        return [c["text"] for c in generate_completions(model, processor, conversations, media, decoding)]

    return generate


def judged(parts: Path) -> dict[str, dict[str, Any]]:
    """sample_id → its judgement ``{sample_id, record, reason, completion}``, from every part on
    disk; a part cut short by a kill never got its final name, so it is not read."""
    return {entry["sample_id"]: entry for part in sorted(parts.glob("*.json"))
            for entry in json.loads(part.read_text())}


def write_part(parts: Path, entries: list[dict[str, Any]]) -> None:
    """``parts/NNNNNN.json``, written under a temporary name and renamed: complete or absent."""
    number = max((int(p.stem) for p in parts.glob("*.json")), default=-1) + 1
    tmp = parts / f".{number:06d}.tmp"
    tmp.write_text(json.dumps(entries))
    tmp.rename(parts / f"{number:06d}.json")


def annotate(rows: Sequence[Mapping[str, Any]], load_generate: Callable[[], Generate], output_dir: Path,
             config: CotAnnotationRunConfig, log: Callable[[str], None] = print) -> dict[str, int]:
    """Judge every row, batch by batch, each batch's judgements written to ``output_dir/parts/``
    at once; rows judged by an earlier (killed) run are skipped. Then assemble ``ssl_cot.json``,
    ``rejected.parquet`` and ``summary.json`` in row order, so they equal an uninterrupted run's.
    ``load_generate`` loads the annotator, only when something is left to ask."""
    parts = output_dir / PARTS_DIR
    parts.mkdir(parents=True, exist_ok=True)
    done = judged(parts)
    todo = [row for row in rows if row["sample_id"] not in done]
    if done:
        log(f"resuming: {len(rows) - len(todo)} of {len(rows)} samples already judged in {parts}")
    generate = load_generate() if todo else None
    progress, kept = Progress(len(todo), "sample", log), 0
    for start in range(0, len(todo), config.batch_size):
        batch = todo[start:start + config.batch_size]
        entries = []
        for row, completion in zip(batch, generate(batch), strict=True):
            record, reason = judge(row, completion, config.min_answer_accuracy, config.prompt)
            entries.append({"sample_id": row["sample_id"], "record": record, "reason": reason,
                            "completion": completion})
        write_part(parts, entries)
        kept += sum(entry["record"] is not None for entry in entries)
        progress.update(start + len(batch), ("kept", kept / (start + len(batch))))

    done = judged(parts)
    entries = [done[row["sample_id"]] for row in rows]
    kept = [e["record"] for e in entries if e["record"] is not None]
    rejected = [{k: e[k] for k in ("sample_id", "reason", "completion")} for e in entries if e["record"] is None]
    (output_dir / KEPT_FILE).write_text(json.dumps(kept, indent=1))
    pl.DataFrame(rejected, schema={"sample_id": pl.String, "reason": pl.String, "completion": pl.String}
                 ).write_parquet(output_dir / REJECTED_FILE)
    summary = {"samples": len(rows), "kept": len(kept), "rejected": len(rejected),
               "kept_fraction": len(kept) / len(rows) if rows else 0.0, "prompt": config.prompt}
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary))
    return {**summary, "resumed": len(rows) - len(todo)}


def run_annotation(config: CotAnnotationRunConfig, pipes: Any | None = None) -> dict[str, Any]:
    """The process's run: the config's samples, in ``sample_id`` order, annotated (resumably)."""
    rows = pl.read_parquet(config.samples).sort("sample_id").to_dicts()[: config.max_samples]
    log = pipes.log.info if pipes is not None else print
    return annotate(rows, lambda: generator(config), Path(config.output_dir), config, log)


def main(argv: list[str] | None = None) -> None:
    command_line(__doc__.split("\n\n")[0], CotAnnotationRunConfig, run_annotation, argv=argv)


if __name__ == "__main__":
    main()
