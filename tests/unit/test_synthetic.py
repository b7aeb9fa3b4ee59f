"""The embedded synthetic dataset: files, schema, determinism and the pretext cues."""

from __future__ import annotations

import json
import re
from pathlib import Path

import decord
import numpy as np
import pytest

from viss_r1.pretext.narration import VIEWS_FIELD
from viss_r1.synthetic import (
    RECORD_KEYS,
    SCENES,
    Layout,
    SyntheticConfig,
    generate_synthetic_dataset,
    write_video,
)
from viss_r1.synthetic.scenes import OPTION_LETTERS, WORDS
from viss_r1.vocabulary import PROBLEM_TYPES

TINY = SyntheticConfig(seed=3, num_train=12, num_eval=6, num_frames=16, fps=4, width=64, height=64)


def _records(dataset) -> tuple[list[dict], list[dict]]:
    load = lambda p: json.loads(Path(p).read_text())  # noqa: E731
    return load(dataset.train_annotations), load(dataset.eval_annotations)


def _frames(dataset, record: dict) -> np.ndarray:
    reader = decord.VideoReader(str(dataset.media_root / record["path"]))
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("tiny"), TINY)


@pytest.fixture(scope="module")
def tiny_again(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("tiny_again"), TINY)


def test_files_exist_and_decode_to_configured_shape(tiny):
    train, eval_ = _records(tiny)
    assert (len(train), len(eval_)) == (TINY.num_train, TINY.num_eval)
    for record in train + eval_:
        path = tiny.media_root / record["path"]
        assert path.is_file(), path
        reader = decord.VideoReader(str(path))
        assert len(reader) == TINY.num_frames
        assert reader[0].shape == (TINY.height, TINY.width, 3)
        assert reader.get_avg_fps() == pytest.approx(TINY.fps)
    assert not list(tiny.media_root.rglob("*.tmp")), "temporary files left behind"


def test_records_follow_the_video_r1_schema(tiny):
    train, eval_ = _records(tiny)
    for record in train + eval_:
        # The Video-R1 keys in order; beyond them only the reasoning per transformed view, where the
        # scene writes one (kept in the record's ``extra`` by ingestion).
        assert tuple(record)[:len(RECORD_KEYS)] == RECORD_KEYS
        assert tuple(record)[len(RECORD_KEYS):] in ((), (VIEWS_FIELD,)), tuple(record)
        assert (VIEWS_FIELD in record) == (record["data_source"] in ("synthetic/motion_direction", "synthetic/moving_place"))
        assert isinstance(record["problem_id"], int)
        assert isinstance(record["problem"], str) and record["problem"].endswith(("?", "."))
        assert record["data_type"] == "video"
        assert record["problem_type"] in PROBLEM_TYPES
        assert isinstance(record["options"], list) and all(isinstance(o, str) for o in record["options"])
        assert re.fullmatch(r"<think>[^<>]+</think>", record["process"]), record["process"]
        assert re.fullmatch(r"<answer>[^<>]+</answer>", record["solution"]), record["solution"]
        assert re.fullmatch(r"\./videos/[\w]+\.mp4", record["path"]), record["path"]
        assert record["data_source"].removeprefix("synthetic/") in SCENES
        # Options only for multiple choice, and never in the question text itself.
        assert bool(record["options"]) == (record["problem_type"] == "multiple choice")
        assert "A." not in record["problem"]


def test_problem_ids_unique_and_splits_disjoint(tiny):
    train, eval_ = _records(tiny)
    ids = [r["problem_id"] for r in train + eval_]
    assert len(set(ids)) == len(ids)
    assert not {r["path"] for r in train} & {r["path"] for r in eval_}
    # Different rng streams: no two clips share their final frame.
    last_frames = {_frames(tiny, r)[-1].tobytes() for r in train + eval_}
    assert len(last_frames) == len(ids)


