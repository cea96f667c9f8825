"""The tolerance rules: correct computations (float64 and float32) always pass, realistic bugs never do."""
import math

import numpy as np
import pytest

from autograder.mfdl_checks.checker import Checker, TestFailure
from autograder.mfdl_checks.tolerances import CentralDifference, HighamRounding, Hoeffding, gamma, unit_roundoff
from conftest import load_set_module

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
from autograder.mfdl_checks.tolerances import DampedRounding, GaussianQuadraticForm, WindowRate  # noqa: E402

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

from autograder.mfdl_checks.tolerances import BellmanStopping, LinearSolveRounding, OrderStatisticEnvelope  # noqa: E402

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
        exact = load_set_module("ps3_qlearning", "rl_fixtures").solve_exact(
            [[Fraction(float(v)) for v in row] for row in A], [Fraction(float(v)) for v in b])
        student = np.linalg.solve(A.astype(dtype), b.astype(dtype))
        PS3.solve(student, exact, A, what="V", ops=2, rhs_magnitude=np.abs(b))
        with pytest.raises(TestFailure, match="not round-off"):
            wrong = np.linalg.solve(A + 0.01 * np.eye(n), b)           # e.g. a dropped discount on one term
            PS3.solve(wrong, exact, A, what="V", ops=2, rhs_magnitude=np.abs(b))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_iteration_guarantees_and_counts(dtype):
    fx = load_set_module("ps3_qlearning", "rl_fixtures")
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


# -- PS4: autograd residuals, the Deep Ritz quadrature, the PINN certificates ------------------------------------
def test_autograd_rounding_covers_float32_autograd_and_rejects_a_sign_error():
    import torch
    from autograder.mfdl_checks.tolerances import AutogradRounding
    check = Checker({"residual": AutogradRounding()})
    x64 = np.linspace(-1.0, 1.0, 41)[:, None]
    y = np.pi * x64
    magnitude = 2 * np.pi ** 2 * (np.abs(np.sin(y)) + np.abs(y * np.cos(y)))
    for dtype in (torch.float64, torch.float32):
        x = torch.tensor(x64, dtype=dtype, requires_grad=True)
        u = torch.sin(np.pi * x)
        ux = torch.autograd.grad(u, x, torch.ones_like(u), create_graph=True)[0]
        uxx = torch.autograd.grad(ux, x, torch.ones_like(ux))[0]
        r = (-uxx - np.pi ** 2 * torch.sin(np.pi * x)).detach().numpy()  # -u'' - f = 0 for u = sin(pi x)
        check.autograd_close(r, np.zeros_like(x64), what="residual", ops=6, functions=1, magnitude=magnitude)
        wrong = (uxx - np.pi ** 2 * torch.sin(np.pi * x)).detach().numpy()  # sign of the Laplacian
        with pytest.raises(TestFailure, match="sign"):
            check.autograd_close(wrong, np.zeros_like(x64), what="residual", ops=6, functions=1, magnitude=magnitude)


def test_midpoint_rule_truncation_bound_is_sharp_for_a_quadratic():
    from autograder.mfdl_checks.tolerances import MidpointQuadrature
    rule = MidpointQuadrature()
    for n in (4, 16, 100):
        x = (np.arange(n) + 0.5) / n
        got = np.mean(x ** 2)  # int_0^1 x^2 = 1/3; the midpoint error is exactly h^2 / 12 = h^2 max|g''| / 24
        bound = rule.bound(n=n, second_derivative_bound=2.0, student_dtype=np.float64, ops=2, magnitude=1.0)
        assert abs(got - 1 / 3) <= bound <= abs(got - 1 / 3) * (1 + 1e-9) + 1e-13
        # a missing factor (the mean of 2 x^2 / 2 computed as x^2 / 2) is far outside
        assert abs(np.mean(x ** 2 / 2) - 1 / 3) > 30 * bound


