"""The `check` object that tests use to compare a student's values with expected ones.

The same tests run in two places: inside the student's notebook (`grader.check`, public tests, real
functions) and in the trusted grader (all tests, student functions called through the plain-data channel).
Each comparison names a check from grader_config.yaml, whose rule (see `tolerances`) turns the test's
data into a tolerance, and failures explain themselves in words a student can act on.
"""
from __future__ import annotations

import numpy as np

from .tolerances import CentralDifference, HighamRounding, Hoeffding


class TestFailure(AssertionError):
    """A test's verdict: the message is shown to the student (for public tests)."""
    __test__ = False  # not a pytest test class


def _as_array(value, what: str) -> np.ndarray:
    if value is None:
        raise TestFailure(f"{what} is None: the function returned nothing (is it still a stub?)")
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except Exception:
            raise TestFailure(f"{what} is not an array or number (got {type(value).__name__})") from None
    if arr.dtype.kind not in "biufc":
        raise TestFailure(f"{what} is not numeric (got {type(value).__name__} with dtype {arr.dtype})")
    return arr


class Checker:
    def __init__(self, rules: dict):
        self.rules = rules

    def _rule(self, name: str, kind):
        if name not in self.rules:
            raise KeyError(f"check '{name}' is not configured for this problem set in grader_config.yaml "
                           f"(configured: {', '.join(sorted(self.rules))})")
        rule = self.rules[name]
        if not isinstance(rule, kind):
            raise TypeError(f"check '{name}' uses rule {type(rule).__name__}, not {kind.__name__}")
        return rule

    def params(self, name: str):
        return self.rules[name]

    # -- structure -----------------------------------------------------------------------------------
    def shape(self, actual, shape, what: str) -> np.ndarray:
        arr = _as_array(actual, what)
        if tuple(arr.shape) != tuple(shape):
            raise TestFailure(f"{what} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
        return arr

    def unpack(self, value, n: int, what: str):
        if not isinstance(value, (tuple, list)) or len(value) != n:
            got = f"a {type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) \
                else type(value).__name__
            raise TestFailure(f"{what} should return {n} values, got {got}")
        return value

    def equal(self, actual, expected, what: str) -> None:
        exp = np.asarray(expected)
        arr = self.shape(actual, exp.shape, what)
        if not np.array_equal(arr, exp):
            bad = int(np.sum(arr != exp))
            raise TestFailure(f"{what} differs from the expected value in {bad} of {exp.size} entries")

    def true(self, condition, message: str) -> None:
        if not bool(condition):
            raise TestFailure(message)

    def finite(self, actual, what: str) -> np.ndarray:
        arr = _as_array(actual, what)
        if not np.all(np.isfinite(arr)):
            n_nan, n_inf = int(np.sum(np.isnan(arr))), int(np.sum(np.isinf(arr)))
            raise TestFailure(f"{what} contains {n_nan} NaN and {n_inf} infinite entries "
                              "(numerical overflow? subtract the row maximum before exponentiating)")
        return arr

    # -- rounding ------------------------------------------------------------------------------------
    def close(self, actual, expected, *, what: str, ops: int, magnitude=None, rule: str = "analytic") -> None:
        """Student value vs reference value that differ only by rounding (rule `higham_rounding`).

        `ops` is the number of roundings on the longest dependency chain of the computation and
        `magnitude` the same computation done on absolute values (default |expected|, right when no
        cancellation can occur)."""
        r = self._rule(rule, HighamRounding)
        exp = np.asarray(expected, dtype=np.float64)
        arr = self.shape(actual, exp.shape, what)
        arr = self.finite(arr, what)
        mag = np.abs(exp) if magnitude is None else np.broadcast_to(np.asarray(magnitude, np.float64), exp.shape)
        tol, factor = r.bound(student_dtype=arr.dtype, ops=int(ops), magnitude=mag)
        err = np.abs(arr.astype(np.float64) - exp)
        if np.all(err <= tol):
            return
        ratio = np.where(tol > 0, err / np.where(tol > 0, tol, 1), np.inf)
        worst = np.unravel_index(int(np.argmax(np.where(err > tol, ratio, -1))), err.shape) if err.ndim else ()
        with np.errstate(all="ignore"):
            rel = np.linalg.norm(err) / max(np.linalg.norm(exp), np.finfo(np.float64).tiny)
        n_bad = int(np.sum(err > tol))
        where = f" at index {tuple(int(i) for i in worst)}" if err.ndim else ""
        raise TestFailure(
            f"{what} is wrong in {n_bad} of {exp.size} entries: relative error {rel:.2g} overall; worst{where}: "
            f"got {float(arr[worst]):.10g}, expected {float(exp[worst]):.10g}. Rounding alone could explain at "
            f"most {float(tol[worst]):.2g} there ({r.describe(student_dtype=arr.dtype, ops=int(ops), factor=factor)}),"
            " so this is a bug, not round-off.")

    # -- finite differences --------------------------------------------------------------------------
    def finite_difference(self, actual, exact, *, what: str, h: float, third_derivative_bound: float,
                          value_error_bound: float, rule: str = "finite_difference") -> None:
        r = self._rule(rule, CentralDifference)
        exp = np.asarray(exact, dtype=np.float64)
        arr = self.finite(self.shape(actual, exp.shape, what), what).astype(np.float64)
        bound = r.bound(h=h, third_derivative_bound=third_derivative_bound, value_error_bound=value_error_bound)
        # The exact derivative is itself evaluated in float64: add its rounding (gamma_1 per entry, generous).
        bound = bound + 4 * np.finfo(np.float64).eps * np.abs(exp)
        err = np.abs(arr - exp)
        if np.all(err <= bound):
            return
        i = np.unravel_index(int(np.argmax(err - bound)), err.shape) if err.ndim else ()
        raise TestFailure(
            f"{what}: the numerical gradient is off by {float(err[i]):.3g} (got {float(arr[i]):.10g}, exact "
            f"{float(exp[i]):.10g}); {r.describe(h=h, bound=float(np.max(bound)))} allows at most "
            f"{float(bound[i]) if np.ndim(bound) else float(bound):.2g}. A one-sided (forward) difference or a "
            "wrong step would explain this.")

    # -- random sampling -----------------------------------------------------------------------------
    def frequency(self, count: int, n: int, p: float, *, what: str, rule: str = "frequency") -> None:
        r = self._rule(rule, Hoeffding)
        t = r.half_width(n)
        freq = count / n
        if abs(freq - p) > t:
            raise TestFailure(f"{what}: observed frequency {freq:.4f} over {n} draws, expected {p:.4f}; a correct "
                              f"sampler stays within {t:.2g} ({r.describe(n=n, t=t)})")


def checker_from_specs(specs: dict) -> Checker:
    from .config import make_rule
    return Checker({name: make_rule(spec, f"checks.{name}") for name, spec in specs.items()})
