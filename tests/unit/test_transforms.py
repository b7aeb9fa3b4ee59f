"""The six pretext transforms: exact inverses, the letters, and the drawn label distribution."""

import numpy as np
import pytest

from viss_r1.pretext.transforms import (
    FLIP_MODES,
    IMAGE_TRANSFORMS,
    OPTION_LETTERS,
    ROTATE_DEGREES,
    SWAP_PAIRS,
    VIDEO_TRANSFORMS,
    TransformSpec,
    apply_transform,
    design_distribution,
    draw_transform,
    invert_transform,
    shuffle_groups,
    shuffle_permutation,
    transform_params,
)


def all_specs(media):
    names = VIDEO_TRANSFORMS if media == "video" else IMAGE_TRANSFORMS
    return [TransformSpec.of(media, name, p) for name in names for p in transform_params(media, name)]


def frames(t, h, w, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(t, c, h, w), dtype=np.uint8)


VIDEO_SHAPES = [(t, h, w) for t in (4, 5, 7, 16, 32) for h, w in ((6, 6), (5, 7), (8, 3))]
IMAGE_SHAPES = [(1, 4, 4), (1, 5, 7), (1, 9, 2), (1, 28, 56), (3, 7, 5)]


@pytest.mark.parametrize("shape", VIDEO_SHAPES)
def test_video_transforms_are_exactly_invertible(shape):
    x = frames(*shape)
    for spec in all_specs("video"):
        y = apply_transform(x, spec)
        assert np.array_equal(invert_transform(y, spec), x), spec
        if spec.letter != "A" or spec.name == "shuffle":  # every non-identity option changes the pixels
            assert y.shape != x.shape or not np.array_equal(y, x), spec


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_image_transforms_are_exactly_invertible(shape):
    x = frames(*shape)
    for spec in all_specs("image"):
        assert np.array_equal(invert_transform(apply_transform(x, spec), spec), x), spec


def test_results_are_new_arrays_even_for_the_identity():
    x = frames(4, 4, 4)
    for spec in all_specs("video") + all_specs("image"):
        y = apply_transform(x, spec)
        assert not np.shares_memory(x, y), spec
        assert y.flags.c_contiguous
        assert not np.shares_memory(x, invert_transform(x, spec)), spec


def test_rotate_90_is_counter_clockwise_and_letter_b():
    spec = TransformSpec.of("image", "rotate", 90)
    assert spec.letter == "B"
    x = np.array([[1, 2, 3],
                  [4, 5, 6]]).reshape(1, 1, 2, 3)
    y = apply_transform(x, spec)
    # A counter-clockwise quarter turn brings the right column to the top (top-right → top-left).
    assert y[0, 0].tolist() == [[3, 6],
                                [2, 5],
                                [1, 4]]
    assert y.shape == (1, 1, 3, 2)
    assert apply_transform(x, TransformSpec.of("image", "rotate", 270))[0, 0].tolist() == [[4, 1], [5, 2], [6, 3]]
    assert [TransformSpec.of("video", "rotate", d).letter for d in ROTATE_DEGREES] == list("ABCD")


def test_arrow_reversed_is_b_and_reverses_frames():
    x = np.arange(6).reshape(6, 1, 1, 1)
    reversed_ = TransformSpec.of("video", "arrow", 1)
    assert reversed_.letter == "B"
    assert apply_transform(x, reversed_).ravel().tolist() == [5, 4, 3, 2, 1, 0]
    forward = TransformSpec.of("video", "arrow", 0)
    assert forward.letter == "A"
    assert apply_transform(x, forward).ravel().tolist() == list(range(6))


def test_shuffle_pair_1_3_on_8_frames():
    spec = TransformSpec.of("video", "shuffle", SWAP_PAIRS.index((1, 3)))
    assert spec.letter == "B"
    x = np.arange(8).reshape(8, 1, 1, 1)
    assert apply_transform(x, spec).ravel().tolist() == [4, 5, 2, 3, 0, 1, 6, 7]