def test_answers_match_their_problem_type(tiny):
    train, eval_ = _records(tiny)
    for record in train + eval_:
        answer = re.fullmatch(r"<answer>(.*)</answer>", record["solution"]).group(1)
        kind, options = record["problem_type"], record["options"]
        if kind == "multiple choice":
            letters = [o.split(". ", 1)[0] for o in options]
            assert letters == list(OPTION_LETTERS[: len(options)]), options
            assert 2 <= len(options) <= 4 and answer in letters
            assert len({o.split(". ", 1)[1] for o in options}) == len(options), "duplicate option"
        elif kind == "numerical":
            assert re.fullmatch(r"[1-6]", answer), answer
        elif kind == "regression":
            assert re.fullmatch(r"\d+(\.5)?", answer) and float(answer) > 0, answer
        elif kind == "OCR":
            assert answer in WORDS
        else:
            assert answer[0].isupper() and answer.endswith(".") and len(answer.split()) >= 5
        # The chain of thought must end on the same answer it gives.
        assert answer.rstrip(".") in record["process"]


def test_every_problem_type_and_scene_appears(tmp_path):
    config = SyntheticConfig(seed=1, num_train=24, num_eval=6, num_frames=8, width=32, height=32)
    train, eval_ = _records(generate_synthetic_dataset(tmp_path, config))
    assert {r["problem_type"] for r in train + eval_} == set(PROBLEM_TYPES)
    # The default trains the two multiple-choice scenes twice as often as the others.
    sources = [r["data_source"] for r in train]
    counts = {name: sources.count(f"synthetic/{name}") for name in config.scenes}
    assert counts == {"motion_direction": 6, "moving_place": 6, "counting": 3, "distance": 3, "ocr": 3,
                      "description": 3}, sources


def test_a_split_cycles_through_the_chosen_scenes_only(tmp_path):
    config = SyntheticConfig(num_train=6, num_eval=2, num_frames=8, width=32, height=32,
                             scenes=("moving_colour", "motion_direction"), train_scenes=())
    train, eval_ = _records(generate_synthetic_dataset(tmp_path, config))
    assert sorted(r["data_source"] for r in train) == ["synthetic/motion_direction"] * 3 + ["synthetic/moving_colour"] * 3
    with pytest.raises(ValueError, match="scenes=\\['dancing'\\]: need one or more of"):
        SyntheticConfig(scenes=("dancing",), train_scenes=())
    # Own scenes beside the default's weighted train cycle: said at once, not trained on unasked scenes.
    with pytest.raises(ValueError, match="\\['counting', 'description', 'distance', 'moving_place', 'ocr'\\] not in "
                                         "scenes=\\['moving_colour', 'motion_direction'\\], so never evaluated"):
        SyntheticConfig(scenes=("moving_colour", "motion_direction"))


def test_the_train_split_can_weight_scenes_while_held_out_splits_stay_balanced(tmp_path):
    config = SyntheticConfig(num_train=9, num_eval=4, num_validation=4, num_frames=8, width=32, height=32,
                             scenes=("moving_colour", "motion_direction"),
                             train_scenes=("motion_direction", "motion_direction", "moving_colour"))
    dataset = generate_synthetic_dataset(tmp_path, config)
    train, eval_ = _records(dataset)
    validation = json.loads(dataset.validation_annotations.read_text())
    assert sorted(r["data_source"] for r in train) == ["synthetic/motion_direction"] * 6 + ["synthetic/moving_colour"] * 3
    for held_out in (eval_, validation):
        assert sorted(r["data_source"] for r in held_out) == ["synthetic/motion_direction"] * 2 + ["synthetic/moving_colour"] * 2
    # The eval clips are the balanced config's, clip for clip.
    balanced = generate_synthetic_dataset(tmp_path / "balanced", config.model_copy(update={"train_scenes": ()}))
    assert balanced.eval_annotations.read_text() == dataset.eval_annotations.read_text()
    with pytest.raises(ValueError, match="train_scenes=\\['dancing'\\]: \\['dancing'\\] unknown"):
        SyntheticConfig(train_scenes=("dancing",))


