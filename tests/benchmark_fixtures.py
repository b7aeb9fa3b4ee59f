"""Tiny benchmark eval files in each Video-R1 release file's exact schema, with real clips.

    annotations, media_root = write_benchmark_fixture("vsi_bench", tmp_path)

Field names, order, value types and conventions follow the release files (see the module docstring
of viss_r1.evaluate.benchmarks): ``"path": "./Evaluation/<Bench>/…"`` relative to the media root,
options ``"A. …"``, solutions ``"<answer>B</answer>"``, options ``null`` for numeric questions, and
each benchmark's own extra fields. The questions are ours. Each file has exactly one record whose
clip is absent (``MISSING_PROBLEM_ID[name]``), so tests can check missing media are counted.
Clips are 8 frames of 32×32 px, a bright square crossing a coloured background; deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.synthetic import SyntheticConfig, generate_synthetic_dataset, write_video

NUM_FRAMES, SIZE, FPS = 8, 32, 4


def write_clip(path: Path, seed: int) -> Path:
    """An 8-frame 32×32 H.264 clip: a white square moving left to right over a seeded colour."""
    rng = np.random.default_rng(seed)
    background = rng.integers(20, 200, size=3, dtype=np.uint8)
    frames = np.empty((NUM_FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    frames[:] = background
    for t in range(NUM_FRAMES):
        x = 2 + t * (SIZE - 10) // (NUM_FRAMES - 1)
        frames[t, 12:20, x:x + 8] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, FPS)
    return path


def _mc(texts: list[str]) -> list[str]:
    return [f"{'ABCDEFGHIJ'[i]}. {text}" for i, text in enumerate(texts)]


# ---------------------------------------------------------------------------------------------
# Records, one builder per benchmark (key order as in the release files)
# ---------------------------------------------------------------------------------------------

def _vsi(pid: int, problem: str, ptype: str, qtype: str, options: list[str] | None, answer: str,
         scene: str) -> dict[str, Any]:
    return {"problem_id": pid, "problem": problem, "data_type": "video", "problem_type": ptype,
            "original_question_type": qtype, "options": options, "process": "",
            "solution": f"<answer>{answer}</answer>", "path": f"./Evaluation/VSIBench/{scene}.mp4",
            "data_source": ""}


def vsi_bench_records() -> list[dict[str, Any]]:
    return [
        _vsi(0, "How many chair(s) are in this room?", "regression", "object_counting", None, "4",
             "arkitscenes/41069025"),
        _vsi(1, "What is the length of the longest dimension (length, width, or height) of the table, "
                "measured in centimeters?", "regression", "object_size_estimation", None, "163",
             "arkitscenes/41069025"),
        _vsi(2, "What is the size of this room (in square meters)?", "regression", "room_size_estimation",
             None, "18.4", "scannet/scene0011_00"),
        _vsi(3, "If I am standing by the sofa and facing the tv, is the lamp to my left or right?",
             "multiple choice", "object_rel_direction_easy", _mc(["left", "right"]), "B", "scannet/scene0011_00"),
        _vsi(4, "If I am standing by the stove and facing the sofa, is the tv to my front-left, front-right, "
                "back-left, or back-right?", "multiple choice", "object_rel_direction_hard",
             _mc(["front-right", "back-left", "front-left", "back-right"]), "C", "scannetpp/5942004064"),
        _vsi(5, "What will be the first-time appearance order of the following categories in the video: "
                "door, basket, bed, plant?", "multiple choice", "obj_appearance_order",
             _mc(["door, basket, bed, plant", "bed, plant, door, basket", "plant, door, basket, bed",
                  "basket, bed, plant, door"]), "A", "scannetpp/0a5c013435"),
    ]


def _videommmu(pid: int, problem: str, options: list[str] | None, answer: str, clip: str) -> dict[str, Any]:
    numeric = options is None
    return {"problem_id": pid, "problem": problem, "data_type": "video",
            "problem_type": "numerical" if numeric else "multiple choice",
            "original_question_type": "open" if numeric else "multiple-choice", "options": options,
            "process": "", "solution": f"<answer>{answer}</answer>",
            "path": f"./Evaluation/VideoMMMU/{clip}.mp4",
            "data_source": f"https://www.youtube.com/watch?v=fixture{pid:04d}"}


def videommmu_records() -> list[dict[str, Any]]:
    return [
        _videommmu(1, "Which kind of sugar is shown, aldose or ketose?",
                   _mc(["aldose", "ketose", "glucose", "fructose", "ribose", "xylose", "arabinose", "mannose",
                        "galactose", "sucrose"]), "A", "dev_Biology_3"),
        _videommmu(2, "What mass of solute was dissolved to make the solution (in grams)?", None, "12.97",
                   "validation_Chemistry_13"),
        _videommmu(3, "How many chirality centers does the molecule have?", None, "5", "validation_Chemistry_20"),
        _videommmu(4, "Is the function convex or concave?", _mc(["Convex", "Concave", "Neither", "Both"]), "A",
                   "validation_Math_11"),
        _videommmu(5, "Which process is described in the lecture?", _mc(["Osmosis", "Diffusion", "Filtration"]),
                   "B", "test_Biology_99"),
    ]


def _mmvu(pid: int, problem: str, options: list[str], answer: str, clip: str) -> dict[str, Any]:
    return {"problem_id": pid, "problem": problem, "data_type": "video", "problem_type": "multiple choice",
            "original_question_type": "multiple-choice", "options": options, "process": "",
            "solution": f"<answer>{answer}</answer>", "path": f"./Evaluation/MMVU/videos/{clip}.mp4",
            "data_source": f"https://www.youtube.com/watch?v=fixture{pid:04d}"}


def mmvu_records() -> list[dict[str, Any]]:
    five = ["Isothermal compression", "Adiabatic compression", "Isobaric compression", "Adiabatic expansion",
            "Isothermal expansion"]
    return [
        _mmvu(1, "Which process is shown in the animation?", _mc(five), "B", "Thermodynamics/0"),
        _mmvu(2, "Which law is behind the phenomenon?", _mc(["Lenz's Law", "Kepler's Third Law",
                                                            "Newton's First Law", "Hooke's Law",
                                                            "Coulomb's Law"]), "A", "Electromagnetism/1"),
        _mmvu(3, "Which sorting algorithm is demonstrated?", _mc(["Bubble Sort", "Merge Sort", "Insertion Sort",
                                                                 "Selection Sort", "Heap Sort"]), "C",
              "Computer_Science/2"),
        _mmvu(4, "Which quantity changes in the animation?", _mc(["Resistance", "Voltage", "Current", "Charge",
                                                                 "Capacitance"]), "A", "Electrical_Engineering/9"),
    ]


def _mvbench(pid: int, source_file: str, question: str, choices: list[str], answer: int, folder: str,
             stem: str) -> dict[str, Any]:
    return {"video": source_file, "question": question, "options": _mc(choices), "answer": choices[answer],
            "problem": question, "data_type": "video", "problem_type": "multiple choice",
            "original_question_type": "", "solution": f"<answer>{'ABCD'[answer]}</answer>",
            "path": f"./Evaluation/MVBench/{folder}/{stem}.mp4", "subtitle": "", "problem_id": pid}


def mvbench_records() -> list[dict[str, Any]]:
    return [
        _mvbench(1, "166583.webm", "What is the action performed by the person in the video?",
                 ["Not sure", "Scattering something down", "Piling something up"], 2, "ssv2_video", "166583"),
        _mvbench(2, "102909.webm", "What activity does the video depict?",
                 ["Concealing something on top of something", "Showing something on top of something",
                  "Not sure"], 1, "ssv2_video", "102909"),
        _mvbench(3, "validation/climbing/clip_20.mp4", "What activity does the video depict?",
                 ["ascending", "standing", "walking", "climbing"], 3, "Moments_in_Time_Raw/videos/validation/climbing",
                 "clip_20"),
        _mvbench(4, "validation/kissing/clip_89.mp4", "Which one of these descriptions correctly matches the "
                 "actions in the video?", ["kissing", "hugging", "licking", "studying"], 0,
                 "Moments_in_Time_Raw/videos/validation/kissing", "clip_89"),
        _mvbench(5, "999999.webm", "What is the action performed by the person in the video?",
                 ["Not sure", "Pushing something from left to right", "Pulling something from left to right"], 1,
                 "ssv2_video", "999999"),
    ]


def _tempcompass(pid: int, video_id: str, question: str, choices: list[str], answer: int, dim: str) -> dict[str, Any]:
    options = _mc(choices)
    return {"video_id": video_id, "question": "\n".join([question, *options]), "options": options,
            "answer": options[answer], "dim": dim, "problem": question, "data_type": "video",
            "problem_type": "multiple choice", "original_question_type": "",
            "solution": f"<answer>{'ABCD'[answer]}</answer>", "path": f"./Evaluation/TempCompass/{video_id}.mp4",
            "subtitle": "", "problem_id": pid}


def tempcompass_records() -> list[dict[str, Any]]:
    return [
        _tempcompass(1, "1034419625", "What is the man doing?", ["dunking", "dribbling", "passing"], 0, "action"),
        _tempcompass(2, "1034419625", "In which direction is the ball moving?",
                     ["left to right", "right to left", "towards the camera", "away from the camera"], 0,
                     "direction"),
        _tempcompass(3, "1024867412", "How fast is the car moving?", ["slowly", "at normal speed", "fast"], 2,
                     "speed"),
        _tempcompass(4, "1024867412_reverse", "What happens first?", ["the door opens", "the door closes"], 1,
                     "order"),
        _tempcompass(5, "1099999999", "How does the colour of the light change?",
                     ["from red to green", "from green to red", "it stays red"], 0, "attribute_change"),
    ]


def _videomme(pid: int, video_id: str, video: str, duration: str, domain: str, sub_category: str, index: int,
              task_type: str, question: str, choices: list[str], answer: int) -> dict[str, Any]:
    letter = "ABCD"[answer]
    return {"video_id": video_id, "duration": duration, "domain": domain, "sub_category": sub_category,
            "url": f"https://www.youtube.com/watch?v={video}", "videoID": video,
            "question_id": f"{video_id}-{index}", "task_type": task_type, "question": question,
            "options": _mc(choices), "answer": letter, "problem_id": pid, "problem": question,
            "data_type": "video", "problem_type": "multiple choice", "original_question_type": task_type,
            "solution": f"<answer>{letter}</answer>", "path": f"./Evaluation/VideoMME/{video}.mp4", "subtitle": ""}


def videomme_records() -> list[dict[str, Any]]:
    return [
        _videomme(1, "001", "fixtureVid01", "short", "Knowledge", "Humanity & History", 1, "Counting Problem",
                  "How many candles are on the tree?", ["1.", "4.", "2.", "3."], 3),
        _videomme(2, "001", "fixtureVid01", "short", "Knowledge", "Humanity & History", 2, "Information Synopsis",
                  "What is the genre of this video?", ["A news report.", "A cooking show.", "A travel vlog.",
                                                       "A tutorial."], 0),
        _videomme(3, "301", "fixtureVid02", "medium", "Film & Television", "Animation", 1, "Action Reasoning",
                  "Why does the character run away?", ["It is scared.", "It is late.", "It is playing.",
                                                       "It is cold."], 0),
        _videomme(4, "601", "fixtureVid03", "long", "Sports Competition", "Football", 1, "Temporal Perception",
                  "When is the first goal scored?", ["Early.", "In the middle.", "Late.", "Never."], 1),
        _videomme(5, "602", "fixtureVid99", "long", "Life Record", "Travel", 1, "Object Recognition",
                  "Which animal appears first?", ["A dog.", "A cat.", "A bird.", "A horse."], 2),
    ]


RECORDS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "vsi_bench": vsi_bench_records,
    "videommmu": videommmu_records,
    "mmvu": mmvu_records,
    "mvbench": mvbench_records,
    "tempcompass": tempcompass_records,
    "videomme": videomme_records,
}
# The one record per file whose clip is not written.
MISSING_PROBLEM_ID = {"vsi_bench": 5, "videommmu": 5, "mmvu": 4, "mvbench": 5, "tempcompass": 5, "videomme": 5}
SYNTHETIC_CONFIG = SyntheticConfig(seed=0, num_train=1, num_eval=6, num_frames=NUM_FRAMES, fps=FPS,
                                   width=48, height=48)  # 48: the synthetic scenes need ≥ 32 px


def _synthetic(folder: Path) -> tuple[Path, Path]:
    dataset = generate_synthetic_dataset(folder / "synthetic", SYNTHETIC_CONFIG)
    records = json.loads(dataset.eval_annotations.read_text())
    (dataset.media_root / records[-1]["path"]).unlink()
    return dataset.eval_annotations, dataset.media_root


def write_benchmark_fixture(name: str, folder: Path) -> tuple[Path, Path]:
    """Write ``name``'s fixture under ``folder/name`` and return (annotation JSON, media root).
    The layout is the release's: the eval file in ``<root>/Evaluation/`` and record paths
    ``./Evaluation/<Bench>/…`` relative to ``<root>``. For ``synthetic``, the embedded dataset's
    own eval.json (six clips, one per scene) with the last clip deleted."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    folder = Path(folder)
    if name == "synthetic":
        return _synthetic(folder)
    root = folder / name
    records = RECORDS[name]()
    missing = [r for r in records if r["problem_id"] == MISSING_PROBLEM_ID[name]]
    assert len(missing) == 1 and sum(r["path"] == missing[0]["path"] for r in records) == 1, name
    for seed, path in enumerate(sorted({r["path"] for r in records} - {missing[0]["path"]})):
        write_clip(root / path, seed)
    annotations = root / "Evaluation" / BENCHMARKS[name].eval_file
    annotations.parent.mkdir(parents=True, exist_ok=True)
    annotations.write_text(json.dumps(records, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")
    return annotations, root
