"""Score one model on one benchmark, under every configured condition, resumably.

    python -m viss_r1.evaluate.run --config eval.yaml      # an EvalRunConfig

Batched generation (left-padded, real video timing) through ``viss_r1.modeling.generation``, or
concurrent requests to a vLLM server (``settings.vllm_server``, ``viss_r1.modeling.vllm_server``).
Each finished batch is written to ``output_dir/parts/`` at once, so an interrupted run picks up
where it stopped. Records whose video is missing or unreadable become ``missing`` rows and a
batch that raises becomes ``failed`` rows with the error: both are counted and reported by the
scores, never scored as wrong answers. A rerun skips the ``ok`` and ``missing`` rows and asks
the ``failed`` ones again (an out-of-memory or a server hiccup is not the sample's fault); the
newest row of a sample is its result. A condition with more failures than
``settings.max_failed_fraction`` fails the run, its parts kept for that rerun. The end product is
``results.parquet`` (one row per condition × sample) and ``scores.json``.

``ask_rows`` is the one place rows are asked and scored under a condition: ``evaluate`` and the
held-out learning check (``benchmarks/learning_check.py``, the transformed condition over every
option of each transform) both go through it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import polars as pl

from viss_r1.answers import extract_answer, extract_transform
from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.evaluate.benchmarks import BENCHMARKS, BenchmarkSpec
from viss_r1.evaluate.config import EvalRunConfig, EvalSettings
from viss_r1.evaluate.metrics import score_sample
from viss_r1.evaluate.probes import Condition, asked_format, condition_rows, conditions, request, task_of
from viss_r1.evaluate.scores import summarize
from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.vllm_server import ServerUnavailable, generate_with_server, served_model_name
from viss_r1.process import command_line
from viss_r1.progress import Progress
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT
from viss_r1.rewards import format_score
from viss_r1.tracking import system_metrics
from viss_r1.video.media import MediaInput

RESULTS_FILE = "results.parquet"
SCORES_FILE = "scores.json"
PARTS_DIR = "parts"
# Statuses a rerun keeps. ``missing`` is final: it comes from the benchmark's records (the video
# would not load), which a rerun reads unchanged, so asking again would give the same row.
# ``failed`` is not: a generation error may be transient, so a rerun asks that sample again.
FINAL_STATUSES = ("ok", "missing")
SHOWN_REASONS = 3   # distinct failure reasons quoted when too many samples failed

RESULT_SCHEMA = {
    "benchmark": pl.String, "condition": pl.String, "sample_id": pl.String, "problem_id": pl.String,
    "problem_type": pl.String, "task": pl.String, "status": pl.String, "failure": pl.String,
    "prediction": pl.String, "answer": pl.String, "truth": pl.String, "score": pl.Float64, "correct": pl.Boolean,
    "num_tokens": pl.Int64, "frames": pl.Int64, "transform": pl.String, "transform_truth": pl.String,
    "transform_predicted": pl.String, "transform_correct": pl.Boolean,
    "follows_format": pl.Boolean,   # the output is in the format the condition's prompt asked for
}


def result_row(benchmark: str, condition: Condition, row: Mapping[str, Any], task_fields: Sequence[str],
               **fields: Any) -> dict[str, Any]:
    base = {name: None for name in RESULT_SCHEMA}
    base.update(benchmark=benchmark, condition=condition.name, sample_id=row["sample_id"],
                problem_id=str(row["problem_id"]), problem_type=row["problem_type"],
                task=task_of(row, task_fields), truth=extract_answer(row["solution"]))
    if condition.kind == "transformed":
        base.update(transform=row.get("transform_name"), transform_truth=row.get("transform_letter"))
    base.update(fields)
    return base


def scored_row(benchmark: str, condition: Condition, row: Mapping[str, Any], task_fields: Sequence[str],
               completion: Mapping[str, Any], frames: int | None, prompt_format: str = "r1") -> dict[str, Any]:
    """A generated answer's result row; ``prompt_format`` is the evaluation's (``transformed`` asks
    in ViSS-R1's whatever it is), the format the output is checked against."""
    text = completion["text"]
    scored = score_sample(text, row["solution"], row["problem_type"])
    asked = asked_format(condition, prompt_format)
    fields: dict[str, Any] = dict(status="ok", prediction=text, answer=scored["answer"], score=scored["score"],
                                  correct=scored["correct"], num_tokens=completion["num_tokens"], frames=frames,
                                  follows_format=format_score(text, with_transform=asked == "transform_answer") == 1.0)
    if condition.kind == "transformed":
        predicted = extract_transform(text)
        fields.update(transform_predicted=predicted, transform_correct=predicted == row["transform_letter"])
    return result_row(benchmark, condition, row, task_fields, **fields)


def unusable_reason(condition: Condition, row: Mapping[str, Any]) -> tuple[str, str] | None:
    """(status, reason) for a row that cannot be asked, else None."""
    if row.get("reason"):
        return "missing", str(row["reason"])
    if condition.kind == "transformed" and row.get("transform_name") is None:
        return "failed", f"no pretext transform for this clip: {row.get('transform_error', 'not drawn')}"
    return None


Generate = Callable[[list[list[dict]], list[MediaInput], Decoding], list[dict[str, Any]]]


def generator(config: EvalRunConfig, model_and_processor=None) -> Generate:
    """``generate(conversations, media, decoding)``: on the vLLM server when one is configured
    (checked to serve this model first), else in process with transformers. The model is loaded,
    or the server checked, here, before any sample is asked and outside ``ask``'s per-sample
    error handling: a model that does not load stops the run, rather than failing every sample."""
    server = config.settings.vllm_server
    if server.url:
        name = served_model_name(server, config.model)
        return lambda conversations, media, decoding: generate_with_server(server, name, conversations, media, decoding)

    from viss_r1.modeling.generation import load_for_generation

    if model_and_processor is None:
        try:
            model_and_processor = load_for_generation(config.model, config.model_revision)
        except Exception as error:
            raise RuntimeError(f"model {config.model!r} could not be loaded for generation "
                               f"({type(error).__name__}: {error}); no sample was asked: fix the model "
                               "(path, files, GPU memory) and rerun, finished samples are kept") from error
    return in_process(*model_and_processor)


def in_process(model, processor) -> Generate:
    """``generate`` with a loaded transformers model (batched, left-padded, real video timing)."""
    from viss_r1.modeling.generation import generate_completions

    return lambda conversations, media, decoding: generate_completions(model, processor, conversations, media,
                                                                       decoding)


def ask(condition: Condition, batch: list[dict[str, Any]], generate: Generate, frames: FrameCacheReader,
        settings, system_prompt: str, spec, log) -> list[dict[str, Any]]:
    """Generate and score one batch. If the batch raises, each sample is retried alone, so one
    broken clip fails only itself (a ``failed`` row with the error), never its neighbours. An
    unavailable server is no sample's failure: it stops the run, which resumes when rerun."""
    prompt_format = settings.prompt_format or "r1"
    try:
        requests = [request(condition, row, frames, system_prompt, settings.seed, prompt_format,
                            wording=settings.wording) for row in batch]
        completions = generate([m for m, _ in requests], [media for _, media in requests],
                               settings.decoding.model_copy(update={"batch_size": len(batch)}))
    except ServerUnavailable:
        raise
    except Exception as error:  # noqa: BLE001 — recorded per sample, never scored as wrong
        if len(batch) > 1:
            return [row for single in batch
                    for row in ask(condition, [single], generate, frames, settings, system_prompt, spec, log)]
        reason = f"{type(error).__name__}: {error}"
        log(f"{condition.name}: sample {batch[0]['sample_id']} failed: {reason}")
        return [result_row(spec.name, condition, batch[0], spec.task_fields, status="failed", failure=reason)]
    return [scored_row(spec.name, condition, row, spec.task_fields, completion,
                       None if media.frames is None else len(media.frames), prompt_format)
            for row, completion, (_, media) in zip(batch, completions, requests)]


def ask_rows(condition: Condition, rows: Sequence[Mapping[str, Any]], generate: Generate, frames: FrameCacheReader,
             settings: EvalSettings, spec: BenchmarkSpec, batch_size: int, log: Callable[[str], None] = print,
             ) -> Iterator[list[dict[str, Any]]]:
    """``rows`` (the condition's rows, each with a ``sample_id``) asked and scored batch by batch:
    each batch's result rows as soon as it is done (the caller keeps count; ``log`` hears of
    samples that failed). The one path every probe takes, whether ``evaluate`` asks a benchmark's
    records or a learning check asks held-out clips under every option of their transform
    (``probes.every_option``)."""
    system_prompt = settings.system_prompt or DEFAULT_SYSTEM_PROMPT
    for start in range(0, len(rows), batch_size):
        batch = list(rows[start:start + batch_size])
        yield ask(condition, batch, generate, frames, settings, system_prompt, spec, log)


class PartWriter:
    """``parts/NNNNNN.parquet``: results written batch by batch, append-only. A part is written
    under a temporary name and renamed, so it is complete or absent; a sample may have rows in
    several parts (a failure, then its retry) and its newest row is its result."""

    def __init__(self, output_dir: Path):
        self.folder = output_dir / PARTS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        # After the highest number, not the count: a gap (a part deleted by hand) must never make
        # a new part replace an existing one.
        self.count = max((int(p.stem) for p in self.folder.glob("*.parquet")), default=-1) + 1

    def table(self) -> pl.DataFrame:
        """One row per (condition, sample_id): the newest written."""
        parts = sorted(self.folder.glob("*.parquet"))
        if not parts:
            return pl.DataFrame(schema=RESULT_SCHEMA)
        return (pl.concat([pl.read_parquet(p) for p in parts])
                .unique(["condition", "sample_id"], keep="last", maintain_order=True)
                .sort("condition", "sample_id"))

    def done(self) -> set[tuple[str, str]]:
        """The samples a rerun skips: those whose newest row is final (``FINAL_STATUSES``)."""
        final = self.table().filter(pl.col("status").is_in(FINAL_STATUSES))
        return set(final.select("condition", "sample_id").iter_rows())

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        tmp = self.folder / f".{self.count:06d}.tmp"
        pl.DataFrame(rows, schema=RESULT_SCHEMA).write_parquet(tmp)
        tmp.rename(self.folder / f"{self.count:06d}.parquet")   # a part is complete or absent
        self.count += 1


def too_many_failures(results: pl.DataFrame, summary: Mapping[str, Any], max_fraction: float) -> str | None:
    """Why the run fails, or None: each condition whose failed samples exceed ``max_fraction`` of
    those it could ask (missing videos are not asked), with the first distinct reasons."""
    over = []
    for name, scores in summary["conditions"].items():
        asked = scores["samples"] - scores["missing"]
        if asked and scores["failed"] / asked > max_fraction:
            over.append(f"{name}: {scores['failed']} of {asked} failed ({scores['failed'] / asked:.1%})")
    if not over:
        return None
    failed = results.filter(pl.col("status") == "failed")
    reasons = failed["failure"].unique(maintain_order=True).head(SHOWN_REASONS).to_list()
    return (f"{'; '.join(over)}, more than max_failed_fraction {max_fraction:.1%}; first errors: {reasons}. "
            "The failed samples are kept as failed rows: rerun to ask only them again, or raise "
            "settings.max_failed_fraction to accept them")


def evaluate(config: EvalRunConfig, pipes: Any | None = None, model_and_processor=None) -> dict[str, Any]:
    """Run every condition; return the summary (also written to ``scores.json``)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SystemExit("evaluation runs as one process per (model, benchmark); launch it without "
                         "torchrun/accelerate multi-process (stage_launcher.stage_launcher_args "
                         "for viss_r1.evaluate.run)")
    spec = BENCHMARKS[config.benchmark]
    settings = config.settings
    log = pipes.log.info if pipes is not None else print
    records = pl.read_parquet(config.records).to_dicts()
    if settings.max_samples is not None:
        records = records[:settings.max_samples]
    output = Path(config.output_dir)
    parts = PartWriter(output)
    done = parts.done()
    if done:
        log(f"resuming: {len(done)} samples already final (ok or missing) in {parts.folder}; "
            "failed ones are asked again")
    frames = FrameCacheReader(config.frame_shards)
    # On a server a part holds what is in flight at once; in process, one generate batch.
    batch_size = settings.vllm_server.max_concurrent if settings.vllm_server.url else settings.decoding.batch_size
    generated = 0

    plan = []   # (condition, the rows it still asks)
    for condition in conditions(settings.probes):
        rows = [r for r in condition_rows(condition, records, settings)
                if (condition.name, r["sample_id"]) not in done]
        unusable = [(r, unusable_reason(condition, r)) for r in rows]
        parts.write([result_row(spec.name, condition, r, spec.task_fields, status=why[0], failure=why[1])
                     for r, why in unusable if why is not None])
        plan.append((condition, [r for r, why in unusable if why is None]))
    total = sum(len(todo) for _, todo in plan)
    generate = generator(config, model_and_processor) if total else None
    # One line for every condition together; its metric is the running accuracy of the one asked.
    progress = Progress(total, "sample", log)
    for condition, todo in plan:
        points = scored = 0.0
        for batch in ask_rows(condition, todo, generate, frames, settings, spec, batch_size, log):
            parts.write(batch)
            ok = [row for row in batch if row["status"] == "ok"]
            generated += len(ok)
            points, scored = points + sum(row["score"] for row in ok), scored + len(ok)
            progress.update(progress.done + len(batch),
                            (f"{condition.name} accuracy", points / scored) if scored else None)
    progress.finish()

    results = parts.table()
    summary = summarize(results.to_dicts(), spec)
    summary.update(model=config.model, benchmark=spec.name, generated=generated, resumed=len(done))
    results.write_parquet(output / RESULTS_FILE)
    (output / SCORES_FILE).write_text(json.dumps(summary, indent=2))
    # Checked once every part is written, so a rerun asks exactly the failed samples again.
    failure = too_many_failures(results, summary, settings.max_failed_fraction)
    if failure:
        raise RuntimeError(f"{spec.name} ({output}): {failure}")
    return summary


def main(argv: list[str] | None = None) -> None:
    command_line("Score a model on a benchmark (clean and robustness probes).", EvalRunConfig,
                 lambda config, pipes: flat_scores(evaluate_tracked(config, pipes)), argv=argv)


def evaluate_tracked(config: EvalRunConfig, pipes: Any | None = None) -> dict[str, Any]:
    """``evaluate``, the machine's system metrics going into the asset's MLflow run meanwhile."""
    with system_metrics(config.mlflow):
        return evaluate(config, pipes)


def flat_scores(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's headline figures (what Dagster shows when it launched the process)."""
    from viss_r1.evaluate.scores import score_metrics

    return {**score_metrics(summary), "generated": summary["generated"], "resumed": summary["resumed"]}


if __name__ == "__main__":
    main()
