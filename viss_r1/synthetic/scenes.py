"""Scene generators: each draws one clip from an rng and writes the question it answers.

Every scene shares the same stage so that every pretext task is solvable on every clip:
- a floor band with a bright ground line at the bottom, objects resting on it, upright text
  (rotation is visible);
- a progress bar along the top edge that only fills, plus time-asymmetric motion — trails,
  accelerating falls that come to rest, friction stops, typing (reversal is visible);
- smooth, continuous motion spread over the whole clip (a swapped segment makes a visible jump).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from viss_r1.pretext.narration import thought_on_view, turned_direction, turned_place, view_key
from viss_r1.pretext.transforms import OPTION_LETTERS, TransformSpec
from viss_r1.synthetic.drawing import (
    SHAPES,
    Colour,
    canvas,
    draw_ground,
    draw_mask,
    draw_progress_bar,
    draw_segment,
    draw_shape,
    fill_rect,
    mix,
    text_mask,
)
from viss_r1.vocabulary import ProblemType


# Saturated colours that stay apart after H.264 chroma subsampling on a dark sky.
PALETTE: dict[str, Colour] = {
    "red": (235, 45, 45),
    "green": (50, 205, 70),
    "blue": (60, 120, 255),
    "yellow": (250, 225, 40),
    "orange": (255, 140, 20),
    "purple": (185, 85, 235),
    "cyan": (40, 220, 230),
}
WORDS = (
    "CAT", "DOG", "SUN", "BOX", "CUP", "HAT", "MAP", "BUS", "KEY", "PEN",
    "TREE", "BIRD", "FISH", "STAR", "MOON", "BOAT", "CAKE", "LAMP", "ROSE", "DOOR", "FROG",
    "APPLE", "HOUSE", "TRAIN", "CLOUD", "HORSE", "LEMON", "PIANO", "CHAIR", "BREAD",
    "PLANET", "ORANGE", "GARDEN", "ROCKET", "BANANA", "WINDOW",
)  # fmt: skip
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")

BAR_FILL: Colour = (240, 240, 240)
BAR_TRACK: Colour = (60, 60, 72)
GROUND_LINE: Colour = (215, 215, 205)
LABEL: Colour = (230, 230, 215)


@dataclass(frozen=True)
class Layout:
    """Pixel geometry shared by all scenes, derived from the clip size."""

    num_frames: int
    width: int
    height: int
    fps: int

    @property
    def bar_height(self) -> int:
        return max(4, 2 * round(self.height * 0.02))

    @property
    def ground_y(self) -> int:
        """First row of the floor band (the ground line's top row)."""
        return self.height - max(8, 2 * round(self.height * 0.07))

    @property
    def line_width(self) -> int:
        return max(2, 2 * round(self.height * 0.01))

    @property
    def sky_top(self) -> int:
        """Highest row an object may reach (just under the progress bar)."""
        return self.bar_height + 2

    @property
    def size(self) -> int:
        return min(self.width, self.height)

    @property
    def last(self) -> int:
        return self.num_frames - 1

    def seconds(self, t: float) -> str:
        return f"{t / self.fps:.1f} s"


@dataclass(frozen=True)
class Clip:
    scene: str  # becomes data_source "synthetic/<scene>"
    frames: np.ndarray  # [T, H, W, 3] uint8
    problem: str
    problem_type: ProblemType
    options: tuple[str, ...]
    reasoning: str  # goes inside <think>
    answer: str  # goes inside <answer>
    # Reasoning on the clip rotated or reversed, where the answer's evidence changes on screen:
    # {view_key: "<think>…</think>"} (viss_r1.pretext.narration.VIEWS_FIELD). Views not here read the
    # same on screen as the original, up to the transform's sentence.
    views: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- shared helpers

# What the SSL-CoT SFT shows a clip as, beyond the original: each rotation and the reversal.
_TURNS = tuple(TransformSpec.of("video", "rotate", degrees) for degrees in (90, 180, 270))
_REVERSED = TransformSpec.of("video", "arrow", 1)
_OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def _views(seen: Callable[[TransformSpec], str], undone: str) -> dict[str, str]:
    """Reasoning for each rotated and the reversed view: ``seen(spec)`` on screen, then ``undone``."""
    return {view_key(spec): thought_on_view(spec, seen(spec), undone) for spec in (*_TURNS, _REVERSED)}


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _pick_many(rng: np.random.Generator, items, k: int) -> list:
    return [items[i] for i in rng.choice(len(items), size=k, replace=False)]


def _plural(shape: str) -> str:
    return f"{shape}s"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _options(choices: list[str], correct: str, canonical: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """"A. …" options in a fixed order (``canonical``: the palette's, the four directions') and the
    correct letter. Letters still carry no prior — every scene draws its answer uniformly among
    the choices — but a word always sits at the same letter, so the tiny model's step from what it
    saw to the letter is one it can learn in a few hundred steps; with shuffled options it learned
    no letter at all (README, "What the tiny model learns")."""
    order = sorted(choices, key=canonical.index)
    letter = OPTION_LETTERS[order.index(correct)]
    return tuple(f"{OPTION_LETTERS[i]}. {c}" for i, c in enumerate(order)), letter


def _backdrop(lay: Layout, rng: np.random.Generator) -> tuple[np.ndarray, Colour]:
    sky = tuple(int(c) for c in np.array([18, 22, 40]) + rng.integers(-8, 9, size=3))
    band = tuple(int(c) for c in np.array([100, 74, 50]) + rng.integers(-10, 11, size=3))
    frame = canvas(lay.height, lay.width, sky)
    draw_ground(frame, lay.ground_y, band, GROUND_LINE, lay.line_width)
    return frame, sky


def _film(
    lay: Layout,
    backdrop: np.ndarray,
    paint: Callable[[np.ndarray, int], None],
    persist: Callable[[np.ndarray, int], None] | None = None,
) -> np.ndarray:
    """Render all frames: ``persist`` draws marks that stay (trails) into the backdrop,
    ``paint`` draws frame t's objects; the progress bar goes on last."""
    frames = np.empty((lay.num_frames, lay.height, lay.width, 3), dtype=np.uint8)
    for t in range(lay.num_frames):
        if persist is not None:
            persist(backdrop, t)
        frames[t] = backdrop
        paint(frames[t], t)
        draw_progress_bar(frames[t], (t + 1) / lay.num_frames, lay.bar_height, BAR_FILL, BAR_TRACK)
    return frames


def _ramp(t: float, start: float, end: float) -> float:
    """0 before ``start``, 1 after ``end``, linear between."""
    return float(np.clip((t - start) / max(end - start, 1e-9), 0.0, 1.0))


def _friction(u: float) -> float:
    """Fraction of the path covered under constant deceleration: fast start, gentle stop."""
    return 1.0 - (1.0 - u) ** 2


class _Trail:
    """Dim stroke left behind a moving object; drawn into the backdrop so it only grows."""

    def __init__(self, path: Callable[[int], tuple[float, float]], radius: float, colour: Colour):
        self.path, self.radius, self.colour = path, radius, colour
        self.previous: tuple[float, float] | None = None

    def __call__(self, backdrop: np.ndarray, t: int) -> None:
        point = self.path(t)
        draw_segment(backdrop, self.previous or point, point, self.radius, self.colour)
        self.previous = point


# --------------------------------------------------------------------------- 1. motion direction

DIRECTIONS = ("left", "right", "up", "down")
# Options by where a shape stands, for scenes with one shape a column.
PLACES = {2: ("left", "right"), 3: ("left", "middle", "right")}
_AT_PLACE = {"left": "on the left", "middle": "in the middle", "right": "on the right",
             "top": "at the top", "bottom": "at the bottom"}   # the last two: on a clip turned a quarter
_DIRECTION_PHRASE = {"left": "to the left", "right": "to the right", "up": "upward", "down": "downward"}


def motion_direction(rng: np.random.Generator, lay: Layout) -> Clip:
    backdrop, sky = _backdrop(lay, rng)
    name, shape = _pick(rng, list(PALETTE)), _pick(rng, SHAPES)
    colour, r = PALETTE[name], lay.size * rng.uniform(0.07, 0.10)
    direction = _pick(rng, DIRECTIONS)
    lo_x, hi_x = r + 2, lay.width - r - 2
    lo_y, rest_y = lay.sky_top + r + 2, lay.ground_y - r  # rest_y: touching the ground line
    if direction in ("left", "right"):
        on_ground = rng.random() < 0.5
        y = rest_y if on_ground else rng.uniform(lo_y + 0.2 * (rest_y - lo_y), rest_y - r)
        a = rng.uniform(lo_x, lo_x + 0.2 * (hi_x - lo_x))
        b = rng.uniform(hi_x - 0.2 * (hi_x - lo_x), hi_x)
        start, end = ((a, y), (b, y)) if direction == "right" else ((b, y), (a, y))
        ends = {"left": "near the left edge", "right": "near the right edge"}
        where = "along the ground" if on_ground else "through the air"
        start_text, end_text = ends["left" if direction == "right" else "right"], ends[direction]
    else:
        x = rng.uniform(lo_x, hi_x)
        high = rng.uniform(lo_y, lo_y + 0.15 * (rest_y - lo_y))
        start, end = ((x, rest_y), (x, high)) if direction == "up" else ((x, high), (x, rest_y))
        where = ""
        low_text, high_text = "resting on the ground", "high up near the top"
        start_text, end_text = (low_text, high_text) if direction == "up" else (high_text, low_text)
    t0, t1 = rng.uniform(0.0, 0.15) * lay.last, rng.uniform(0.8, 1.0) * lay.last

    def path(t: int) -> tuple[float, float]:
        u = _ramp(t, t0, t1)
        return start[0] + u * (end[0] - start[0]), start[1] + u * (end[1] - start[1])

    trail = _Trail(path, max(1.5, 0.35 * r), mix(colour, sky, 0.5))
    frames = _film(lay, backdrop, lambda f, t: draw_shape(f, shape, *path(t), r, colour), trail)
    options, letter = _options(list(DIRECTIONS), direction, DIRECTIONS)
    moves = f"moves steadily {_DIRECTION_PHRASE[direction]}" + (f" {where}" if where else "")
    reasoning = (
        f"The {name} {shape} starts {start_text}. Over the frames it {moves}, leaving a dim trail "
        f"behind it, and ends {end_text}. So it moved {direction}, which is option {letter}."
    )

    def seen(spec: TransformSpec) -> str:
        on_screen = _OPPOSITE[direction] if spec.name == "arrow" else turned_direction(direction, spec.param)
        return f"the {name} {shape} moves steadily {_DIRECTION_PHRASE[on_screen]}"

    undone = f"it moves {_DIRECTION_PHRASE[direction]}. So it moved {direction}, which is option {letter}."
    return Clip(
        scene="motion_direction",
        frames=frames,
        problem=f"In which direction does the {name} {shape} move?",
        problem_type="multiple choice",
        options=options,
        reasoning=reasoning,
        answer=letter,
        views=_views(seen, undone),
    )


# --------------------------------------------------------------------------- 1b. which one moves


def moving_colour(rng: np.random.Generator, lay: Layout) -> Clip:
    """Two or three shapes of different colours; one slides across the clip, the others stay.
    Asked which colour moves, among four colours: the ones shown and absent ones, so neither the
    question nor the options say which it is, and a still frame does not either."""
    backdrop, sky = _backdrop(lay, rng)
    n = 2 if rng.random() < 0.5 else 3
    names = _pick_many(rng, list(PALETTE), n)
    shapes = [_pick(rng, SHAPES) for _ in range(n)]
    r = lay.size * rng.uniform(0.08, 0.10)
    mover = int(rng.integers(n))
    lo_x, hi_x = r + 2, lay.width - r - 2
    lo_y, rest_y = lay.sky_top + r + 2, lay.ground_y - r
    # The still ones sit in their own columns; the mover crosses at least half the frame.
    slot = lay.width / n
    spots = [((i + 0.5) * slot + rng.uniform(-0.15, 0.15) * slot, rng.uniform(lo_y, rest_y)) for i in range(n)]
    direction = _pick(rng, DIRECTIONS)
    x, y = spots[mover]
    if direction in ("left", "right"):
        a, b = (lo_x, hi_x) if direction == "right" else (hi_x, lo_x)
        start, end = (a, y), (b, y)
    else:
        a, b = (rest_y, lo_y) if direction == "up" else (lo_y, rest_y)
        start, end = (x, a), (x, b)
    t0, t1 = rng.uniform(0.0, 0.15) * lay.last, rng.uniform(0.8, 1.0) * lay.last

    def path(t: int) -> tuple[float, float]:
        u = _ramp(t, t0, t1)
        return start[0] + u * (end[0] - start[0]), start[1] + u * (end[1] - start[1])

    def paint(frame: np.ndarray, t: int) -> None:
        for i in range(n):
            cx, cy = path(t) if i == mover else spots[i]
            draw_shape(frame, shapes[i], cx, cy, r, PALETTE[names[i]])

    trail = _Trail(path, max(1.5, 0.35 * r), mix(PALETTE[names[mover]], sky, 0.5))
    frames = _film(lay, backdrop, paint, trail)
    choices = names + _pick_many(rng, [c for c in PALETTE if c not in names], 4 - n)
    options, letter = _options(choices, names[mover], tuple(PALETTE))
    still = [f"the {names[i]} {shapes[i]}" for i in range(n) if i != mover]
    reasoning = (
        f"I see {NUMBER_WORDS[n]} shapes. {_join(still).capitalize()} {'stays' if n == 2 else 'stay'} in place the "
        f"whole time. The {names[mover]} {shapes[mover]} moves {_DIRECTION_PHRASE[direction]}, leaving a trail. "
        f"So the moving shape is {names[mover]}, which is option {letter}."
    )
    return Clip(
        scene="moving_colour",
        frames=frames,
        problem="Which colour is the shape that moves?",
        problem_type="multiple choice",
        options=options,
        reasoning=reasoning,
        answer=letter,
    )


def _one_shape_a_column(rng: np.random.Generator, lay: Layout) -> tuple[int, list[str], list[str], float, list[float]]:
    """Two or three shapes of different colours, one a column: their count, colours, shapes, half-size
    and x centres (each jittered within its column)."""
    n = 3 if rng.random() < 0.7 else 2
    names = _pick_many(rng, list(PALETTE), n)
    shapes = [_pick(rng, SHAPES) for _ in range(n)]
    r = lay.size * rng.uniform(0.07, 0.09)
    slot = lay.width / n
    xs = [(i + 0.5) * slot + rng.uniform(-0.12, 0.12) * slot for i in range(n)]
    return n, names, shapes, r, xs


def moving_place(rng: np.random.Generator, lay: Layout) -> Clip:
    """Two or three shapes, each in its own column at its own height; one rises or sinks through the
    sky, leaving a trail, the others stay. Asked which one moves, by where it is (left, middle,
    right): the letter is the mover's column, a step from what is seen to the answer that the tiny
    model learns where a colour's letter was beyond it (README, "What the tiny model learns")."""
    backdrop, sky = _backdrop(lay, rng)
    n, names, shapes, r, xs = _one_shape_a_column(rng, lay)
    lo_y, hi_y = lay.sky_top + r + 2, lay.ground_y - 2 * r
    heights = [rng.uniform(lo_y, hi_y) for _ in range(n)]
    mover = int(rng.integers(n))
    rises = rng.random() < 0.5
    start, end = (hi_y, lo_y) if rises else (lo_y, hi_y)
    heights[mover] = start
    t0, t1 = rng.uniform(0.0, 0.15) * lay.last, rng.uniform(0.8, 1.0) * lay.last

    def path(t: int) -> tuple[float, float]:
        return xs[mover], start + _ramp(t, t0, t1) * (end - start)

    def paint(frame: np.ndarray, t: int) -> None:
        for i in range(n):
            cx, cy = path(t) if i == mover else (xs[i], heights[i])
            draw_shape(frame, shapes[i], cx, cy, r, PALETTE[names[i]])

    trail = _Trail(path, max(1.5, 0.35 * r), mix(PALETTE[names[mover]], sky, 0.5))
    frames = _film(lay, backdrop, paint, trail)
    places = PLACES[n]
    options, letter = _options(list(places), places[mover], places)
    # The chain names the mover's place first: a chain that lists the still shapes first commits to
    # the mover's place at its first words, before the tiny model has anything to go on.
    reasoning = (
        f"I see {NUMBER_WORDS[n]} shapes in the air. The one {_AT_PLACE[places[mover]]}, a {names[mover]} "
        f"{shapes[mover]}, {'rises' if rises else 'sinks'} steadily and leaves a trail; the other "
        f"{'one stays' if n == 2 else 'two stay'} in place the whole time. So the moving one is "
        f"{_AT_PLACE[places[mover]]}, which is option {letter}."
    )
    way = "up" if rises else "down"

    def seen(spec: TransformSpec) -> str:
        if spec.name == "arrow":
            return (f"the one {_AT_PLACE[places[mover]]}, a {names[mover]} {shapes[mover]}, "
                    f"{'sinks' if rises else 'rises'} steadily")
        return (f"the one {_AT_PLACE[turned_place(places[mover], spec.param)]}, a {names[mover]} {shapes[mover]}, "
                f"moves steadily {_DIRECTION_PHRASE[turned_direction(way, spec.param)]}")

    undone = (f"it is the one {_AT_PLACE[places[mover]]}, and it {'rises' if rises else 'sinks'}. So the moving "
              f"one is {_AT_PLACE[places[mover]]}, which is option {letter}.")
    return Clip(
        scene="moving_place",
        frames=frames,
        problem="Which one of the shapes moves?",
        problem_type="multiple choice",
        options=options,
        reasoning=reasoning,
        answer=letter,
        views=_views(seen, undone),
    )


# --------------------------------------------------------------------------- 2. order of events


def event_order(rng: np.random.Generator, lay: Layout) -> Clip:
    backdrop, _ = _backdrop(lay, rng)
    n, names, shapes, r, xs = _one_shape_a_column(rng, lay)
    top, rest_y = lay.sky_top + r + 2, lay.ground_y - r
    starts = [rng.uniform(top, top + 0.35 * (rest_y - top)) for _ in range(n)]
    # Gravity tuned so the longest possible drop takes 30% of the clip.
    g = 2 * (rest_y - top) / (0.3 * lay.last) ** 2
    falls = [np.sqrt(2 * (rest_y - y) / g) for y in starts]
    # Landing order is drawn independently of release order: a higher object released first
    # can still land second, so the answer needs watching the landings themselves.
    order = rng.permutation(n)
    spread = np.linspace(0.4, 0.92, n) * lay.last + rng.uniform(-0.04, 0.04, n) * lay.last
    landings = np.empty(n)
    landings[order] = spread
    releases = [landings[i] - falls[i] for i in range(n)]

    def height(i: int, t: int) -> float:
        dt = min(max(t - releases[i], 0.0), falls[i])
        return starts[i] + 0.5 * g * dt * dt

    def paint(frame: np.ndarray, t: int) -> None:
        for i in range(n):
            y = height(i, t)
            if t < releases[i]:  # still hanging from its string
                fill_rect(frame, xs[i] - 0.5, lay.sky_top, xs[i] + 0.5, y - r, GROUND_LINE)
            draw_shape(frame, shapes[i], xs[i], y, r, PALETTE[names[i]])

    frames = _film(lay, backdrop, paint)
    ask_first = rng.random() < 0.5
    target = order[0] if ask_first else order[-1]
    options, letter = _options(names, names[target], tuple(PALETTE))
    which = "first" if ask_first else "last"
    objects = [f"a {names[i]} {shapes[i]}" for i in range(n)]
    landing_text = [f"the {names[i]} {shapes[i]} at about {lay.seconds(landings[i])}" for i in order]
    reasoning = (
        f"There are {NUMBER_WORDS[n]} objects hanging on strings: {_join(objects)}. One by one each "
        f"string is cut and the object falls faster and faster until it hits the ground and stays "
        f"there. The landings come in this order: {_join(landing_text)}. So the {names[target]} one "
        f"lands {which}, which is option {letter}."
    )
    return Clip(
        scene="event_order",
        frames=frames,
        problem=f"The objects drop onto the ground one after another. Which colour lands {which}?",
        problem_type="multiple choice",
        options=options,
        reasoning=reasoning,
        answer=letter,
    )


# --------------------------------------------------------------------------- 3. counting


def counting(rng: np.random.Generator, lay: Layout) -> Clip:
    backdrop, _ = _backdrop(lay, rng)
    cols, rows = 4, 2
    top = lay.sky_top + 2
    cell_w, cell_h = lay.width / cols, (lay.ground_y - top) / rows
    r = min(cell_w, cell_h) * rng.uniform(0.28, 0.34)
    k = int(rng.integers(1, 7))
    m = int(rng.integers(0, min(2, cols * rows - k) + 1))
    name, shape = _pick(rng, list(PALETTE)), _pick(rng, SHAPES)
    # Distractors differ in exactly one attribute, so the count needs both colour and shape.
    if rng.random() < 0.5:
        other_name, other_shape = _pick(rng, [c for c in PALETTE if c != name]), shape
    else:
        other_name, other_shape = name, _pick(rng, [s for s in SHAPES if s != shape])
    kinds = [(name, shape)] * k + [(other_name, other_shape)] * m
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]  # appearance order
    cells = rng.permutation(cols * rows)[: len(kinds)]
    jitter = lambda span: rng.uniform(-1, 1) * max(span / 2 - r - 1, 0)  # noqa: E731
    centres = [
        ((c % cols + 0.5) * cell_w + jitter(cell_w), top + (c // cols + 0.5) * cell_h + jitter(cell_h))
        for c in cells
    ]
    spacing = 0.75 * lay.last / len(kinds)
    appear = [0.05 * lay.last + (i + rng.uniform(0.0, 0.5)) * spacing for i in range(len(kinds))]

    def paint(frame: np.ndarray, t: int) -> None:
        for (cname, cshape), (x, y), a in zip(kinds, centres, appear):
            if t >= a:  # pops in and grows to full size over three frames, then stays
                grow = min(1.0, (t - a + 1) / 3)
                draw_shape(frame, cshape, x, y, r * (0.4 + 0.6 * grow), PALETTE[cname])

    frames = _film(lay, backdrop, paint)
    target = f"{name} {_plural(shape)}"
    tally = ", ".join(NUMBER_WORDS[1 : k + 1])
    reasoning = (
        f"Shapes pop up one at a time and stay where they appear. Counting only the {target} as "
        f"they appear: {tally}."
    )
    if m:
        other = f"{other_name} {_plural(other_shape) if m > 1 else other_shape}"
        verb, differs = ("are", "they don't") if m > 1 else ("is", "it doesn't")
        reason = "a different colour" if other_name != name else "a different shape"
        reasoning += f" There {verb} also {NUMBER_WORDS[m]} {other}, {reason}, so {differs} count."
    noun = target if k > 1 else f"{name} {shape}"
    reasoning += f" In the last frame there {'are' if k > 1 else 'is'} {k} {noun}, so the answer is {k}."
    return Clip(
        scene="counting",
        frames=frames,
        problem=f"How many {target} are there at the end of the video?",
        problem_type="numerical",
        options=(),
        reasoning=reasoning,
        answer=str(k),
    )


# --------------------------------------------------------------------------- 4. travelled distance


def distance(rng: np.random.Generator, lay: Layout) -> Clip:
    backdrop, sky = _backdrop(lay, rng)
    units = int(_pick(rng, (5, 6, 8)))
    margin = max(6, round(0.07 * lay.width))
    per_unit = (lay.width - 2 * margin) / units
    to_x = lambda u: margin + u * per_unit  # noqa: E731
    # The ruler: ticks hang from the ground line into the floor band; every tick is labelled
    # when the labels fit side by side, else every other one.
    every = 1 if per_unit >= text_mask(str(units), 1).shape[1] + 3 else 2
    below = lay.ground_y + lay.line_width
    for u in range(units + 1):
        major = u % every == 0
        x = to_x(u)
        fill_rect(backdrop, x - 0.5, below, x + 0.5, below + (4 if major else 2), LABEL)
        if major:
            label = text_mask(str(u), 1)
            draw_mask(backdrop, label, round(x - label.shape[1] / 2), below + 5, LABEL)

    name, shape = _pick(rng, list(PALETTE)), _pick(rng, SHAPES)
    colour, r = PALETTE[name], per_unit * rng.uniform(0.6, 0.8)
    travel = 0.5 * int(rng.integers(3, 2 * (units - 1) + 1))  # 1.5 … units-1, in halves
    a = 0.5 * int(rng.integers(1, int(2 * (units - travel))))  # start, in halves, off the ends
    a, b = (a, a + travel) if rng.random() < 0.5 else (a + travel, a)
    direction = "right" if b > a else "left"
    y = lay.ground_y - r
    t0, t1 = rng.uniform(0.05, 0.2) * lay.last, rng.uniform(0.75, 0.9) * lay.last

    def path(t: int) -> tuple[float, float]:
        return to_x(a + _friction(_ramp(t, t0, t1)) * (b - a)), y

    def paint(frame: np.ndarray, t: int) -> None:
        x, _ = path(t)
        draw_shape(frame, shape, x, y, r, colour)
        # A dark pointer through the centre marks the position to read off the ruler.
        fill_rect(frame, x - 1, y - r * 0.6, x + 1, lay.ground_y, (15, 15, 15))

    trail = _Trail(path, max(1.5, 0.3 * r), mix(colour, sky, 0.5))
    frames = _film(lay, backdrop, paint, trail)
    answer = f"{travel:g}"
    reasoning = (
        f"The ruler along the ground is marked from 0 to {units} units. The {name} {shape} starts "
        f"with its pointer at {a:g}, slides to the {direction} while slowing down, leaving a trail, "
        f"and stops at {b:g}. It travelled |{b:g} - {a:g}| = {answer} units."
    )
    return Clip(
        scene="distance",
        frames=frames,
        problem=f"The {name} {shape} slides along a ruler marked in units. How many units does it travel?",
        problem_type="regression",
        options=(),
        reasoning=reasoning,
        answer=answer,
    )


# --------------------------------------------------------------------------- 5. OCR


def ocr(rng: np.random.Generator, lay: Layout) -> Clip:
    backdrop, _ = _backdrop(lay, rng)
    # Words wider than the frame at the smallest scale would be clipped (only at tiny sizes).
    word = _pick(rng, [w for w in WORDS if text_mask(w, 1).shape[1] <= lay.width - 2])
    colour = PALETTE[_pick(rng, list(PALETTE))]
    free = lay.ground_y - lay.sky_top
    by_width = int(0.9 * lay.width) // text_mask(word, 1).shape[1]
    scale = max(1, min(by_width, int(0.3 * free) // text_mask(word, 1).shape[0]))
    mask = text_mask(word, scale)
    h, w = mask.shape
    x0 = (lay.width - w) // 2
    y0 = lay.ground_y - h - max(2, (free - h) // 3)  # stands a little above the ground line
    # Columns revealed after i letters: the prefix's own ink width (both masks crop to the same left ink).
    revealed = [0] + [text_mask(word[:i], scale).shape[1] for i in range(1, len(word) + 1)]
    n = len(word)
    spacing = 0.7 * lay.last / n
    typed_at = [0.08 * lay.last + (i + rng.uniform(0.0, 0.5)) * spacing for i in range(n)]

    def paint(frame: np.ndarray, t: int) -> None:
        shown = sum(t >= a for a in typed_at)
        if shown:
            draw_mask(frame, mask[:, : revealed[shown]], x0, y0, colour)
        # The cursor sits after the last typed letter and only moves right.
        cx = x0 + revealed[shown] + (scale if shown else 0)
        fill_rect(frame, cx, y0, cx + max(1, scale), y0 + h, colour)

    frames = _film(lay, backdrop, paint)
    reasoning = (
        f"Letters appear one at a time from left to right, as if someone is typing: {', '.join(word)}. "
        f"When the typing stops, the text above the ground reads {word}."
    )
    return Clip(
        scene="ocr",
        frames=frames,
        problem="What word is written in the video?",
        problem_type="OCR",
        options=(),
        reasoning=reasoning,
        answer=word,
    )


# --------------------------------------------------------------------------- 6. free-form description


def _bounce(rng: np.random.Generator, lay: Layout, backdrop: np.ndarray, name: str):
    r = lay.size * rng.uniform(0.07, 0.10)
    x = rng.uniform(r + 2, lay.width - r - 2)
    top, rest_y = lay.sky_top + r + 2, lay.ground_y - r
    y0 = rng.uniform(top, top + 0.2 * (rest_y - top))
    g = 2 * (rest_y - y0) / (rng.uniform(0.18, 0.25) * lay.last) ** 2
    start = int(rng.integers(0, 1 + lay.last // 12))
    # Restitution 0.55: each bounce is lower until the ball rests (reversed, it would launch itself).
    heights, y, v, sub = [], y0, 0.0, 16
    for t in range(lay.num_frames):
        heights.append(y)
        if t < start:
            continue
        for _ in range(sub):  # sub-steps keep the impacts from overshooting the floor
            v += g / sub
            y += v / sub
            if y >= rest_y:
                y, v = rest_y, (-0.55 * v if 0.55 * abs(v) > 0.3 * g else 0.0)
    colour = PALETTE[name]
    frames = _film(lay, backdrop, lambda f, t: draw_shape(f, "ball", x, heights[t], r, colour))
    sentence = f"A {name} ball falls and bounces to rest on the ground."
    reasoning = (
        f"At the start a {name} ball is high above the ground. It falls faster and faster, hits the "
        f"ground, bounces back up a little lower each time and finally comes to rest on the ground."
    )
    return frames, sentence, reasoning


def _slide(rng: np.random.Generator, lay: Layout, backdrop: np.ndarray, sky: Colour, name: str):
    shape = _pick(rng, SHAPES)
    r = lay.size * rng.uniform(0.07, 0.10)
    lo, hi = r + 2, lay.width - r - 2
    a, b = rng.uniform(lo, lo + 0.25 * (hi - lo)), rng.uniform(hi - 0.25 * (hi - lo), hi)
    direction = "right" if rng.random() < 0.5 else "left"
    if direction == "left":
        a, b = b, a
    y = lay.ground_y - r
    t0, t1 = rng.uniform(0.05, 0.2) * lay.last, rng.uniform(0.7, 0.9) * lay.last
    path = lambda t: (a + _friction(_ramp(t, t0, t1)) * (b - a), y)  # noqa: E731
    colour = PALETTE[name]
    trail = _Trail(path, max(1.5, 0.3 * r), mix(colour, sky, 0.5))
    frames = _film(lay, backdrop, lambda f, t: draw_shape(f, shape, *path(t), r, colour), trail)
    other = "left" if direction == "right" else "right"
    sentence = f"A {name} {shape} slides to the {direction} along the ground and stops."
    reasoning = (
        f"A {name} {shape} sits on the ground near the {other} side. It starts sliding to the "
        f"{direction}, slows down as it goes, leaves a trail behind it and stops near the {direction} side."
    )
    return frames, sentence, reasoning


def _stack(rng: np.random.Generator, lay: Layout, backdrop: np.ndarray, name: str):
    n = int(rng.integers(2, 5))
    free = lay.ground_y - lay.sky_top - 2
    r = min(lay.size * rng.uniform(0.07, 0.09), 0.75 * free / (2 * n))
    x = rng.uniform(r + 2, lay.width - r - 2)
    top = lay.sky_top + r + 2
    rests = [lay.ground_y - r - 2 * r * i for i in range(n)]
    # Each block appears at the top once the previous one has landed; fall times scale with
    # sqrt(drop) and are stretched so the whole tower is built over ~85% of the clip.
    gap = 0.04 * lay.last
    roots = [np.sqrt(rest - top) for rest in rests]
    c = max(0.85 * lay.last - n * gap, 1e-3) / sum(roots)
    falls = [c * s for s in roots]
    g = 2 / c**2
    appear = [0.05 * lay.last]
    for i in range(1, n):
        appear.append(appear[-1] + falls[i - 1] + gap)
    colour, seam = PALETTE[name], max(2, round(0.2 * r))

    def paint(frame: np.ndarray, t: int) -> None:
        for i in range(n):
            if t >= appear[i]:
                dt = min(t - appear[i], falls[i])
                y = top + 0.5 * g * dt * dt
                # A dark seam under each block's top edge keeps same-coloured blocks countable.
                fill_rect(frame, x - r, y - r + seam, x + r, y + r, colour)

    frames = _film(lay, backdrop, paint)
    count = NUMBER_WORDS[n]
    sentence = f"{count.capitalize()} {name} blocks drop one by one and stack into a tower."
    reasoning = (
        f"{name.capitalize()} blocks appear at the top one at a time. Each falls faster and faster and "
        f"lands on the ground or on the block below it. After the last one lands the tower is {count} "
        f"blocks tall."
    )
    return frames, sentence, reasoning


def description(rng: np.random.Generator, lay: Layout) -> Clip:
    backdrop, sky = _backdrop(lay, rng)
    name = _pick(rng, list(PALETTE))
    kind = _pick(rng, ("bounce", "slide", "stack"))
    if kind == "bounce":
        frames, sentence, reasoning = _bounce(rng, lay, backdrop, name)
    elif kind == "slide":
        frames, sentence, reasoning = _slide(rng, lay, backdrop, sky, name)
    else:
        frames, sentence, reasoning = _stack(rng, lay, backdrop, name)
    return Clip(
        scene="description",
        frames=frames,
        problem="Describe what happens in the video in one sentence.",
        problem_type="free-form",
        options=(),
        reasoning=f"{reasoning} In one sentence: {sentence}",
        answer=sentence,
    )


# Scene name → generator; the writer cycles through these evenly.
SCENES: dict[str, Callable[[np.random.Generator, Layout], Clip]] = {
    "motion_direction": motion_direction,
    "moving_colour": moving_colour,
    "moving_place": moving_place,
    "event_order": event_order,
    "counting": counting,
    "distance": distance,
    "ocr": ocr,
    "description": description,
}
