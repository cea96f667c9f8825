"""Tolerance rules, each derived from a theorem. `grader_config.yaml` names a rule and its parameters per
check; a test supplies what depends on its own data (operation counts, magnitudes, derivative bounds).

Notation: u = unit roundoff of a floating-point type (float64: 2^-53 ~ 1.11e-16, float32: 2^-24 ~ 5.96e-8),
i.e. half of numpy's `finfo(dtype).eps`.

Rules
-----
higham_rounding
    Two implementations of the same formula differ only by rounding. Higham, *Accuracy and Stability of
    Numerical Algorithms*, 2nd ed. (SIAM 2002), Lemma 3.1: a chain of n roundings multiplies by (1 + theta_n)
    with |theta_n| <= gamma_n = n u / (1 - n u); §3.1 and §3.5: |fl(x^T y) - x^T y| <= gamma_n |x|^T |y| and
    |fl(AB) - AB| <= gamma_n |A||B| componentwise. So a result computed with n roundings on its longest
    dependency chain is within gamma_n(u) * M of the exact value, where M is the same computation done on
    absolute values (the "magnitude"; it is what makes cancellation harmless to the bound). The student
    (precision u_s, plus `input_roundings` for converting float64 inputs to that precision) and the float64
    reference both round, so we allow, elementwise,
        |student - reference| <= (gamma_{n + input_roundings}(u_s) + gamma_n(u_64)) * M.
    This is a first-order worst-case bound, not a statistical one: a correct implementation never fails it.
    Measured errors of correct backprop are 10-1000x smaller (theory-tolerances.md §1.3), while the bugs
    graded here change results by O(1) relative amounts.

central_difference
    Nocedal & Wright, *Numerical Optimization*, 2nd ed. (2006), §8.1: for the central difference
    D_h f(x) = (f(x+h) - f(x-h)) / (2h), Taylor's theorem gives a truncation error <= h^2 M3 / 6 with
    M3 = max |f'''| on [x-h, x+h]; if each computed value of f is within delta of the exact one, rounding
    adds <= delta / h. So |D_h f - f'| <= h^2 M3 / 6 + delta / h. A forward difference has error ~ h |f''| / 2,
    orders of magnitude above this bound for the steps used here, so it fails.

hoeffding
    Hoeffding (1963): for n independent Bernoulli(p) draws, P(|p_hat - p| >= t) <= 2 exp(-2 n t^2). Choosing
    t = sqrt(ln(2/delta) / (2n)) makes the probability that a correct sampler fails at most delta (the
    configured `false_fail_probability`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

U64 = float(np.finfo(np.float64).eps) / 2


def unit_roundoff(dtype) -> float:
    """u of a float dtype; integer and boolean results are exact, complex uses its real type."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        dtype = np.empty(0, dtype).real.dtype
    if dtype.kind != "f":
        return U64
    return float(np.finfo(dtype).eps) / 2


def gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u) (Lemma 3.1); valid while n u < 1."""
    if n * u >= 1:
        raise ValueError(f"gamma_n undefined for n={n}, u={u:g} (n u >= 1)")
    return n * u / (1 - n * u)


@dataclass(frozen=True)
class HighamRounding:
    input_roundings: int = 1

    PARAMS = {"input_roundings": "roundings from converting float64 inputs to the student's precision "
                                 "(one per converted factor in the longest product)"}

    def bound(self, *, student_dtype, ops: int, magnitude):
        """Elementwise allowed |student - reference| for a result with `ops` roundings on its longest chain."""
        us = unit_roundoff(student_dtype)
        factor = gamma(ops + self.input_roundings, us) + gamma(ops, U64)
        return factor * np.abs(np.asarray(magnitude, dtype=np.float64)), factor

    def describe(self, *, student_dtype, ops, factor):
        return (f"rounding bound (gamma_{ops}+input rounding in {np.dtype(student_dtype).name}, plus the float64 "
                f"reference: {factor:.2g} x magnitude; Higham 2002, Lemma 3.1 and §3.5)")


@dataclass(frozen=True)
class CentralDifference:
    step: float = 1e-5

    PARAMS = {"step": "the finite-difference step h the tests prescribe"}

    def bound(self, *, h: float, third_derivative_bound: float, value_error_bound: float) -> float:
        return h * h * third_derivative_bound / 6 + value_error_bound / h

    def describe(self, *, h, bound):
        return (f"central-difference error bound h^2 M3/6 + delta/h = {bound:.2g} at h={h:g} "
                "(Nocedal & Wright 2006, §8.1)")


@dataclass(frozen=True)
class Hoeffding:
    false_fail_probability: float = 1e-9

    PARAMS = {"false_fail_probability": "probability that a correct sampler fails the test"}

    def half_width(self, n: int) -> float:
        return math.sqrt(math.log(2 / self.false_fail_probability) / (2 * n))

    def describe(self, *, n, t):
        return (f"Hoeffding bound: |frequency - p| <= sqrt(ln(2/delta)/(2n)) = {t:.2g} for n={n}, "
                f"delta={self.false_fail_probability:g} (Hoeffding 1963)")


RULES = {"higham_rounding": HighamRounding, "central_difference": CentralDifference, "hoeffding": Hoeffding}
