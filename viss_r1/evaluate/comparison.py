"""The arms side by side over training seeds (METHOD.md §8): per arm, the mean and a 95 % bootstrap
interval of each condition's accuracy, visual reliance and pretext accuracy.

    table = comparison_table({arm_label: [results_seed0, results_seed1], ...})

Each arm's input is one ``results.parquet`` per training seed (``viss_r1.evaluate.run``: one row
per sample × condition). Per seed, a metric is a mean over samples; an arm's value is the mean
over its seeds. The interval resamples both sources of noise, in the order they arise: the seeds
(with replacement), then the eval samples within each drawn seed. Samples are resampled by id,
all metrics at once, so visual reliance stays paired (clean − blind on the same samples). The
random generator is seeded by the arm's label, so a table is reproducible and adding an arm
leaves the others' intervals as they were.
"""

from __future__ import annotations

import hashlib
import warnings
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import numpy as np
import polars as pl

from viss_r1.evaluate.probes import TRANSFORMED
from viss_r1.stages import Arm, StageSpec

CLEAN, BLIND = "clean", "blind"   # the conditions visual reliance is the difference of (viss_r1.evaluate.probes)
FRAME_DROP = "frame_drop"         # frame_drop_<ratio>
ACCURACY_SUFFIX = "_accuracy"
VISUAL_RELIANCE = "visual_reliance"
PRETEXT_ACCURACY = "pretext_accuracy"
LOW, HIGH = "_low", "_high"       # the interval's columns: <metric>_low, <metric>_high
LABEL, MODEL, SEEDS, SAMPLES = "arm", "model", "seeds", "samples"
RESAMPLES = 2000
LEVEL = 0.95


def compared_stage(arm: Arm, arms: Mapping[str, Arm]) -> StageSpec:
    """The stage whose model stands for ``arm``: its last stage that belongs to no other arm whose
    stages all lie within ``arm``'s. (An arm's job may train another arm's stages as well, the
    paper's whole chain in one job; those stand for that other arm.)"""
    own = {stage.name for stage in arm.stages}
    nested = {stage.name for other in arms.values() if other.name != arm.name
              and {s.name for s in other.stages} < own for stage in other.stages}
    candidates = [stage for stage in arm.stages if stage.name not in nested]
    if not candidates:
        raise ValueError(f"arm {arm.name!r}: every stage belongs to an arm nested in it, so no model stands for it")
    return candidates[-1]


def compared_stages(arms: Mapping[str, Arm]) -> dict[str, StageSpec]:
    """``compared_stage`` of each arm, by arm name; two arms must not stand on one model."""
    stages = {name: compared_stage(arm, arms) for name, arm in arms.items()}
    models = [stage.model for stage in stages.values()]
    if len(set(models)) != len(models):
        raise ValueError(f"two arms would be compared by the same model: {({n: s.model for n, s in stages.items()})}")
    return stages


def metric_of(condition: str) -> str:
    return f"{condition}{ACCURACY_SUFFIX}"


FIRST = (CLEAN, BLIND, TRANSFORMED.name, FRAME_DROP)


def condition_order(conditions: Sequence[str]) -> list[str]:
    """The conditions found, clean, blind, transformed and frame drop (by ratio) first, any
    other (a probe added later) after them by name."""
    def rank(condition: str) -> tuple[int, str]:
        found = [i for i, first in enumerate(FIRST) if condition == first or condition.startswith(first + "_")]
        return (found[0] if found else len(FIRST), condition)
    return sorted(set(conditions), key=rank)


def metric_names(conditions: Sequence[str]) -> list[str]:
    """Each condition's accuracy, visual reliance after blind's, pretext accuracy after transformed's."""
    names = []
    for condition in condition_order(conditions):
        names.append(metric_of(condition))
        if condition == BLIND and CLEAN in conditions:
            names.append(VISUAL_RELIANCE)
        if condition == TRANSFORMED.name:
            names.append(PRETEXT_ACCURACY)
    return names