def _poisson_evaluator(w, w2):
    """v = sin(pi x) + w(x) for -u'' = pi^2 sin(pi x): returns (v, v'') from closed forms."""
    return lambda x: (np.sin(np.pi * x) + w(x), -np.pi ** 2 * np.sin(np.pi * x) + w2(x))


@pytest.mark.parametrize("case", ["sine", "bubble", "lift"])
def test_poisson_certificate_holds_and_is_sharp(case):
    from autograder.mfdl_checks.tolerances import PoissonCertificate
    rule, d = PoissonCertificate(), 1e-3
    f, exact = (lambda x: np.pi ** 2 * np.sin(np.pi * x)), (lambda x: np.sin(np.pi * x))
    if case == "sine":  # w = d sin(pi x): r = d pi^2 sin(pi x); the Poincare constant is attained: B = ||w||
        ev, error, bound = _poisson_evaluator(lambda x: d * np.sin(np.pi * x), lambda x: -d * np.pi ** 2 * np.sin(np.pi * x)), \
            d / math.sqrt(2), d / math.sqrt(2)
    elif case == "bubble":  # w = d x (1 - x): r = 2 d, ||w|| = d / sqrt(30), B = 2 d / pi^2
        ev, error, bound = _poisson_evaluator(lambda x: d * x * (1 - x), lambda x: -2 * d + 0 * x), \
            d / math.sqrt(30), 2 * d / math.pi ** 2
    else:  # w = 2d (1 - x) - d x: r = 0, B = ||lift|| = sqrt((g0^2 + g0 g1 + g1^2) / 3) = ||w||
        ev, error, bound = _poisson_evaluator(lambda x: 2 * d * (1 - x) - d * x, lambda x: 0 * x), \
            d * math.sqrt((4 - 2 + 1) / 3), d * math.sqrt((4 - 2 + 1) / 3)
    c = rule.evaluate(ev, f, exact, alpha=0.0, beta=0.0)
    assert c["error"] == pytest.approx(error, rel=1e-9)
    assert c["bound"] == pytest.approx(bound, rel=1e-9)
    assert c["error"] <= c["bound"] * (1 + 1e-9)
    assert c["norm_u"] == pytest.approx(1 / math.sqrt(2), rel=1e-12)


class _ClosedFormHeatModel:
    """Stands in for pinn_models.MLP: v = exp(-a pi^2 t) sin(pi x) + w(x, t) from closed forms."""

    def __init__(self, a, w, w_x, w_t, w_xx):
        self.a, self.w, self.w_x, self.w_t, self.w_xx = a, w, w_x, w_t, w_xx

    def value(self, X):
        x, t = X[:, 0], X[:, 1]
        return np.exp(-self.a * np.pi ** 2 * t) * np.sin(np.pi * x) + self.w(x, t)

    def jet(self, X):
        x, t = X[:, 0], X[:, 1]
        e, s, c = np.exp(-self.a * np.pi ** 2 * t), np.sin(np.pi * x), np.cos(np.pi * x)
        return (self.value(X), np.pi * e * c + self.w_x(x, t), -self.a * np.pi ** 2 * e * s + self.w_t(x, t),
                -np.pi ** 2 * e * s + self.w_xx(x, t))