def test_shuffle_groups_are_as_equal_as_possible():
    assert shuffle_groups(16) == [(0, 4), (4, 8), (8, 12), (12, 16)]
    assert shuffle_groups(10) == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert shuffle_groups(7) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert shuffle_groups(4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    with pytest.raises(ValueError, match="at least 4 frames"):
        shuffle_groups(3)


def test_shuffle_of_unequal_segments_moves_whole_segments():
    # 7 frames → segments [0,1] [2,3] [4,5] [6]; swapping 1 and 4 shifts the middle ones.
    assert shuffle_permutation(7, SWAP_PAIRS.index((1, 4))).tolist() == [6, 2, 3, 4, 5, 0, 1]
    x = np.arange(7).reshape(7, 1, 1, 1)
    spec = TransformSpec.of("video", "shuffle", SWAP_PAIRS.index((1, 4)))
    y = apply_transform(x, spec)
    assert y.ravel().tolist() == [6, 2, 3, 4, 5, 0, 1]
    assert invert_transform(y, spec).ravel().tolist() == list(range(7))


def test_shuffle_rejects_too_few_frames():
    spec = TransformSpec.of("video", "shuffle", 0)
    with pytest.raises(ValueError, match="at least 4 frames"):
        apply_transform(frames(3, 4, 4), spec)


def test_wrong_ndim_is_rejected():
    with pytest.raises(ValueError, match=r"\[T, C, H, W\]"):
        apply_transform(np.zeros((3, 4, 4)), TransformSpec.of("image", "flip", 1))


def test_flip_modes_on_a_hand_made_image():
    x = np.array([[1, 2, 3],
                  [4, 5, 6]]).reshape(1, 1, 2, 3)
    by_mode = {mode: apply_transform(x, TransformSpec.of("image", "flip", i))[0, 0].tolist()
               for i, mode in enumerate(FLIP_MODES)}
    assert by_mode == {"none": [[1, 2, 3], [4, 5, 6]],
                       "left-right": [[3, 2, 1], [6, 5, 4]],
                       "top-bottom": [[4, 5, 6], [1, 2, 3]]}
    assert [TransformSpec.of("image", "flip", i).letter for i in range(3)] == list("ABC")


def test_puzzle_swaps_cells_on_a_hand_made_image():
    # 4×4 image whose 2×2 cells hold 1 (TL), 2 (TR), 3 (BL), 4 (BR).
    x = np.kron(np.array([[1, 2], [3, 4]]), np.ones((2, 2), dtype=int)).reshape(1, 1, 4, 4)
    spec = TransformSpec.of("image", "puzzle", SWAP_PAIRS.index((2, 3)))
    assert spec.letter == "D"
    y = apply_transform(x, spec)[0, 0]
    assert y[::2, ::2].tolist() == [[1, 3], [2, 4]]


def test_puzzle_with_odd_sides_keeps_the_last_row_and_column():
    x = np.arange(5 * 7).reshape(1, 1, 5, 7)
    spec = TransformSpec.of("image", "puzzle", SWAP_PAIRS.index((1, 4)))
    y = apply_transform(x, spec)[0, 0]
    src = x[0, 0]
    assert np.array_equal(y[:2, :3], src[2:4, 3:6])   # cell 1 now holds cell 4
    assert np.array_equal(y[2:4, 3:6], src[:2, :3])
    assert np.array_equal(y[:2, 3:6], src[:2, 3:6])   # cells 2, 3 untouched
    assert np.array_equal(y[4], src[4]) and np.array_equal(y[:, 6], src[:, 6])


def test_spec_validation_messages():
    with pytest.raises(ValueError, match="unknown video transform 'flip'; choose from rotate, arrow, shuffle"):
        TransformSpec.of("video", "flip", 0)
    with pytest.raises(ValueError, match="unknown media"):
        TransformSpec.of("audio", "rotate", 0)
    with pytest.raises(ValueError, match="parameter 45"):
        TransformSpec.of("image", "rotate", 45)
    with pytest.raises(ValueError, match="letter is B"):
        TransformSpec("image", "rotate", 90, "C")
    assert TransformSpec.of("video", "shuffle", np.int64(5)) == TransformSpec("video", "shuffle", 5, "F")


@pytest.mark.parametrize("media,name", [("video", n) for n in VIDEO_TRANSFORMS] + [("image", n) for n in IMAGE_TRANSFORMS])
def test_draw_frequencies_match_the_design(media, name):
    rng = np.random.default_rng(123)
    draws = [draw_transform(media, name, rng) for _ in range(20_000)]
    design = design_distribution(media, name)
    assert abs(sum(design.values()) - 1.0) < 1e-12
    assert set(design) == set(OPTION_LETTERS[: len(transform_params(media, name))])
    for letter, p in design.items():
        observed = sum(d.letter == letter for d in draws) / len(draws)
        assert abs(observed - p) < 0.02, (letter, observed, p)
    if name in ("shuffle", "puzzle"):  # never the identity: every option swaps a pair
        x = frames(8, 6, 6)
        assert all(not np.array_equal(apply_transform(x, d), x) for d in draws[:200])


def test_arrow_reverse_probability_is_configurable():
    assert design_distribution("video", "arrow") == pytest.approx({"A": 0.45, "B": 0.55})
    rng = np.random.default_rng(0)
    assert all(draw_transform("video", "arrow", rng, arrow_reverse_prob=1.0).letter == "B" for _ in range(100))
    with pytest.raises(ValueError, match="arrow_reverse_prob"):
        draw_transform("video", "arrow", rng, arrow_reverse_prob=1.5)
