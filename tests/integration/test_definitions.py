"""The Definitions load and the asset graph is wired as designed (an accidental rewiring shows here)."""

import subprocess
import sys

from pipelines import defs

EXPECTED_GRAPH = {
    "video_sources": set(),
    "video_catalog": {"video_sources"},
    "frame_cache": {"video_catalog"},
    "pretext_samples": {"video_sources", "video_catalog", "frame_cache"},
    "base_model": {"pretext_samples"},   # the tiny tokenizer is trained on the prompts
    "instruct_model": {"base_model", "pretext_samples", "frame_cache"},   # the shared warm-up
    "sft_model": {"instruct_model", "pretext_samples", "frame_cache"},
    "cot_sft_model": {"instruct_model", "pretext_samples", "frame_cache"},
    "viss_r1_model": {"sft_model", "pretext_samples", "frame_cache"},
    "pretext_grpo_model": {"instruct_model", "pretext_samples", "frame_cache"},
    "pretext_grpo_stage2_model": {"pretext_grpo_model", "pretext_samples", "frame_cache"},
    "grpo_baseline_model": {"cot_sft_model", "pretext_samples", "frame_cache"},
    "cot_annotations": {"pretext_samples", "frame_cache"},
    "checkpoint": set(),
}
# Evaluation, spelled out here (not read from the registry) so a change to it shows.
BENCHMARKS = ("vsi_bench", "videommmu", "mmvu", "mvbench", "tempcompass", "videomme", "synthetic")
SCORED_MODELS = ("base_model", "sft_model", "viss_r1_model", "pretext_grpo_stage2_model", "grpo_baseline_model",
                 "checkpoint")
EXPECTED_GRAPH |= {f"benchmark_{b}": ({"video_sources"} if b == "synthetic" else set()) for b in BENCHMARKS}
EXPECTED_GRAPH |= {f"eval/{m}/{b}": {m, f"benchmark_{b}"} for m in SCORED_MODELS for b in BENCHMARKS}
EXPECTED_GRAPH["leaderboard"] = {f"eval/{m}/{b}" for m in SCORED_MODELS for b in BENCHMARKS}
# Reported by benchmarks/compare_arms.py from the evaluations of the model standing for each arm.
COMPARED_MODELS = ("viss_r1_model", "grpo_baseline_model", "pretext_grpo_stage2_model")
EXPECTED_GRAPH["arm_comparison"] = {f"eval/{m}/{b}" for m in COMPARED_MODELS for b in BENCHMARKS}
DATA_PLANE = {"video_sources", "video_catalog", "frame_cache", "pretext_samples", "base_model"}
JOB_MODELS = {   # the main job trains both of the paper's methods; each arm has a job of its own
    "full_viss_r1": {"instruct_model", "sft_model", "viss_r1_model", "pretext_grpo_model", "pretext_grpo_stage2_model"},
    "viss_r1_arm": {"instruct_model", "sft_model", "viss_r1_model"},
    "pretext_grpo": {"instruct_model", "pretext_grpo_model", "pretext_grpo_stage2_model"},
    "video_r1_baseline": {"instruct_model", "cot_sft_model", "grpo_baseline_model"},
}
GRPO_MODELS = {"viss_r1_model", "pretext_grpo_model", "pretext_grpo_stage2_model", "grpo_baseline_model"}
JOB_SCORED = {   # each job ends by scoring its models (and the base model) and the leaderboard
    "full_viss_r1": ("base_model", "sft_model", "viss_r1_model", "pretext_grpo_stage2_model"),
    "viss_r1_arm": ("base_model", "sft_model", "viss_r1_model"),
    "pretext_grpo": ("base_model", "pretext_grpo_stage2_model"),
    "video_r1_baseline": ("base_model", "grpo_baseline_model"),
}


def evaluation_of(*models: str) -> set[str]:
    return ({f"benchmark_{b}" for b in BENCHMARKS} | {f"eval/{m}/{b}" for m in models for b in BENCHMARKS}
            | {"leaderboard"})


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    wired = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
             for key in graph.get_all_asset_keys()}
    assert wired == EXPECTED_GRAPH


def test_jobs_and_checks():
    for name, models in JOB_MODELS.items():  # one job per arm; re-annotation is its own, optional job
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "in_process"
        assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} \
            == DATA_PLANE | models | evaluation_of(*JOB_SCORED[name])
    evaluate = defs.resolve_job_def("evaluate")
    assert {key.to_user_string() for key in evaluate.asset_layer.executable_asset_keys} \
        == {"video_sources", "checkpoint"} | evaluation_of("checkpoint")
    checks = {key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    evaluations = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()
                   if key.path[0] == "eval"}
    assert checks == {"frame_cache:frame_count_matches_sampling", "pretext_samples:transform_labels_follow_design",
                      "video_sources:quarantined_records_within_limits",
                      "video_catalog:quarantined_media_within_limits",
                      *(f"{model}:grpo_has_learning_signal" for model in GRPO_MODELS),
                      *(f"{evaluation}:samples_scored" for evaluation in evaluations)}


def test_every_grpo_model_has_a_blocking_learning_signal_check_in_its_arms_job():
    graph = defs.resolve_asset_graph()
    blocking = {key.asset_key.to_user_string() for key in graph.asset_check_keys
                if graph.get_check_spec(key).blocking and key.name == "grpo_has_learning_signal"}
    assert blocking == GRPO_MODELS   # none for an SFT stage
    # every check blocks: a failed one stops what its asset feeds
    assert all(graph.get_check_spec(key).blocking for key in graph.asset_check_keys)
    for name, models in JOB_MODELS.items():
        job = defs.resolve_job_def(name)
        assert {key.to_user_string() for key in job.asset_layer.asset_graph.asset_check_keys
                if key.name == "grpo_has_learning_signal"} \
            == {f"{model}:grpo_has_learning_signal" for model in models & GRPO_MODELS}


def test_definitions_do_not_import_torch():
    # every Dagster step process re-imports the Definitions: torch would cost seconds each time
    probe = "import sys, pipelines; print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
