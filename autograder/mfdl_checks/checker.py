"""The `check` object that tests use to compare a student's values with expected ones.

The same tests run in two places: inside the student's notebook (`grader.check`, public tests, real
functions) and in the trusted grader (all tests, student functions called through the plain-data channel).
Each comparison names a check from the set's checks.yaml, whose rule (see `tolerances`) turns the test's
data into a tolerance, and failures explain themselves in words a student can act on.
"""
from __future__ import annotations

import numpy as np

from .tolerances import CentralDifference, HighamRounding, Hoeffding
from .tolerances import DampedRounding, GaussianQuadraticForm, WindowRate
from .tolerances import BellmanStopping, LinearSolveRounding, OrderStatisticEnvelope


class TestFailure(AssertionError):
    """A test's verdict: the message is shown to the student (for public tests)."""
    __test__ = False  # not a pytest test class


def _as_array(value, what: str) -> np.ndarray:
    if value is None:
        raise TestFailure(f"{what} is None: the function returned nothing (is it still a stub?)")
    if type(value).__name__ == "Tensor" and hasattr(value, "detach"):
        # A torch tensor, as the student's own kernel returns it (stock Otter, self-checks); the trusted grader
        # receives the same values as arrays through the plain-data channel. No torch import needed.
        value = value.detach().cpu().numpy()
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
            raise KeyError(f"check '{name}' is not configured for this problem set in its checks.yaml "
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

    # -- iterative methods -----------------------------------------------------------------------------
    def iteration_bound(self, *, student_dtype, ops: int, magnitude, amplification, input_magnitude=None,
                        propagated=None, initial=None, rule: str = "iterates") -> np.ndarray:
        """Rounding bounds delta_0..delta_K (axis 0) of an iteration (rule `damped_rounding`), for tests that
        propagate them further (e.g. an optimizer's moment estimates into its steps)."""
        r = self._rule(rule, DampedRounding)
        return r.accumulate(student_dtype=student_dtype, ops=ops, magnitude=magnitude, amplification=amplification,
                            input_magnitude=input_magnitude, propagated=propagated, initial=initial)

    def iterates(self, actual, expected, *, what: str, ops: int, magnitude, amplification, input_magnitude=None,
                 propagated=None, initial=None, norm: bool = False, iter_axis: int = 0,
                 rule: str = "iterates") -> np.ndarray:
        """Student iterates vs reference iterates that differ only by rounding, accumulated through the
        iteration (rule `damped_rounding`). `actual` holds the iterates along `iter_axis`; with `norm=True`
        the 2-norms over the last axis (the vector of one iterate) are compared with the bound, otherwise
        every entry. Returns the student's array (float64) for further use."""
        r = self._rule(rule, DampedRounding)
        exp = np.asarray(expected, dtype=np.float64)
        arr = self.finite(self.shape(actual, exp.shape, what), what)
        bound = r.accumulate(student_dtype=arr.dtype, ops=ops, magnitude=magnitude, amplification=amplification,
                             input_magnitude=input_magnitude, propagated=propagated, initial=initial)
        diff = arr.astype(np.float64) - exp
        err = np.linalg.norm(diff, axis=-1) if norm else np.abs(diff)
        bound = np.moveaxis(bound, 0, iter_axis)
        bound = np.broadcast_to(bound, err.shape)
        if np.all(err <= bound):
            return arr.astype(np.float64)
        bad = err > bound
        first = int(np.min(np.nonzero(np.moveaxis(bad, iter_axis, 0).reshape(bad.shape[iter_axis], -1).any(axis=1))))
        sel = np.moveaxis(bad, iter_axis, 0)[first]
        sub_err = np.moveaxis(err, iter_axis, 0)[first]
        sub_bound = np.moveaxis(bound, iter_axis, 0)[first]
        flat = int(np.argmax(np.where(sel, sub_err, -1).ravel()))
        where = np.unravel_index(flat, sub_err.shape) if sub_err.ndim else ()
        n_bad = int(np.sum(bad))
        kind = "distance" if norm else "difference"
        got_exp = ""
        if not norm:
            a_first = np.moveaxis(arr, iter_axis, 0)[first]
            e_first = np.moveaxis(exp, iter_axis, 0)[first]
            got_exp = f" (got {float(a_first[where]):.10g}, expected {float(e_first[where]):.10g})"
        idx = f" at index {tuple(int(i) for i in where)}" if len(where) else ""
        raise TestFailure(
            f"{what} departs from the reference at iterate {first}{idx}: {kind} {float(sub_err[where]):.3g}"
            f"{got_exp}, while {r.describe(student_dtype=arr.dtype, ops=ops, k=first)} can explain at most "
            f"{float(sub_bound[where]):.2g}; {n_bad} of {err.size} values are out of bounds. This is a bug in the "
            "update (or its convention), not round-off.")

    def rate(self, norms, *, what: str, rho: float, k1: int, k2: int, growth, rounding=(0.0, 0.0),
             rule: str = "rate") -> float:
        """Linear rate from the student's own error norms ||e_k|| (rule `window_rate`); returns the estimate."""
        r = self._rule(rule, WindowRate)
        e = self.finite(_as_array(norms, what), what).astype(np.float64)
        n1, n2 = float(e[k1]), float(e[k2])
        d1, d2 = (float(v) for v in rounding)
        lo, hi = r.ratio_interval(rho=rho, k1=k1, k2=k2, growth=growth)
        tiny = np.finfo(np.float64).tiny
        low = max(n2 - d2, 0.0) / (n1 + d1) if n1 + d1 > 0 else 0.0
        high = (n2 + d2) / max(n1 - d1, tiny)
        n = k2 - k1
        est = (n2 / n1) ** (1.0 / n) if n1 > 0 and n2 > 0 else 0.0
        if high >= lo and low <= hi:
            return est
        raise TestFailure(
            f"{what}: estimated rate (||e_{k2}|| / ||e_{k1}||)^(1/{n}) = {est:.6f} ({r.describe(rho=rho, k1=k1, k2=k2, growth=growth)}; "
            f"your iterates' rounding bound allows ||e|| to move by {d1:.2g} at k={k1} and {d2:.2g} at k={k2}, "
            f"where ||e|| = {n1:.3g} and {n2:.3g}). The method does not converge at the rate theory gives.")

    def quadratic_form_mean(self, values, *, what: str, weight, mean, cov, slack: float = 0.0,
                            rule: str = "stochastic") -> float:
        """Mean over runs of X_r = e_r^T W e_r, e_r ~ N(mean, cov) i.i.d. (rule `gaussian_quadratic_form`);
        `slack` bounds the effect of rounding on the mean. Returns the observed mean."""
        r = self._rule(rule, GaussianQuadraticForm)
        x = self.finite(_as_array(values, what), what).astype(np.float64).ravel()
        runs = x.size
        expected, below, above = r.band(runs=runs, weight=weight, mean=mean, cov=cov)
        got = float(x.mean())
        lo, hi = expected - below - slack, expected + above + slack
        if lo <= got <= hi:
            return got
        raise TestFailure(
            f"{what}: mean over {runs} runs is {got:.6g}, but theory gives exactly {expected:.6g} in expectation, "
            f"and {r.describe(runs=runs)}: [{lo:.6g}, {hi:.6g}] (rounding allowance {slack:.2g} included). "
            f"Off by a factor {got / expected if expected else float('inf'):.3g}: a wrong step size, missing or "
            "mis-scaled noise, or a wrong schedule would explain this.")

    # -- dynamic programming and reinforcement learning (problem set 3) ---------------------------------
    @staticmethod
    def _exact_errors(actual: np.ndarray, exact) -> np.ndarray:
        """|actual - exact| entrywise, computed in rational arithmetic (`exact`: Fractions or floats)."""
        from fractions import Fraction
        flat = [abs(Fraction(float(a)) - (e if isinstance(e, Fraction) else Fraction(float(e))))
                for a, e in zip(actual.ravel().tolist(), list(np.ravel(np.asarray(exact, dtype=object))))]
        return np.array([float(x) for x in flat]).reshape(actual.shape)

    def solve(self, actual, exact, A, *, what: str, ops: int, rhs_magnitude, rule: str = "policy_evaluation"):
        """Student's solution of A x = b vs the exact solution (rule `linear_solve`); `ops` roundings form each
        entry of A and b, `rhs_magnitude` is b computed on absolute values. Returns the allowed error."""
        r = self._rule(rule, LinearSolveRounding)
        n = len(exact)
        arr = self.finite(self.shape(actual, (n,), what), what)
        x_norm = max((abs(float(e)) for e in exact), default=0.0)
        tol = r.bound(A, x_norm, student_dtype=arr.dtype, ops=ops, rhs_magnitude=rhs_magnitude)
        err = self._exact_errors(arr, exact)
        if np.all(err <= tol):
            return tol
        i = int(np.argmax(err))
        raise TestFailure(
            f"{what} is wrong in {int(np.sum(err > tol))} of {n} entries; worst at index {i}: got {float(arr[i]):.12g}, "
            f"exact {float(exact[i]):.12g} (error {err[i]:.3g}). The {r.describe(student_dtype=arr.dtype, n=n)} "
            f"allows at most {tol:.2g}, so this is a bug, not round-off.")

    def value_iteration(self, V, policy_value, n_backups, *, V_star, eps: float, gamma: float, reward_bound: float,
                        differences, what: str, rule: str = "value_iteration") -> None:
        """Both guarantees of the stopping theorem and the number of backups (rule `puterman_stopping`).
        V: the student's final values; policy_value: V^pi of the student's greedy policy (exact); V_star:
        exact optimal values; differences: ||V_j - V_{j-1}||, j = 1, 2, ..., of a float64 replay."""
        r = self._rule(rule, BellmanStopping)
        S = len(V_star)
        arr = self.finite(self.shape(V, (S,), f"{what}: V"), f"{what}: V")
        g = r.guarantees(student_dtype=arr.dtype, n_states=S, reward_bound=reward_bound, gamma_=gamma, eps=eps)
        err = self._exact_errors(arr, V_star)
        if float(err.max()) > g["value"]:
            i = int(np.argmax(err))
            raise TestFailure(
                f"{what}: ||V - V*|| = {err[i]:.3g} (state {i}: got {float(arr[i]):.10g}, exact V* = "
                f"{float(V_star[i]):.10g}), but stopping at ||V_(k+1) - V_k|| < eps(1-gamma)/(2 gamma) guarantees "
                f"< eps/2 = {eps / 2:g} ({g['value']:.6g} with rounding; {r.describe(student_dtype=arr.dtype, eps=eps, gamma_=gamma)}). "
                "Is the threshold right, and do you return the last iterate V_(k+1)?")
        from fractions import Fraction
        loss = [float(vs - vp) for vs, vp in zip(V_star, policy_value)]
        worst = int(np.argmax(loss))
        if loss[worst] > g["policy"]:
            raise TestFailure(
                f"{what}: your greedy policy loses {loss[worst]:.3g} against the optimal value at state {worst} "
                f"(V^pi = {float(Fraction(policy_value[worst])):.10g}, V* = {float(V_star[worst]):.10g}); the stopping "
                f"theorem guarantees at most eps = {eps:g} ({g['policy']:.6g} with rounding). Is the policy greedy "
                "with respect to the returned V?")
        possible = r.possible_counts(differences, theta=g["theta"], slack=g["count_slack"])
        try:
            count = int(np.asarray(n_backups))
        except (TypeError, ValueError):
            raise TestFailure(f"{what}: the number of backups should be an int, got {type(n_backups).__name__}") from None
        if count not in possible:
            d = list(differences)
            near = ", ".join(f"d_{j} = {d[j - 1]:.3g}" for j in range(max(1, min(possible) - 2),
                                                                    min(len(d), max(possible) + 2) + 1))
            raise TestFailure(
                f"{what}: you performed {count} backups, but from V_0 = 0 the first k + 1 with "
                f"||V_(k+1) - V_k|| < eps(1-gamma)/(2 gamma) = {g['theta']:.4g} is {' or '.join(map(str, possible))} "
                f"(allowing for rounding); the differences are {near}. Check the threshold and how you count.")

    def policy_iteration(self, V, policy_value, *, V_star, A, ops: int, rhs_magnitude, tol: float, gamma: float,
                         reward_bound: float, horizon: float, n_states: int, what: str,
                         solve_rule: str = "policy_evaluation", rule: str = "value_iteration") -> None:
        """Policy iteration's result: V (the student's values on the system's unknowns) is the value of the
        returned policy up to the linear solve's rounding (rule `linear_solve`), and that policy's exact value
        `policy_value` is optimal up to what the stopping tolerance `tol` and rounding allow:
            max(V* - V^pi) <= (tol + 2 delta_Q + 2 gamma e_s) * horizon,
        where at termination T V^pi <= V^pi + (tol + 2 delta_Q + 2 gamma e_s) (delta_Q: rounding of a computed Q,
        e_s: the solve's bound) and V* - V^pi <= gamma P_pi* (V* - V^pi) + that slack, whose sum over time is
        `horizon` = max_s E_pi*[sum_t gamma^t] (expected discounted number of steps of an optimal policy).
        V, policy_value, V_star and A cover the non-terminal states; `n_states` is S (the length of the sums)."""
        br = self._rule(rule, BellmanStopping)
        e_s = self.solve(V, policy_value, A, what=f"{what}: V (the value of your returned policy)", ops=ops,
                         rhs_magnitude=rhs_magnitude, rule=solve_rule)
        arr = np.asarray(V)
        v_norm = max(abs(float(v)) for v in policy_value) + e_s
        # one more rounding than a backup: the comparison Q[s, a] > Q[s, pi(s)] + tol adds tol in floating point
        delta_q = br.q_error(student_dtype=arr.dtype, n_states=int(n_states) + 1,
                             magnitude=float(reward_bound) + gamma * v_norm + tol)
        allowed = (tol + 2 * delta_q + 2 * gamma * e_s) * horizon
        loss = [float(a - b) for a, b in zip(V_star, policy_value)]
        worst = int(np.argmax(loss))
        if loss[worst] > allowed:
            raise TestFailure(
                f"{what}: your final policy is not optimal: at state {worst} its value is {float(policy_value[worst]):.10g}, "
                f"the optimal value {float(V_star[worst]):.10g} (loss {loss[worst]:.3g}; stopping when no action improves "
                f"by more than tol = {tol:g} allows at most {allowed:.2g}). Does the loop stop only when the policy is "
                "stable, and does the improvement step use the new values?")

    def envelope(self, values, *, name: str, what: str, rule: str = "qlearning") -> np.ndarray:
        """R statistics of independent runs vs the calibrated [min, max] of the reference (rule
        `calibrated_envelope`): fails iff `quorum` of them leave it on the same side."""
        r = self._rule(rule, OrderStatisticEnvelope)
        x = self.finite(_as_array(values, what), what).astype(np.float64).ravel()
        if x.size != r.runs:
            raise ValueError(f"envelope '{name}' is calibrated for {r.runs} runs, the test gave {x.size}")
        lo, hi = r.envelope(name)
        above, below = int(np.sum(x > hi)), int(np.sum(x < lo))
        if above < r.quorum and below < r.quorum:
            return x
        side = "above the largest" if above >= r.quorum else "below the smallest"
        hint = ("too large: the iteration does not converge to the right values, or too slowly"
                if above >= r.quorum else
                "too small: less noise than the algorithm has (e.g. expected instead of sampled next states)")
        raise TestFailure(
            f"{what}: {max(above, below)} of {r.runs} runs are {side} value seen in {r.calibration_runs} reference runs "
            f"[{lo:.4g}, {hi:.4g}] (yours: {', '.join(f'{v:.4g}' for v in x)}); {hint}. {r.describe()}.")

    def quorum(self, failures: list, *, what: str, rule: str = "qlearning") -> None:
        """Per-run pass/fail verdicts of a property implied by 'statistic <= envelope max' (rule
        `calibrated_envelope`): fails iff at least `quorum` runs fail. `failures`: one message per failed run."""
        r = self._rule(rule, OrderStatisticEnvelope)
        if len(failures) < r.quorum:
            return
        raise TestFailure(f"{what}: {len(failures)} of {r.runs} runs fail: " + "; ".join(failures[:3])
                          + f". Each failure needs an error beyond the calibrated envelope: {r.describe()}.")

    # -- physics-informed networks and the Deep Ritz method (problem set 4) ---------------------------
    def autograd_close(self, actual, expected, *, what: str, ops: int, functions: int, magnitude,
                       rule: str = "residual") -> np.ndarray:
        """A residual (or derivative) computed by autograd vs its closed form (rule `autograd_rounding`):
        `ops` arithmetic roundings and `functions` elementary functions on the longest chain; `magnitude` is
        the closed form on absolute values, with |y f'(y)| for every function argument y."""
        from .tolerances import AutogradRounding
        r = self._rule(rule, AutogradRounding)
        exp = np.asarray(expected, dtype=np.float64)
        arr = self.finite(self.shape(actual, exp.shape, what), what)
        mag = np.broadcast_to(np.asarray(magnitude, np.float64), exp.shape)
        tol, factor = r.bound(student_dtype=arr.dtype, ops=ops, functions=functions, magnitude=mag)
        err = np.abs(arr.astype(np.float64) - exp)
        if np.all(err <= tol):
            return arr.astype(np.float64)
        i = np.unravel_index(int(np.argmax(np.where(err > tol, err / np.maximum(tol, 1e-300), -1))), err.shape)
        raise TestFailure(
            f"{what} is wrong in {int(np.sum(err > tol))} of {exp.size} points; worst at index "
            f"{tuple(int(j) for j in i)}: got {float(arr[i]):.10g}, the closed form gives {float(exp[i]):.10g}. "
            f"Rounding could explain at most {float(tol[i]):.2g} there "
            f"({r.describe(student_dtype=arr.dtype, ops=ops, functions=functions, factor=factor)}), so the "
            "derivatives or the equation are wrong (sign? first instead of second derivative? missing term?).")

    def midpoint_integral(self, actual, exact: float, *, what: str, n: int, second_derivative_bound: float,
                          ops: int, magnitude: float, rule: str = "energy") -> float:
        """A composite midpoint rule with n points on [0, 1] vs the exact integral (rule `midpoint_quadrature`)."""
        from .tolerances import MidpointQuadrature
        r = self._rule(rule, MidpointQuadrature)
        arr = self.finite(_as_array(actual, what), what)
        if arr.size != 1:
            raise TestFailure(f"{what} should be a single number, got an array of shape {arr.shape}")
        got = float(arr.reshape(()))
        tol = r.bound(n=n, second_derivative_bound=second_derivative_bound, student_dtype=arr.dtype, ops=ops,
                      magnitude=magnitude)
        if abs(got - exact) <= tol:
            return got
        raise TestFailure(
            f"{what} = {got:.10g}, but the exact energy is {exact:.10g} (off by {abs(got - exact):.3g}); the "
            f"{r.describe(n=n, bound=tol)} allows at most {tol:.2g}. Check the integrand v'^2/2 - f v, the "
            "points (cell midpoints (i + 1/2)/n) and the weights 1/n.")

    def pinn_certificate(self, evaluate, *, f, exact, alpha: float, beta: float, what: str,
                         rule: str = "certificate") -> dict:
        """A trained PINN for -u'' = f on (0, 1) (rule `poisson_certificate`): `evaluate(x) -> (v, v'')` rebuilds
        the returned network in float64. Its relative error and its certified bound must be small, and the
        bound must hold. Returns the certificate's numbers."""
        from .tolerances import PoissonCertificate
        r = self._rule(rule, PoissonCertificate)
        c = r.evaluate(evaluate, f, exact, alpha=alpha, beta=beta)
        return self._certified(
            c, r, what=what, finite=("error", "residual", "bound", "g0", "g1"), error_name="||v - u||/||u||",
            bound_name="B/||u||",
            numbers=lambda e, b: (f"||v - u||/||u|| = {e:.3g}, ||r||_L2 = {c['residual']:.3g}, boundary errors "
                                  f"g0 = {c['g0']:.3g}, g1 = {c['g1']:.3g}, certified bound B/||u|| = {b:.3g}"),
            convention="the returned parameters do not describe the network in the notebook's convention (tanh "
                       "hidden layers, linear output)",
            hint="Is the boundary term in the loss, and does training reduce the loss?")

    @staticmethod
    def _certified(c: dict, r, *, what: str, finite, error_name: str, bound_name: str, numbers, convention: str,
                   hint: str) -> dict:
        """The verdict on a PINN certificate `c` (absolute error, bound, their quadrature error, the exact
        solution's norm): finite, the theorem's bound holds, relative error <= r.max_error, relative bound <=
        r.max_certified. `numbers(rel_err, rel_bound)` words the measured values for the messages."""
        for key in finite:
            if not np.isfinite(c[key]):
                raise TestFailure(f"{what}: the network gives a non-finite {key} ({c[key]})")
        rel_err, rel_bound = c["error"] / c["norm_u"], c["bound"] / c["norm_u"]
        text = numbers(rel_err, rel_bound)
        if c["error"] - c["quadrature"] > c["bound"]:
            raise TestFailure(f"{what}: the certificate is violated ({text}), which the theorem excludes for a "
                              f"smooth network: {convention}")
        if rel_err > r.max_error:
            raise TestFailure(f"{what}: the network is not accurate enough: {text}; required {error_name} <= "
                              f"{r.max_error:g}. {hint}")
        if rel_bound > r.max_certified:
            raise TestFailure(f"{what}: the error is small at the grader's points but the residual does not certify "
                              f"it: {text}; required {bound_name} <= {r.max_certified:g} ({r.describe()})")
        c.update(relative_error=rel_err, relative_bound=rel_bound)
        return c

    # -- submitted networks (files graded instead of retraining) ------------------------------------------
    def mlp_model(self, data, *, inputs, what: str):
        """A submitted network file (parsed JSON) rebuilt as a trusted float64 pinn_models.MLP, or a failure
        that says what is wrong with the file."""
        from .pinn_models import ModelError, load_mlp
        try:
            return load_mlp(data, inputs)
        except ModelError as exc:
            raise TestFailure(f"{what}: {exc}") from None

    def heat_certificate(self, model, *, a: float, what: str, T: float = 1.0, rule: str = "heat_certificate") -> dict:
        """A trained (x, t) network for u_t = a u_xx, u(x, 0) = sin(pi x), zero boundary values (rule
        `heat_certificate`): its relative error and its certified bound must be small, and the bound must hold."""
        from .tolerances import HeatCertificate
        r = self._rule(rule, HeatCertificate)
        c = r.evaluate(model, a, T)
        return self._certified(
            c, r, what=what, finite=("error", "residual", "initial", "lift", "bound"),
            error_name="sup_t ||v - u||/||u(0)||", bound_name="B/||u(0)||",
            numbers=lambda e, b: (f"sup_t ||v - u||/||u(0)|| = {e:.3g}, ||r - l_t||_L2(Q) = {c['residual']:.3g}, "
                                  f"initial error ||w0(0)|| = {c['initial']:.3g}, boundary lift sup_t ||l|| = "
                                  f"{c['lift']:.3g}, certified bound B/||u(0)|| = {b:.3g}"),
            convention="the file does not describe a network in the notebook's convention (inputs (x, t), tanh "
                       "hidden layers, linear output)",
            hint="Are the initial and boundary terms in the loss, and did training converge?")

    def burgers_accuracy(self, model, *, what: str, rule: str = "burgers_accuracy") -> dict:
        """A trained (x, t) network for the Burgers benchmark vs the exact Cole-Hopf solution (rule
        `burgers_calibrated`)."""
        from .tolerances import BurgersCalibrated
        r = self._rule(rule, BurgersCalibrated)
        c = r.evaluate(model)
        if not np.isfinite(c["error"]):
            raise TestFailure(f"{what}: the network gives non-finite values on the grader's grid")
        if c["error"] > r.max_error:
            x, t = c["worst_point"]
            raise TestFailure(
                f"{what}: relative L2 error {c['error']:.3g} against the exact (Cole-Hopf) solution; required "
                f"<= {r.max_error:g} ({r.describe()}). Error at t = 0 (the initial condition): "
                f"{c['initial_error']:.3g}; largest pointwise error {c['worst']:.3g} at (x, t) = ({x:.3g}, {t:.3g}). "
                "Is the initial condition -sin(pi x) in the loss, and did L-BFGS run long enough?")
        return c


def checker_from_specs(specs: dict, where: str = "checks") -> Checker:
    from .rules import make_rules
    return Checker(make_rules(specs, where))
