"""The learning check's binomial tail: exact on small counts, finite on the thousand-odd trials of
a 240-clip validation split under every option of a transform (where ``math.comb`` overflows a float)."""

import importlib.util
from fractions import Fraction
from math import comb
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "learning_check.py"


@pytest.fixture(scope="module")
def binomial_p_above():
    spec = importlib.util.spec_from_file_location("learning_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.binomial_p_above


def exact_tail(successes: int, trials: int, chance: Fraction) -> float:
    return float(sum(comb(trials, k) * chance**k * (1 - chance) ** (trials - k) for k in range(successes, trials + 1)))


def test_small_counts_are_exact(binomial_p_above):
    assert binomial_p_above(3, 10, 0.5) == pytest.approx(968 / 1024, rel=1e-12)
    assert binomial_p_above(5, 5, 0.3) == pytest.approx(0.3 ** 5, rel=1e-12)
    assert binomial_p_above(0, 7, 0.2) == 1.0


@pytest.mark.parametrize("successes", [240, 260, 300, 700])
def test_a_thousand_trials_do_not_overflow(binomial_p_above, successes):
    # 240 clips × 6 shuffle options at chance 1/6: the call that raised OverflowError before.
    expected = exact_tail(successes, 1440, Fraction(1, 6))
    assert binomial_p_above(successes, 1440, 1 / 6) == pytest.approx(expected, rel=1e-9)
