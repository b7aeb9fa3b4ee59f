"""Did the training stages teach the tiny model anything? Each model's curve, whether it answers
from the video, and a held-out transform probe.

For each model asset (every trained model of the main job by default: the warm-up, SSL-CoT SFT,
ViSS-R1 RL, both Pretext-GRPO stages), reads its newest artifact in a state folder (after
``make run``) and follows its lineage to the frame cache and the records. Prints:

- the training loss (SFT) or mean reward (GRPO) at the start and the end;
- on the held-out clips of ``--split`` (``eval``, what the leaderboard scores, or ``validation``,
  the split to tune settings on: ``video_sources.config.synthetic.num_validation``), asked in the
  prompt the model was trained on, through the evaluation's own conditions
  (``viss_r1.evaluate.run.ask_rows``): clean accuracy, the shape-keeping blind and the no-video
  accuracy, visual reliance (clean − blind) and format compliance under each, multiple-choice
  accuracy against chance; per multiple-choice scene, how often the clean chain of thought names
  the true option first, how often the records' own chains do (where they all do, the first option
  named is the chain's reading; elsewhere it may be, say, where a motion starts), and how often the
  answer's letter is that option;
- pretext accuracy per video transform, each clip under every option of the transform (forward and
  reversed, every angle, every swap), against chance with a one-sided binomial p-value. Asked the
  way the model's lineage learnt the pretext: the Pretext-GRPO arm's models with stage I's prompt
  (the transform question alone, the letter in ``<answer>``, scored by stage I's own reward), the
  others with ViSS-R1's (the ``<transform>`` tag, as the evaluation's ``transformed`` condition);
  a model that never learnt either reads 0 % for not writing the tag, not for not seeing.

    .venv/bin/python benchmarks/learning_check.py [--assets sft_model viss_r1_model] [--state state]
        [--split validation] [--transforms arrow rotate]

An asset may be named with its artifact key (``sft_model@7313df7f2f1594d9``) to probe that artifact
instead of the newest.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import polars as pl

from viss_r1.answers import extract_answer
from viss_r1.artifacts import ArtifactStore
from viss_r1.data.frame_cache import open_frame_cache
from viss_r1.data.pretext_samples import PretextSettings, PretextUse, build_use_table, records_with_clips
from viss_r1.data.requests import row_request
from viss_r1.embedded import EMBEDDED_PROMPT_WORDING
from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.evaluate.chains import option_named_first, thought_of
from viss_r1.evaluate.config import EvalSettings
from viss_r1.evaluate.probes import TRANSFORMED, Condition, chance, condition_rows, every_option, sample_id
from viss_r1.evaluate.run import ask_rows, in_process
from viss_r1.evaluate.scores import pretext_accuracy
from viss_r1.modeling.generation import Decoding
from viss_r1.prompts import PROMPT_WORDINGS, system_prompt_for
from viss_r1.rewards import pretext_accuracy_reward
from viss_r1.stages import FULL_VISS_R1, StageSpec, stage_making


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
    """P(X ≥ successes) for X ~ Binomial(trials, chance): how surprising the score is by luck.
    Each term in log space: ``math.comb`` of a thousand-odd trials is beyond a float."""
    if successes <= 0:
        return 1.0
    if chance <= 0.0 or chance >= 1.0:
        return float(chance >= 1.0)

    def log_term(k: int) -> float:
        return (math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)
                + k * math.log(chance) + (trials - k) * math.log1p(-chance))

    return min(1.0, sum(math.exp(log_term(k)) for k in range(successes, trials + 1)))


ANSWER_CONDITIONS = (Condition("clean", "clean"), Condition("blind", "blind"), Condition("no_video", "no_video"))


def trained_models() -> list[str]:
    """Every trained model of the main job, in its stages' order."""
    return [stage.model for stage in FULL_VISS_R1.stages]


