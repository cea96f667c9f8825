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


# -- iterative methods (PS2): damped_rounding, window_rate, gaussian_quadratic_form ----------------------------
from autograder.tolerances import DampedRounding, GaussianQuadraticForm, WindowRate  # noqa: E402

ITER = Checker({"iterates": DampedRounding(input_roundings=3), "rate": WindowRate(),
                "stochastic": GaussianQuadraticForm(false_fail_probability=1e-6)})


def _gd(A, b, x0, lr, k, dtype):
    A, b, x, lr = A.astype(dtype), b.astype(dtype), x0.astype(dtype), dtype(lr)
    out = [x]
    for _ in range(k):
        x = x - lr * (A @ x - b)
        out.append(x)
    return np.array(out)


def test_damped_rounding_geometric_equals_sequence():
    rule = DampedRounding(input_roundings=2)
    mag = np.abs(np.random.default_rng(5).standard_normal((30, 3)))
    a = rule.accumulate(student_dtype=np.float32, ops=7, magnitude=mag, amplification=0.8, initial=np.ones(3))
    b = rule.accumulate(student_dtype=np.float32, ops=7, magnitude=mag, amplification=0.8 ** np.arange(31),
                        initial=np.ones(3))
    assert a.shape == (31, 3) and np.allclose(a, b, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_descent_trajectories_pass_and_a_wrong_step_fails(dtype):
    rng = np.random.default_rng(7)
    d, k, lr = 6, 200, 0.15
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = Q @ np.diag(np.linspace(0.2, 6.0, d)) @ Q.T
    A = (A + A.T) / 2
    b, x0 = rng.standard_normal(d), 5 * rng.standard_normal(d)
    exact = _gd(A.astype(np.longdouble), b.astype(np.longdouble), x0.astype(np.longdouble), lr, k,
                np.longdouble).astype(np.float64)
    rho = np.abs(1 - lr * np.linalg.eigvalsh(A)).max()
    mag = np.linalg.norm(np.abs(exact[:-1]) + lr * (np.abs(exact[:-1]) @ np.abs(A).T + np.abs(b)), axis=1)
    kw = dict(ops=d + 3, magnitude=mag, amplification=rho, initial=np.linalg.norm(x0), norm=True)
    ITER.iterates(_gd(A, b, x0, lr, k, dtype), exact, what="gd", **kw)
    with pytest.raises(TestFailure, match="not round-off"):
        ITER.iterates(_gd(A, b, x0, lr * (1 + 1e-3), k, dtype), exact, what="gd", **kw)


def test_window_rate_heavy_ball_jordan_window():
    # kappa = 49, Polyak's parameters (binary fractions), spectrum {mu, L}: e_k = (1 + c k) rho^k e_0 per mode
    h = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    A = h @ np.diag([1.0, 49.0, 1.0, 49.0]) @ h
    lr, beta, rho, k1, k2 = 1 / 16, 9 / 16, 0.75, 5, 30
    x_prev = x = h @ np.array([2.0, 1.0, -1.0, 1.0])
    xs = [x]
    for _ in range(k2):
        x, x_prev = x - lr * (A @ x) + beta * (x - x_prev), x
        xs.append(x)
    xs = np.array(xs)
    norms = np.linalg.norm(xs, axis=1)
    g = [WindowRate.jordan_growth(k1, k2, 1 - rho), WindowRate.jordan_growth(k1, k2, 1 + rho)]
    # rounding bound of the float64 iterates: per-step magnitude |x| + lr |A||x| + beta (|x| + |x_prev|), damped
    # by ||T^m||, T the 8x8 iteration matrix of (x_k, x_{k-1})
    prev = np.vstack([xs[:1], xs[:-2]])
    mag = np.abs(xs[:-1]) + lr * np.abs(xs[:-1]) @ np.abs(A).T + beta * (np.abs(xs[:-1]) + np.abs(prev))
    T = np.block([[(1 + beta) * np.eye(4) - lr * A, -beta * np.eye(4)], [np.eye(4), np.zeros((4, 4))]])
    amp = [np.linalg.norm(np.linalg.matrix_power(T, m), 2) for m in range(k2 + 1)]
    bound = ITER.iteration_bound(student_dtype=np.float64, ops=4 + 5, magnitude=np.linalg.norm(mag, axis=1),
                                 amplification=amp, initial=np.sqrt(2) * norms[0])
    delta = max(bound[k1], bound[k2])
    est = ITER.rate(norms, what="hb", rho=rho, k1=k1, k2=k2, growth=(min(g), max(g)),
                    rounding=(delta, delta))
    assert rho < est < rho * (k2 / k1) ** (1 / (k2 - k1))
    with pytest.raises(TestFailure, match="rate theory gives"):   # the bare rho, without the Jordan factor
        ITER.rate(norms, what="hb", rho=rho, k1=k1, k2=k2, growth=(1.0, 1.0), rounding=(delta, delta))


def test_gaussian_quadratic_form_band_holds_and_detects_a_factor_two():
    rng = np.random.default_rng(11)
    W = np.diag([0.5, 1.0, 2.0])
    m = np.array([0.3, -0.2, 0.1])
    L = rng.standard_normal((3, 3)) * 0.3
    S = L @ L.T + 0.05 * np.eye(3)
    root = np.linalg.cholesky(S)
    # With delta = 0.05 a correct sampler may fail at most 5% of the time; the bound is conservative.
    loose = GaussianQuadraticForm(false_fail_probability=0.05)
    fails = 0
    for _ in range(200):
        e = m + rng.standard_normal((60, 3)) @ root.T
        x = np.einsum("ri,ij,rj->r", e, W, e)
        expected, below, above = loose.band(runs=60, weight=W, mean=m, cov=S)
        fails += not (expected - below <= x.mean() <= expected + above)
    assert fails <= 10
    e = m + rng.standard_normal((2000, 3)) @ root.T
    x = np.einsum("ri,ij,rj->r", e, W, e)
    ITER.quadratic_form_mean(x, what="X", weight=W, mean=m, cov=S)
    with pytest.raises(TestFailure, match="factor"):
        ITER.quadratic_form_mean(2 * x, what="X", weight=W, mean=m, cov=S)   # e.g. step size doubled
    with pytest.raises(TestFailure):
        ITER.quadratic_form_mean(np.einsum("i,ij,j->", m, W, m) * np.ones(2000), what="X", weight=W, mean=m,
                                 cov=S)                                       # noise missing


# -- problem set 3: linear solves, value iteration's stopping rule, calibrated envelopes -----------------------
from fractions import Fraction  # noqa: E402

from autograder.tolerances import BellmanStopping, LinearSolveRounding, OrderStatisticEnvelope  # noqa: E402

PS3 = Checker({"policy_evaluation": LinearSolveRounding(input_roundings=3),
               "value_iteration": BellmanStopping(input_roundings=3),
               "qlearning": OrderStatisticEnvelope(calibration_runs=20, runs=5, quorum=3,
                                                   envelopes={"x": [0.1, 0.9]})})


def _random_policy_system(rng, n, gamma):
    P = rng.random((n, n)) ** 4
    P /= P.sum(axis=1, keepdims=True)
    P *= 0.97 if gamma == 1 else 1.0       # at gamma = 1 some probability leaks to a terminal state
    return np.eye(n) - gamma * P, rng.standard_normal(n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99, 1.0])