def test_the_validation_split_is_drawn_like_train_from_clips_of_its_own(tmp_path):
    config = SyntheticConfig(num_train=6, num_eval=2, num_validation=3, num_frames=8, width=32, height=32)
    dataset = generate_synthetic_dataset(tmp_path, config)
    validation = json.loads(dataset.validation_annotations.read_text())
    others = sum(_records(dataset), [])
    assert len(validation) == 3 and all(r["path"].startswith("./videos/validation_") for r in validation)
    assert not {r["path"] for r in validation} & {r["path"] for r in others}
    # Adding the validation split leaves the train and eval clips as they were.
    without = generate_synthetic_dataset(tmp_path / "without", config.model_copy(update={"num_validation": 0}))
    assert without.train_annotations.read_text() == dataset.train_annotations.read_text()
    assert json.loads(without.validation_annotations.read_text()) == []


def test_which_colour_moves_is_asked_among_four_colours_and_only_the_mover_changes_place():
    clip = SCENES["moving_colour"](np.random.default_rng(5), Layout(16, 64, 64, 8))
    assert len(clip.options) == 4 and clip.problem_type == "multiple choice"
    colour = clip.options["ABCD".index(clip.answer)].split(". ")[1]
    assert f"the moving shape is {colour}" in clip.reasoning


def test_event_order_answers_the_colour_whose_object_reaches_the_ground_first_or_last():
    layout = Layout(32, 112, 112, 8)
    asked = set()
    for seed in range(12):
        clip = SCENES["event_order"](np.random.default_rng(seed), layout)
        # The objects hang in equal slots, left to right, in the order the reasoning lists them.
        listed = re.search(r"hanging on strings: (.+?)\. One by one", clip.reasoning).group(1)
        colours = [item.split()[1] for item in re.split(r", | and ", listed)]
        # Per slot, the first frame in which something rests on the ground line: the rows just
        # above it stop being sky.
        above_ground = clip.frames[:, layout.ground_y - 3 : layout.ground_y].astype(np.int16)
        sky = above_ground[0, :, :1]
        occupied = (np.abs(above_ground - sky).max(axis=-1) > 60).any(axis=1)  # [T, W]
        slot = layout.width / len(colours)
        landed = [int(np.argmax(occupied[:, round(i * slot) : round((i + 1) * slot)].any(axis=1)))
                  for i in range(len(colours))]
        which = "first" if "lands first" in clip.problem else "last"
        expected = colours[int(np.argmin(landed) if which == "first" else np.argmax(landed))]
        answer = clip.options[OPTION_LETTERS.index(clip.answer)].split(". ", 1)[1]
        assert answer == expected, (seed, which, landed, colours, clip.options)
        asked.add(which)
    assert asked == {"first", "last"}


def test_moving_place_answers_the_column_whose_shape_moves_and_only_it_changes_place():
    layout = Layout(32, 112, 112, 8)
    for seed in range(12):
        clip = SCENES["moving_place"](np.random.default_rng(seed), layout)
        places = [option.split(". ", 1)[1] for option in clip.options]
        assert places in (["left", "right"], ["left", "middle", "right"])
        # Per slot, left to right, how many pixels of the sky change between the first and the last
        # frame: found in the frames, not in the generator's variables.
        air = clip.frames[:, layout.bar_height + 1 : layout.ground_y].astype(np.int16)
        changed = (np.abs(air[-1] - air[0]).max(axis=-1) > 60).sum(axis=0)  # [W]
        slot = layout.width / len(places)
        per_slot = [int(changed[round(i * slot) : round((i + 1) * slot)].sum()) for i in range(len(places))]
        mover = int(np.argmax(per_slot))
        assert sorted(per_slot)[-2] == 0, (seed, per_slot)   # the others stay exactly where they are
        assert clip.options[OPTION_LETTERS.index(clip.answer)] == f"{clip.answer}. {places[mover]}", (seed, per_slot)