def curve_line(result: dict) -> str:
    if result.get("first_loss") is not None:
        return (f"training loss {result['first_loss']:.3f} at the first logged step → {result['last_loss']:.3f} at the "
                f"last ({result['last_loss'] / result['first_loss']:.2f}× the start)")
    rewards = [reward for _, reward in result.get("rewards") or []]
    if not rewards:
        return "no curve recorded"
    fifth = max(1, len(rewards) // 5)
    return (f"mean reward {sum(rewards[:fifth]) / fifth:.3f} over the first fifth of the steps → "
            f"{sum(rewards[-fifth:]) / fifth:.3f} over the last fifth")


def answers_from_video(held_out, generate, frames, prompt_format: str, decoding: Decoding, wording: str) -> None:
    """Clean, blind and no-video accuracy and format, visual reliance, multiple choice vs chance."""
    settings = EvalSettings(decoding=decoding, prompt_format=prompt_format, prompt_wording=wording)
    spec = BENCHMARKS["synthetic"]
    by_options = [1 / len(options_of(row)) for row in held_out if row["problem_type"] == "multiple choice"]
    scores, by_type, chains = {}, {}, {}   # by_type: per data source and problem type
    source_of = {sample_id(row): row.get("data_source") or "?" for row in held_out}
    record_of = {sample_id(row): row for row in held_out}
    for condition in ANSWER_CONDITIONS:
        rows = condition_rows(condition, held_out, settings)
        asked = [row for batch in ask_rows(condition, rows, generate, frames, settings, spec, decoding.batch_size,
                                           log=lambda _: None) for row in batch if row["status"] == "ok"]
        n = max(len(asked), 1)
        accuracy = 100 * sum(row["score"] for row in asked) / n
        formatted = 100 * sum(bool(row["follows_format"]) for row in asked) / n
        choice = [row for row in asked if row["problem_type"] == "multiple choice"]
        mc = ""
        if choice:
            mc_accuracy = 100 * sum(row["score"] for row in choice) / len(choice)
            guess = 100 * sum(by_options) / len(by_options)
            mc = f"; multiple choice {mc_accuracy:5.1f}% on {len(choice)} (chance {guess:.1f}%, {mc_accuracy / guess:.2f}×)"
        scores[condition.name] = accuracy
        for row in asked:
            group = f"{source_of.get(row['sample_id'], '?')} ({row['problem_type']})"
            by_type.setdefault(group, {}).setdefault(condition.name, []).append(row["score"])
            if condition.name == "clean" and row["problem_type"] == "multiple choice":
                chains.setdefault(group, []).append(chain_and_answer(row, record_of[row["sample_id"]]))
        print(f"  {condition.name:9s} accuracy {accuracy:5.1f}%  format {formatted:5.1f}%{mc}")
    print(f"  visual reliance (clean − blind) {scores['clean'] - scores['blind']:+.1f}; "
          f"clean − no video {scores['clean'] - scores['no_video']:+.1f}")
    for group, per_condition in sorted(by_type.items()):   # per data source: a synthetic scene
        cells = ", ".join(f"{name} {100 * sum(s) / len(s):5.1f}%" for name, s in per_condition.items())
        print(f"    {group:44s} {len(per_condition['clean']):3d} clips: {cells}")
        if group in chains:
            named_truth, followed, own = (sum(flags) for flags in zip(*chains[group]))
            print(f"      clean chains of thought name the true option first in {named_truth} of {len(chains[group])} "
                  f"(the records' own chains: {own}); the answer's letter is the option named first in {followed}")


def options_of(record: dict) -> list[str]:
    """A record's multiple-choice options, whether its table keeps them as a list or as JSON."""
    return json.loads(record["options"]) if isinstance(record["options"], str) else list(record["options"])


def chain_and_answer(asked: dict, record: dict) -> tuple[bool, bool, bool]:
    """For a multiple-choice answer: whether its chain of thought names the true option first,
    whether its letter is the option the chain named first, and whether the record's own chain
    names the true option first."""
    options = options_of(record)
    truth = extract_answer(record["solution"])
    named = option_named_first(thought_of(asked["prediction"]), options)
    own = option_named_first(thought_of(record["process"]), options)
    return named == truth, bool(named) and named == extract_answer(asked["prediction"]), own == truth


def pretext_prompt_format(stage: StageSpec | None) -> str:
    """The prompt format in which ``stage``'s model, or a stage it starts from, learnt the pretext:
    ``pretext`` for the Pretext-GRPO arm (stage I, and stage II started from it), else ViSS-R1's
    ``transform_answer``."""
    while stage is not None:
        if stage.prompt_format == "pretext":
            return "pretext"
        stage = stage_making(stage.start)
    return "transform_answer"


def ask_pretext_question(rows, generate, frames, decoding: Decoding, settings: EvalSettings) -> list[dict]:
    """Each row's transformed clip asked the pretext question alone, as Pretext-GRPO stage I asks it;
    result rows as ``viss_r1.evaluate.scores.pretext_accuracy`` reads them, ``transform_correct``
    from stage I's own accuracy reward (the ``<answer>`` letter)."""
    system_prompt = system_prompt_for("pretext", settings.wording)
    results = []
    for start in range(0, len(rows), decoding.batch_size):
        batch = rows[start:start + decoding.batch_size]
        requests = [row_request(row, frames, "pretext", system_prompt, wording=settings.wording) for row in batch]
        completions = generate([m for m, _ in requests], [media for _, media in requests],
                               decoding.model_copy(update={"batch_size": len(batch)}))
        rewards = pretext_accuracy_reward(completions=[c["text"] for c in completions],
                                          transform_letter=[row["transform_letter"] for row in batch])
        results += [{"status": "ok", "transform": row["transform_name"], "transform_correct": reward == 1.0}
                    for row, reward in zip(batch, rewards)]
    return results


def pretext_accuracy_per_transform(held_out, generate, frames, transforms, decoding: Decoding, wording: str,
                                   prompt_format: str = "transform_answer") -> None:
    settings = EvalSettings(decoding=decoding, prompt_wording=wording)
    for name in transforms:
        use = PretextUse("probe", ("video",), video_transforms=(name,), splits=(held_out[0]["split"],))
        rows, _ = build_use_table(held_out, use, PretextSettings())
        if prompt_format == "pretext":
            results = ask_pretext_question(every_option(rows), generate, frames, decoding, settings)
        else:
            asked = ask_rows(TRANSFORMED, every_option(rows), generate, frames, settings, BENCHMARKS["synthetic"],
                             decoding.batch_size, log=lambda _: None)
            results = [row for batch in asked for row in batch if row["status"] == "ok"]
        n, hits = len(results), sum(row["transform_correct"] for row in results)
        guess = chance("video", name)
        print(f"  {name:8s} pretext accuracy {pretext_accuracy(results)[name]:6.2f}% on {n} samples, asked in the "
              f"{prompt_format!r} prompt (chance {guess:.1%}, p = {binomial_p_above(hits, n, guess):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", default="state")
    parser.add_argument("--assets", nargs="+", default=trained_models(),
                        help="model assets to probe: the newest artifact, or ASSET@KEY for that one")
    parser.add_argument("--split", default="eval", choices=("eval", "validation"))
    parser.add_argument("--transforms", nargs="*", default=["arrow", "rotate", "shuffle"],
                        help="pretext probes (none: skip them)")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--prompt-wording", default=EMBEDDED_PROMPT_WORDING, choices=PROMPT_WORDINGS,
                        help="the wording the models were trained in (the embedded run's by default)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(2)
    store = ArtifactStore(str(Path(args.state) / "artifacts"))
    folder = lambda asset, key: store.local_path(store.ref(asset, key))  # noqa: E731
    decoding = Decoding(max_new_tokens=args.max_new_tokens, do_sample=False, batch_size=16)
    for named in args.assets:
        asset, _, key = named.partition("@")
        key = key or newest(store, asset)
        trained = store.manifest(asset, key)["summary"]
        samples = input_keys(store, "pretext_samples", trained["inputs"]["pretext_samples"],
                             ("video_sources", "video_catalog", "frame_cache"))
        records = records_with_clips(
            pl.read_parquet(folder("video_sources", samples["video_sources"]) / "records.parquet"),
            pl.read_parquet(folder("video_catalog", samples["video_catalog"]) / "catalog.parquet"),
            pl.read_parquet(folder("frame_cache", samples["frame_cache"]) / "index.parquet"))
        held_out = records.filter(pl.col("split") == args.split, pl.col("reason").is_null()).to_dicts()
        if not held_out:
            raise SystemExit(f"no {args.split} clips in {args.state}: set video_sources.config.synthetic."
                             f"num_{args.split} and run the job again")
        frames = open_frame_cache(store, folder("frame_cache", samples["frame_cache"]))
        model_dir = folder(asset, key) / "model"
        model, processor = AutoModelForImageTextToText.from_pretrained(model_dir), AutoProcessor.from_pretrained(model_dir)
        result = json.loads((folder(asset, key) / "result.json").read_text())
        stage = stage_making(asset)
        print(f"{asset} ({stage.name}, {result['global_step']} steps): {curve_line(result)}")
        print(f"  on {len(held_out)} {args.split} clips, asked in the {stage.evaluation_prompt_format!r} prompt:")
        generate = in_process(model, processor)
        answers_from_video(held_out, generate, frames, stage.evaluation_prompt_format, decoding, args.prompt_wording)
        pretext_accuracy_per_transform(held_out, generate, frames, args.transforms, decoding, args.prompt_wording,
                                       pretext_prompt_format(stage))


if __name__ == "__main__":
    main()
