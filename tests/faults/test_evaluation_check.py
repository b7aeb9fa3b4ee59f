"""The blocking check on every evaluation (assets/checks.py, ``samples_scored``): failed and missing
samples per condition within the evaluation policy. The evaluation runs in process with a stand-in
model (tests/faults/test_publish.py)."""

from __future__ import annotations

import dagster as dg

import viss_r1.evaluate.run
from assets.checks import EvaluationPolicy, evaluation_check, unscored
from assets.evaluation import eval_asset_key
from faults.test_publish import EVALUATION, launches, run_config  # noqa: F401
from integration.test_evaluation_assets import ASSETS
from pipelines.definitions import definitions, resources

CHECK = "samples_scored"
EVAL_KEY = eval_asset_key("base_model", "synthetic")
EVAL_OP = EVAL_KEY.to_python_identifier()


def counts(samples: int, failed: int = 0, missing: int = 0) -> dict:
    return {"samples": samples, "scored": samples - failed - missing, "failed": failed, "missing": missing}


def test_each_condition_is_held_to_both_limits():
    policy = EvaluationPolicy(max_failed_fraction=0.1, max_missing_fraction=0.0)
    rows, over = unscored({"conditions": {"clean": counts(20, failed=2), "blind": counts(20, failed=3),
                                          "no_video": counts(20, missing=1)}}, policy)
    assert [row["condition"] for row in rows] == ["blind", "clean", "no_video"]
    assert over == ["blind: 3 of 20 samples failed (15% > 10%)", "no_video: 1 of 20 samples missing (5% > 0%)"]
    assert unscored({"conditions": {"clean": counts(20, failed=2)}}, policy)[1] == []   # 10 % is allowed


def evaluate(monkeypatch, answer, policy: dict | None = None) -> dg.ExecuteInJobResult:
    monkeypatch.setattr(viss_r1.evaluate.run, "generator", lambda config, model_and_processor=None: answer)
    config = run_config(EVALUATION)
    # the run itself tolerates any share of failures: the check is what holds the line here
    config["ops"][EVAL_OP]["config"] = {**config["ops"][EVAL_OP]["config"], "max_failed_fraction": 1.0}
    if policy is not None:
        config["resources"] = {"evaluation_policy": {"config": policy}}
    with dg.instance_for_test() as instance:
        return dg.materialize([*ASSETS, evaluation_check(EVAL_KEY)], selection=EVALUATION, resources=resources(),
                              run_config=config, instance=instance, raise_on_error=False)


def out_of_memory(conversations, media, decoding):
    raise RuntimeError("out of memory")


def check_of(result: dg.ExecuteInJobResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK]
    return evaluation


def test_an_evaluation_whose_samples_failed_fails_its_check_and_the_run(isolated_state, monkeypatch, launches):  # noqa: F811
    result = evaluate(monkeypatch, out_of_memory)
    check = check_of(result)
    assert not result.success and not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "eval/base_model/synthetic: blind: 2 of 2 samples failed (100% > 5%)" in check.description
    assert "resources.evaluation_policy.config" in check.description
    assert {row["condition"]: row["failed"] for row in check.metadata["conditions"].value}["clean"] == 2


def test_an_evaluation_within_the_policy_passes_its_check(isolated_state, monkeypatch, launches):  # noqa: F811
    answers = lambda conversations, media, decoding: [{"text": "<answer>A</answer>", "num_tokens": 3}  # noqa: E731
                                                      for _ in conversations]
    result = evaluate(monkeypatch, answers)
    assert result.success and check_of(result).passed
    assert check_of(result).description == "every condition within limits"


def test_the_limits_are_the_policy_resource_per_run(isolated_state, monkeypatch, launches):  # noqa: F811
    result = evaluate(monkeypatch, out_of_memory, {"max_failed_fraction": 1.0})
    assert result.success and check_of(result).passed


def test_every_evaluation_of_the_project_has_the_blocking_check():
    graph = definitions().resolve_asset_graph()
    evaluations = {key for key in graph.get_all_asset_keys() if key.path[0] == "eval"}
    checked = {key.asset_key for key in graph.asset_check_keys
               if key.name == CHECK and graph.get_check_spec(key).blocking}
    assert evaluations and checked == evaluations
