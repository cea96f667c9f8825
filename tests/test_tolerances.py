"""The tolerance rules: correct computations (float64 and float32) always pass, realistic bugs never do."""
import math

import numpy as np
import pytest

from autograder.checks import Checker, TestFailure
from autograder.tolerances import CentralDifference, HighamRounding, Hoeffding, gamma, unit_roundoff

# A product of two converted inputs carries two input roundings (one per factor).
CHECK = Checker({"analytic": HighamRounding(input_roundings=2), "finite_difference": CentralDifference(step=1e-5),
                 "frequency": Hoeffding(false_fail_probability=1e-9)})


def test_gamma_and_unit_roundoff():
    assert unit_roundoff(np.float64) == 2.0 ** -53 and unit_roundoff(np.float32) == 2.0 ** -24
    assert gamma(10, 2.0 ** -53) == pytest.approx(10 * 2.0 ** -53, rel=1e-12)
    with pytest.raises(ValueError):
        gamma(2 ** 24, 2.0 ** -24)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 7, 64, 1000, 4096])
def test_matrix_products_pass_in_both_precisions(dtype, n):
    rng = np.random.default_rng(n)
    for trial in range(5):
        a = rng.standard_normal((8, n)) * 10.0 ** rng.integers(-3, 4)
        b = rng.standard_normal((n, 6))
        student = a.astype(dtype) @ b.astype(dtype)
        exact = (a.astype(np.longdouble) @ b.astype(np.longdouble)).astype(np.float64)
        CHECK.close(student, exact, what="a @ b", ops=n, magnitude=np.abs(a) @ np.abs(b))


def test_cancellation_is_covered_by_the_magnitude():
    # Sums that cancel almost exactly: |sum| << sum |terms|; the rule scales with the magnitude, not |sum|.
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000) * 1e6
    x = np.append(x, -x.sum())
    CHECK.close(np.float32(np.sum(x.astype(np.float32))), float(np.sum(x.astype(np.longdouble))),
                what="sum", ops=x.size, magnitude=np.sum(np.abs(x)))


@pytest.mark.parametrize("bug", ["transpose", "relative_1e-3", "missing_1_over_N", "sign"])
def test_realistic_bugs_fail(bug):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    ref = a @ b
    wrong = {"transpose": a @ b.T, "relative_1e-3": ref * (1 + 1e-3), "missing_1_over_N": ref * 5,
             "sign": -ref}[bug]
    with pytest.raises(TestFailure, match="bug, not round-off"):
        CHECK.close(wrong, ref, what="a @ b", ops=5, magnitude=np.abs(a) @ np.abs(b))


def test_shape_nan_and_type_failures_are_explained():
    with pytest.raises(TestFailure, match="shape"):
        CHECK.close(np.zeros((2, 3)), np.zeros((3, 2)), what="dx", ops=1)
    with pytest.raises(TestFailure, match="NaN"):
        CHECK.close(np.array([np.nan]), np.array([1.0]), what="loss", ops=1)
    with pytest.raises(TestFailure, match="None"):
        CHECK.close(None, np.array([1.0]), what="out", ops=1)
    with pytest.raises(TestFailure, match="not numeric"):
        CHECK.close("1.0", np.array(1.0), what="out", ops=1)


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_central_difference_rule_separates_central_from_forward():
    x = np.linspace(-2, 2, 9)
    h = 1e-5
    f, df = np.sin, np.cos
    # |f'''| = |cos| <= 1; computed sin is within u |sin| + rounding of x +- h: delta <= 2u (|f'| <= 1, |x| <= 2).
    m3, delta = 1.0, 2 * (2 * unit_roundoff(np.float64)) + unit_roundoff(np.float64)
    CHECK.finite_difference(_central(f, x, h), df(x), what="grad", h=h, third_derivative_bound=m3,
                            value_error_bound=delta)
    forward = (f(x + h) - f(x)) / h
    with pytest.raises(TestFailure, match="forward"):
        CHECK.finite_difference(forward, df(x), what="grad", h=h, third_derivative_bound=m3,
                                value_error_bound=delta)


def test_hoeffding_rule():
    rule = Hoeffding(false_fail_probability=1e-9)
    n = 10 ** 6
    t = rule.half_width(n)
    assert t == pytest.approx(math.sqrt(math.log(2e9) / (2 * n)))
    rng = np.random.default_rng(3)
    keep = rng.random(n) >= 0.3
    CHECK.frequency(int(keep.sum()), n, 0.7, what="kept fraction")
    with pytest.raises(TestFailure):
        CHECK.frequency(int((rng.random(n) < 0.3).sum()), n, 0.7, what="kept fraction")  # p used as keep prob
