"""The evaluation benchmarks of METHOD.md §8, in the column order of the paper's Table 1.

Each benchmark is one Video-R1 eval file (the §7 record schema plus the source benchmark's own
fields, which the loader keeps in ``extra``). What the files hold, as read in the Video-R1 release
files carried by qizhongtan/Video-ToC (``Evaluation/eval_*.json``) and Ziyang412/Video-RTS
(``src/r1-v/Evaluation/eval_*.json``, same records with rewritten paths), and how the release
scores them (bofang98/ViSS-R1 ``src/eval_bench_parallel.py``, a copy of Video-R1's
``src/eval_bench.py``):

- eval_vsibench.json: problem_id, problem, data_type, problem_type, original_question_type,
  options (null for numeric questions), process "", solution, path
  ("./Evaluation/VSIBench/arkitscenes/<scene>.mp4"), data_source "". Every numeric task — counting
  included — is ``"regression"`` (scored by MRA); the others are multiple choice.
  original_question_type is VSI-Bench's question_type (object_counting, object_abs_distance,
  object_size_estimation, room_size_estimation, object_rel_distance,
  object_rel_direction_{easy,medium,hard}, route_planning, obj_appearance_order).
- eval_videommmu.json: the §7 fields + original_question_type ("multiple-choice" | "open"); open
  questions are ``"numerical"`` with options null; path "./Evaluation/VideoMMMU/<split>_<Discipline>_<n>.mp4"
  (the discipline lives only in the file name), data_source the source video's address.
- eval_mmvu.json: the §7 fields + original_question_type ("multiple-choice": the release keeps
  MMVU's multiple-choice subset only); path "./Evaluation/MMVU/videos/<Subject>/<n>.mp4".
- eval_mvbench.json: MVBench's own video, question, options, answer (option text) + problem,
  data_type, problem_type, original_question_type (always ""), solution, path
  ("./Evaluation/MVBench/<source folder>/<id>.mp4"), subtitle "", problem_id; no process and no
  data_source. The MVBench task name is not kept, so there is no per-task breakdown.
- eval_videomme.json: Video-MME's video_id, duration (short|medium|long), domain, sub_category,
  url, videoID, question_id, task_type, question, options, answer (letter) + problem_id, problem,
  data_type, problem_type, original_question_type (= task_type), solution, path
  ("./Evaluation/VideoMME/<videoID>.mp4"), subtitle "".
- eval_tempcompass.json: not in the stored index. Modelled on its siblings (the source fields
  kept, the Video-R1 ones added) with TempCompass's multi-choice fields video_id, question,
  answer, dim (action | direction | speed | order | attribute_change).

Scoring (release): a sample is scored on ``<answer>`` (whole output when empty); mean accuracy
over every non-regression sample and mean MRA over regression samples; VSI-Bench reports their
mean; MVBench's accuracy is multiplied by 4000/3800 for videos it could not load. We report what
loaded and count the rest instead (viss_r1.evaluate.metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

SCORINGS = ("accuracy", "vsi_bench", "mvbench")


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str                     # identifier used in asset names
    title: str                    # column header as in the paper's Table 1
    eval_file: str                # the file name in the Video-R1 release
    task_fields: tuple[str, ...]  # record fields naming the per-task breakdown (first non-empty one wins)
    scoring: str                  # "accuracy" | "vsi_bench" | "mvbench"

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ValueError(f"benchmark {self.name!r}: scoring {self.scoring!r} is not one of {SCORINGS}")


BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        BenchmarkSpec("vsi_bench", "VSI-Bench", "eval_vsibench.json", ("original_question_type",), "vsi_bench"),
        # "multiple-choice" vs "open" (numerical): the only per-question label the file keeps.
        BenchmarkSpec("videommmu", "VideoMMMU", "eval_videommmu.json", ("original_question_type",), "accuracy"),
        BenchmarkSpec("mmvu", "MMVU", "eval_mmvu.json", ("original_question_type",), "accuracy"),
        # original_question_type is "" throughout the release file; a file that names the task
        # (field "task") gets a breakdown.
        BenchmarkSpec("mvbench", "MVBench", "eval_mvbench.json", ("task", "original_question_type"), "mvbench"),
        BenchmarkSpec("tempcompass", "TempCompass", "eval_tempcompass.json", ("dim", "original_question_type"),
                      "accuracy"),
        # Video-MME is reported by video length in its own paper; task_type is original_question_type.
        BenchmarkSpec("videomme", "VideoMME", "eval_videomme.json", ("duration", "original_question_type"),
                      "accuracy"),
        # The embedded synthetic set (viss_r1.synthetic): data_source is "synthetic/<scene>", one
        # scene per question kind (motion direction, event order, counting, distance, OCR, description).
        BenchmarkSpec("synthetic", "Synthetic", "eval.json", ("data_source",), "accuracy"),
    )
}