def test_same_seed_same_dataset_different_seed_differs(tiny, tiny_again, tmp_path):
    assert tiny.train_annotations.read_text() == tiny_again.train_annotations.read_text()
    assert tiny.eval_annotations.read_text() == tiny_again.eval_annotations.read_text()
    for a, b in zip(sum(_records(tiny), []), sum(_records(tiny_again), [])):
        # Same bytes, not only same pixels: downstream caches key on file content.
        assert (tiny.media_root / a["path"]).read_bytes() == (tiny_again.media_root / b["path"]).read_bytes()
        assert np.array_equal(_frames(tiny, a), _frames(tiny_again, b)), a["path"]

    other = generate_synthetic_dataset(tmp_path, TINY.model_copy(update={"seed": 4}))
    assert other.train_annotations.read_text() != tiny.train_annotations.read_text()
    first = _records(tiny)[0][0]
    other_first = _records(other)[0][0]
    assert not np.array_equal(_frames(tiny, first)[-1], _frames(other, other_first)[-1])


def test_arrow_of_time_cues_survive_encoding(tiny):
    bar = Layout(TINY.num_frames, TINY.width, TINY.height, TINY.fps).bar_height
    for record in sum(_records(tiny), []):
        frames = _frames(tiny, record)
        reversed_gap = np.abs(frames.astype(np.int16) - frames[::-1].astype(np.int16)).mean()
        assert reversed_gap > 1.0, (record["path"], reversed_gap)
        # Fraction of the top bar's columns that are lit: it only ever grows.
        filled = (_luma(frames[:, 1 : bar - 1]).mean(axis=1) > 150).mean(axis=1)
        assert np.all(np.diff(filled) >= 0), (record["path"], filled)
        assert filled[0] < 0.15 and filled[-1] > 0.95, (record["path"], filled)


def test_ground_line_is_at_the_bottom(tiny):
    for record in sum(_records(tiny), []):
        first = _luma(_frames(tiny, record)[0])
        # Rows lit across (almost) the whole width: only the ground line, which is a rotation cue.
        lit_rows = np.flatnonzero((first > 150).mean(axis=1) > 0.9)
        assert lit_rows.size, record["path"]
        assert lit_rows.min() >= 0.75 * TINY.height, (record["path"], lit_rows)
        # The floor band below it is brighter than the sky above it.
        ground = lit_rows.max() + 1
        assert np.median(first[ground:]) > np.median(first[TINY.height // 4 : TINY.height // 2]) + 20


def test_write_video_round_trips_frames(tmp_path):
    layout = Layout(num_frames=12, width=96, height=64, fps=6)
    clip = SCENES["motion_direction"](np.random.default_rng(0), layout)
    path = tmp_path / "clip.mp4"
    write_video(path, clip.frames, layout.fps)
    decoded = decord.VideoReader(str(path)).get_batch(list(range(12))).asnumpy()
    assert decoded.shape == clip.frames.shape
    assert np.abs(decoded.astype(np.int16) - clip.frames.astype(np.int16)).mean() < 3.0


@pytest.mark.parametrize("size", [(8, 32, 32), (9, 256, 48), (32, 112, 112)])
@pytest.mark.parametrize("scene", list(SCENES))
def test_every_scene_renders_at_any_valid_size(scene, size):
    num_frames, width, height = size
    layout = Layout(num_frames, width, height, fps=8)
    clip = SCENES[scene](np.random.default_rng(7), layout)
    assert clip.frames.shape == (num_frames, height, width, 3) and clip.frames.dtype == np.uint8
    # Something other than the progress bar changes over the clip.
    below_bar = clip.frames[:, layout.bar_height :].astype(np.int16)
    assert np.abs(below_bar[-1] - below_bar[0]).max() > 0, scene


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_frames", 4, "num_frames=4"),
        ("width", 33, "width=33"),
        ("height", 512, "height=512"),
        ("num_train", 0, "num_train=0"),
        ("seed", -1, "seed=-1"),
    ],
)
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**{field: value})