def sample_values(results: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """``(metrics, values)``: values[i, j] is sample i's metric j in percent (NaN where the sample
    has no scored row for it). Only ``ok`` rows count: missing and failed samples are reported by
    the evaluation, never scored as wrong (METHOD.md §8)."""
    scored = results.filter(pl.col("status") == "ok")
    samples = sorted(set(results["sample_id"].to_list()))
    row_of = {sample: i for i, sample in enumerate(samples)}
    metrics = metric_names(results["condition"].to_list())
    values = np.full((len(samples), len(metrics)), np.nan)
    column = {name: j for j, name in enumerate(metrics)}
    by_condition: dict[str, np.ndarray] = {}
    for condition in condition_order(results["condition"].to_list()):
        rows = scored.filter(pl.col("condition") == condition)
        per_sample = np.full(len(samples), np.nan)
        per_sample[[row_of[s] for s in rows["sample_id"]]] = 100.0 * rows["score"].cast(pl.Float64).to_numpy()
        by_condition[condition] = per_sample
        values[:, column[metric_of(condition)]] = per_sample
        if condition == TRANSFORMED.name:
            asked = rows.filter(pl.col("transform").is_not_null())
            values[[row_of[s] for s in asked["sample_id"]], column[PRETEXT_ACCURACY]] = \
                100.0 * asked["transform_correct"].cast(pl.Float64).fill_null(0.0).to_numpy()
    if VISUAL_RELIANCE in column:
        values[:, column[VISUAL_RELIANCE]] = by_condition[CLEAN] - by_condition[BLIND]   # NaN unless both scored
    return metrics, values


def _nan_mean(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean over axis 0 of ``values`` (samples × metrics) ignoring NaN; with ``weights``
    (resamples × samples: how often each sample was drawn), one mean per resample."""
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    if weights is None:
        total, count = filled.sum(axis=0), present.sum(axis=0)
    else:
        total, count = weights @ filled, weights @ present
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _rng(label: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "little")])


def _resampled_means(values: np.ndarray, count: int, rng: np.random.Generator, chunk: int = 500) -> np.ndarray:
    """``count`` × metrics: the means of ``count`` resamples (with replacement) of the samples,
    drawn as counts per sample, a chunk at a time so a large benchmark stays small in memory."""
    n = len(values)
    means = []
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size) if n else np.zeros((size, 0))
        means.append(_nan_mean(values, weights))
    return np.concatenate(means)


@contextmanager
def _all_nan_gives_nan() -> Iterator[None]:
    """numpy warns on a column that is all NaN (a metric no seed has); NaN is the answer there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def bootstrap(per_seed: Sequence[np.ndarray], rng: np.random.Generator, resamples: int = RESAMPLES,
              level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, low, high)`` per metric of one arm, from its samples × metrics values of each seed:
    the mean over seeds of each seed's mean over samples, and the percentile interval of that
    statistic when the seeds are resampled and then the samples within each drawn seed."""
    if not per_seed:
        raise ValueError("bootstrap: no seeds given; each arm needs the results of at least one training seed")
    k = len(per_seed)
    with _all_nan_gives_nan():
        mean = np.nanmean(np.stack([_nan_mean(v) for v in per_seed]), axis=0)
    drawn = rng.integers(k, size=(resamples, k))   # which seed fills each of the k places of a resample
    # inner[s][b, i]: seed s's metrics under a fresh resample of its samples, for place i of resample b
    inner = [_resampled_means(values, resamples * k, rng).reshape(resamples, k, -1) for values in per_seed]
    stacked = np.stack(inner)                                   # seeds × resamples × places × metrics
    chosen = stacked[drawn, np.arange(resamples)[:, None], np.arange(k)[None, :]]   # resamples × places × metrics
    with _all_nan_gives_nan():
        statistic = np.nanmean(chosen, axis=1)
        tail = 100.0 * (1.0 - level) / 2.0
        low, high = np.nanpercentile(statistic, [tail, 100.0 - tail], axis=0)
    return mean, low, high


def comparison_table(arms: Mapping[str, Sequence[pl.DataFrame]], resamples: int = RESAMPLES, level: float = LEVEL,
                     rng_seed: int = 0, models: Mapping[str, str] | None = None) -> pl.DataFrame:
    """One row per arm (in the given order): its label, the model that stands for it (``models``,
    if given), seeds, eval samples per seed (the most any seed had), and for each metric its mean,
    ``_low`` and ``_high`` (a ``level`` interval)."""
    per_arm = {label: [sample_values(results) for results in seeds] for label, seeds in arms.items()}
    conditions = [c for seeds in arms.values() for results in seeds for c in results["condition"].to_list()]
    metrics = metric_names(conditions)
    rows = []
    for label, seeds in per_arm.items():
        aligned = [_aligned(found, values, metrics) for found, values in seeds]
        mean, low, high = bootstrap(aligned, _rng(label, rng_seed), resamples, level)
        row = {LABEL: label, **({MODEL: models[label]} if models else {}), SEEDS: len(seeds),
               SAMPLES: max((len(v) for v in aligned), default=0)}
        for j, name in enumerate(metrics):
            row |= {name: _number(mean[j]), name + LOW: _number(low[j]), name + HIGH: _number(high[j])}
        rows.append(row)
    schema = {LABEL: pl.String, **({MODEL: pl.String} if models else {}), SEEDS: pl.Int64, SAMPLES: pl.Int64,
              **{name + part: pl.Float64 for name in metrics for part in ("", LOW, HIGH)}}
    return pl.DataFrame(rows, schema=schema)


def _aligned(found: list[str], values: np.ndarray, metrics: list[str]) -> np.ndarray:
    """``values`` with the columns of ``metrics`` (NaN for a metric this seed's results lack)."""
    out = np.full((len(values), len(metrics)), np.nan)
    for j, name in enumerate(metrics):
        if name in found:
            out[:, j] = values[:, found.index(name)]
    return out


def _number(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 2)


def table_metrics(table: pl.DataFrame) -> list[str]:
    """The metric columns of a comparison table, in order."""
    return [c for c in table.columns if c not in (LABEL, MODEL, SEEDS, SAMPLES) and not c.endswith((LOW, HIGH))]


def to_markdown(table: pl.DataFrame, level: float = LEVEL) -> str:
    """Arms as rows, metrics as columns, each cell ``mean [low, high]`` in percent (points)."""
    metrics = table_metrics(table)
    described = [c for c in (LABEL, MODEL, SEEDS, SAMPLES) if c in table.columns]
    header = [*described, *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.iter_rows(named=True):
        cells = [str(row[c]) for c in described]
        for name in metrics:
            mean, low, high = row[name], row[name + LOW], row[name + HIGH]
            cells.append("–" if mean is None else f"{mean:.1f} [{low:.1f}, {high:.1f}]")
        lines.append("| " + " | ".join(cells) + " |")
    note = f"mean over seeds [{100 * level:.0f} % bootstrap interval: seeds, then eval samples]"
    return "\n".join(lines) + f"\n\n{note}\n"


def chart(table: pl.DataFrame, level: float = LEVEL):
    """A matplotlib figure: per metric, one bar per arm at its mean, error bars to the interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = table_metrics(table)
    labels = table[LABEL].to_list()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 + 0.35 * len(metrics) * max(1, len(labels))), 3.6), dpi=110)
    width = 0.8 / max(1, len(labels))
    for a, row in enumerate(table.iter_rows(named=True)):
        xs, means, errors = [], [], [[], []]
        for m, name in enumerate(metrics):
            if row[name] is None:
                continue
            xs.append(m + a * width)
            means.append(row[name])
            errors[0].append(row[name] - row[name + LOW])
            errors[1].append(row[name + HIGH] - row[name])
        ax.bar(xs, means, width, yerr=errors, capsize=2, color=f"C{a}", label=row[LABEL])
    ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))],
                  [name.replace("_", " ") for name in metrics], rotation=20, fontsize=8)
    ax.axhline(0.0, color="black", linewidth=0.5)
    lowest = min([row[name + LOW] for row in table.iter_rows(named=True) for name in metrics
                  if row[name + LOW] is not None], default=0.0)
    ax.set_ylim(min(0.0, lowest - 5.0), 100.0)   # percent; visual reliance may go below zero
    ax.set_ylabel(f"% (mean, {100 * level:.0f} % interval)")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