def test_linear_solve_bound_holds_and_catches_a_wrong_system(dtype, gamma):
    rng = np.random.default_rng(int(gamma * 100))
    for n in (3, 12):
        A, b = _random_policy_system(rng, n, gamma)
        exact = __import__("autograder.rl_fixtures", fromlist=["solve_exact"]).solve_exact(
            [[Fraction(float(v)) for v in row] for row in A], [Fraction(float(v)) for v in b])
        student = np.linalg.solve(A.astype(dtype), b.astype(dtype))
        PS3.solve(student, exact, A, what="V", ops=2, rhs_magnitude=np.abs(b))
        with pytest.raises(TestFailure, match="not round-off"):
            wrong = np.linalg.solve(A + 0.01 * np.eye(n), b)           # e.g. a dropped discount on one term
            PS3.solve(wrong, exact, A, what="V", ops=2, rhs_magnitude=np.abs(b))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_iteration_guarantees_and_counts(dtype):
    from autograder import rl_fixtures as fx
    rng = np.random.default_rng(3)
    S, A, gamma = 8, 3, 0.9
    P = rng.random((S, A, S)) ** 3
    P /= P.sum(axis=2, keepdims=True)
    R = rng.standard_normal((S, A))
    terminal = np.zeros(S, dtype=bool)
    mdp = fx.ExactMDP(P, R, terminal, gamma)
    V_star = mdp.optimal()[0]

    def run(dt, eps, factor=2.0):
        Pd, Rd, g = P.astype(dt), R.astype(dt), dt(gamma)
        V, d = np.zeros(S, dtype=dt), []
        while True:
            V_new = (Rd + g * (Pd @ V)).max(axis=1)
            d.append(float(np.max(np.abs(V_new - V))))
            if d[-1] < eps * (1 - gamma) / (factor * gamma):
                return V_new, (Rd + g * (Pd @ V_new)).argmax(axis=1), len(d), d
            V = V_new

    for eps in (1.0, 1e-2, 1e-4):
        _, _, _, d64 = run(np.float64, eps * 1e-3)                    # replay well past the crossing
        V, pi, n, _ = run(dtype, eps)
        PS3.value_iteration(V, mdp.policy_value(pi), n, V_star=V_star, eps=eps, gamma=gamma,
                            reward_bound=float(np.abs(R).max()), differences=d64, what="VI")
    V, pi, n, _ = run(np.float64, 1e-2, factor=1.0)                   # AIMA's threshold: too few backups
    with pytest.raises(TestFailure):
        PS3.value_iteration(V, mdp.policy_value(pi), n, V_star=V_star, eps=1e-2, gamma=gamma,
                            reward_bound=float(np.abs(R).max()), differences=run(np.float64, 1e-5)[3], what="VI")


def test_envelope_false_fail_probability_matches_order_statistics():
    rule = PS3.params("qlearning")
    assert rule.false_fail_probability() == pytest.approx(2 * 10 / math.comb(25, 3))
    # Monte Carlo: N = 20 calibration draws and R = 5 test draws from the same continuous distribution;
    # the test fails when 3 of the 5 lie beyond the calibration range on one side.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200000, 25))
    cal, test = x[:, :20], x[:, 20:]
    above = (test > cal.max(axis=1, keepdims=True)).sum(axis=1) >= 3
    below = (test < cal.min(axis=1, keepdims=True)).sum(axis=1) >= 3
    observed = float(np.mean(above | below))
    assert abs(observed - rule.false_fail_probability()) < 5 * math.sqrt(rule.false_fail_probability() / 200000)
    PS3.envelope([0.2, 0.5, 0.95, 0.3, 0.99], name="x", what="X")     # two outside: passes
    with pytest.raises(TestFailure, match="above the largest"):
        PS3.envelope([0.2, 0.95, 0.97, 0.3, 0.99], name="x", what="X")
    with pytest.raises(TestFailure, match="below the smallest"):
        PS3.envelope([0.05, 0.01, 0.5, 0.3, 0.02], name="x", what="X")