@pytest.mark.parametrize("scene", ["motion_direction", "moving_colour", "moving_place", "event_order"])
def test_options_keep_a_fixed_order_and_the_answer_letter_stays_uniform(scene):
    from viss_r1.synthetic.scenes import DIRECTIONS, PALETTE, PLACES

    canonical = {"motion_direction": DIRECTIONS, "moving_place": PLACES[3]}.get(scene, tuple(PALETTE))
    letters = []
    for seed in range(240):
        clip = SCENES[scene](np.random.default_rng(seed), Layout(16, 32, 32, 8))
        words = [option.split(". ", 1)[1] for option in clip.options]
        assert words == sorted(words, key=canonical.index), clip.options
        letters.append((clip.answer, len(words)))
    # Every letter is the answer about equally often for each number of options: no prior to learn.
    for count in {n for _, n in letters}:
        answers = [letter for letter, n in letters if n == count]
        shares = [answers.count(letter) / len(answers) for letter in OPTION_LETTERS[:count]]
        assert all(abs(share - 1 / count) < 0.35 / count for share in shares), (count, shares)


def _mover_track(frames: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """[T, 2] centre (x, y from the top-left, in pixels) of the pixels of ``colour`` in each frame."""
    near = (np.abs(frames.astype(np.int16) - np.array(colour, dtype=np.int16)).max(axis=-1) < 30)
    return np.array([np.argwhere(mask)[:, ::-1].mean(axis=0) for mask in near])


def _on_screen(frames: np.ndarray, colour) -> tuple[str, float]:
    """(the way the shape of ``colour`` moves, in screen words, and where across its motion it is,
    0 at the left or top edge to 1 at the right or bottom), read off the pixels."""
    track = _mover_track(frames, colour)
    dx, dy = track[-1] - track[0]
    way = ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else ("down" if dy > 0 else "up")
    return way, track[:, 1 if way in ("left", "right") else 0].mean() / frames.shape[2]


def _strip(way: str, across: float, spots: int) -> str:
    """Which of ``spots`` equal strips across a motion ``way`` a shape is in, in screen words."""
    strips = ("left", "right") if spots == 2 else ("left", "middle", "right")
    if way in ("left", "right"):   # strips across a sideways motion are rows
        strips = tuple({"left": "top", "right": "bottom"}.get(s, s) for s in strips)
    return strips[int(across * spots)]


PHRASE = {"left": "to the left", "right": "to the right", "up": "upward", "down": "downward"}
AT = {"left": "on the left", "right": "on the right", "middle": "in the middle", "top": "at the top",
      "bottom": "at the bottom"}


@pytest.mark.parametrize("scene", ["motion_direction", "moving_place"])
def test_the_reasoning_on_a_turned_or_reversed_clip_says_what_its_pixels_show(scene):
    """Each view's thought names the way (and, for which one moves, the place) the mover is seen in
    the transformed frames, then undoes it to the record's own answer."""
    from viss_r1.pretext.transforms import TransformSpec, apply_transform
    from viss_r1.synthetic.scenes import PALETTE

    layout = Layout(16, 112, 112, 8)
    for seed in range(8):
        clip = SCENES[scene](np.random.default_rng(seed), layout)
        assert set(clip.views) == {"rotate/90", "rotate/180", "rotate/270", "arrow/1"}
        colour = next(c for c in PALETTE if f" {c} " in clip.views["arrow/1"].split("On screen")[1])
        for key, thought in clip.views.items():
            name, param = key.split("/")
            turned = apply_transform(clip.frames.transpose(0, 3, 1, 2), TransformSpec.of("video", name, int(param)))
            way, across = _on_screen(turned.transpose(0, 2, 3, 1), PALETTE[colour])
            seen, undone = thought.split(" On screen, ")[1].split(". ", 1)
            if scene == "moving_place" and name == "arrow":
                assert seen.endswith({"up": "rises steadily", "down": "sinks steadily"}[way]), (seed, key, thought)
            else:
                assert seen.endswith(f"moves steadily {PHRASE[way]}"), (seed, key, thought)
            if scene == "moving_place":
                place = _strip(way, across, len(clip.options))
                assert seen.startswith(f"the one {AT[place]}, a {colour} "), (seed, key, thought)
            assert thought.startswith("<think>") and thought.endswith(f"which is option {clip.answer}.</think>")