def test_heat_certificate_matches_closed_forms_and_holds():
    from autograder.mfdl_checks.tolerances import HeatCertificate
    rule, a, d = HeatCertificate(max_error=1e-2, max_certified=3e-2), 0.4, 1e-3
    zero = lambda x, t: 0 * x  # noqa: E731
    # w = d e^{-t} sin(pi x): zero boundary values; r = d (a pi^2 - 1) e^{-t} sin(pi x);
    # sup_t ||w|| = ||w(0)|| = d / sqrt(2); ||r||_L2(Q) = d |a pi^2 - 1| sqrt((1 - e^{-2}) / 2) / sqrt(2)
    m = _ClosedFormHeatModel(a, lambda x, t: d * np.exp(-t) * np.sin(np.pi * x),
                             lambda x, t: d * np.pi * np.exp(-t) * np.cos(np.pi * x),
                             lambda x, t: -d * np.exp(-t) * np.sin(np.pi * x),
                             lambda x, t: -d * np.pi ** 2 * np.exp(-t) * np.sin(np.pi * x))
    c = rule.evaluate(m, a)
    residual = d * abs(a * np.pi ** 2 - 1) * math.sqrt((1 - math.exp(-2)) / 2) / math.sqrt(2)
    assert c["error"] == pytest.approx(d / math.sqrt(2), rel=1e-9)
    assert c["residual"] == pytest.approx(residual, rel=1e-9)
    assert c["initial"] == pytest.approx(d / math.sqrt(2), rel=1e-9) and c["lift"] < 1e-15
    assert c["bound"] == pytest.approx(d / math.sqrt(2) + residual / (math.pi * math.sqrt(2 * a)), rel=1e-9)
    # w = d t (constant in x): the whole error is boundary error; r = l_t = d, so r - l_t = 0 and the bound
    # sup_t ||l(t)|| = d equals the error at t = 1: the lift term is sharp.
    m = _ClosedFormHeatModel(a, lambda x, t: d * t + 0 * x, zero, lambda x, t: d + 0 * x, zero)
    c = rule.evaluate(m, a)
    assert c["error"] == pytest.approx(d, rel=1e-9) and c["bound"] == pytest.approx(d, rel=1e-9)
    assert c["residual"] < 1e-15 and c["initial"] < 1e-15


def test_heat_certificate_check_fails_an_inaccurate_or_uncertified_network():
    from autograder.mfdl_checks.tolerances import HeatCertificate
    check = Checker({"heat_certificate": HeatCertificate(max_error=1e-2, max_certified=3e-2)})
    a = 0.4
    wiggle = lambda d, k: _ClosedFormHeatModel(  # noqa: E731  w = d sin(k pi x) sin(pi t): zero at t = 0 and x = 0, 1
        a, lambda x, t: d * np.sin(k * np.pi * x) * np.sin(np.pi * t),
        lambda x, t: d * k * np.pi * np.cos(k * np.pi * x) * np.sin(np.pi * t),
        lambda x, t: d * np.pi * np.sin(k * np.pi * x) * np.cos(np.pi * t),
        lambda x, t: -d * (k * np.pi) ** 2 * np.sin(k * np.pi * x) * np.sin(np.pi * t))
    c = check.heat_certificate(wiggle(1e-4, 1), a=a, what="net")
    assert c["relative_error"] < 1e-3 and c["error"] <= c["bound"]
    with pytest.raises(TestFailure, match="not accurate enough"):
        check.heat_certificate(wiggle(2e-2, 1), a=a, what="net")
    # small error, but a fast wiggle has a large residual: accurate to 1e-3 and not certified
    with pytest.raises(TestFailure, match="does not certify"):
        check.heat_certificate(wiggle(1e-3, 40), a=a, what="net")


def test_burgers_calibrated_rule_measures_the_relative_error_against_cole_hopf():
    from autograder.mfdl_checks.burgers_exact import burgers_cole_hopf
    from autograder.mfdl_checks.tolerances import BurgersCalibrated
    check = Checker({"burgers_accuracy": BurgersCalibrated(max_error=5e-2)})

    class Exact:  # stands in for pinn_models.MLP
        def __init__(self, scale=1.0, shift=0.0):
            self.scale, self.shift = scale, shift

        def value(self, X):
            return self.scale * burgers_cole_hopf(X[:, 0], X[:, 1]) + self.shift

    assert check.burgers_accuracy(Exact(), what="net")["error"] < 1e-12
    assert check.burgers_accuracy(Exact(scale=1.03), what="net")["error"] == pytest.approx(0.03, rel=1e-9)
    with pytest.raises(TestFailure, match=r"relative L2 error 0\.1 .*initial condition\): 0\.1"):
        check.burgers_accuracy(Exact(scale=1.1), what="net")
    with pytest.raises(TestFailure, match="relative L2 error"):
        check.burgers_accuracy(Exact(shift=0.1), what="net")  # a constant offset breaks the boundary values
