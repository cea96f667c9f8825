"""Checks of the trusted Cole-Hopf solution of the Burgers benchmark (autograder/mfdl_checks/burgers_exact.py)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from autograder.burgers_exact import NU, burgers_cole_hopf, burgers_cole_hopf_x, raissi_grid

T_BASDEVANT = 1.6037 / np.pi     # Basdevant et al. (1986): max |u_x| = 152.00516 at this time, at x = 0


def test_antisymmetry():
    # u0 = -sin(pi x) is odd and the equation is invariant under (x, u) -> (-x, -u), so u stays odd in x.
    x = np.linspace(0.0, 1.0, 101)[:, None]
    t = np.array([0.0, 0.1, 0.3, 0.5, 0.51, 0.8, 1.0])[None, :]
    np.testing.assert_allclose(burgers_cole_hopf(-x, t), -burgers_cole_hopf(x, t), rtol=0, atol=1e-13)


def test_initial_condition_and_small_time_limit():
    x = np.linspace(-1.0, 1.0, 201)
    np.testing.assert_array_equal(burgers_cole_hopf(x, 0.0), -np.sin(np.pi * x))
    # For small t > 0, u(x, t) = -sin(pi x) + t u_t(x, 0) + O(t^2) and |u_t(x, 0)| <= pi + nu pi^2 < 3.2.
    for t in (1e-10, 1e-8, 1e-6):
        assert np.max(np.abs(burgers_cole_hopf(x, t) + np.sin(np.pi * x))) <= 3.2 * t + 1e-14


def test_boundary_values_vanish():
    t = np.linspace(0.0, 1.0, 101)
    for end in (-1.0, 1.0):
        assert np.max(np.abs(burgers_cole_hopf(end, t))) < 1e-13


def test_finite_difference_residual_away_from_front():
    # Grid away from the front at x = 0 (and inside the domain, so that the stencils fit), t in [0.05, 1].
    x = np.concatenate([np.linspace(-0.9, -0.2, 15), np.linspace(0.2, 0.9, 15)])
    X, T = np.meshgrid(x, np.linspace(0.05, 1.0, 20), indexing="ij")
    u = lambda dx, dt: burgers_cole_hopf(X + dx, T + dt)

    def residual(h):
        ut = (u(0, h) - u(0, -h)) / (2 * h)
        ux = (u(h, 0) - u(-h, 0)) / (2 * h)
        uxx = (u(h, 0) - 2 * u(0, 0) + u(-h, 0)) / h ** 2
        return ut + u(0, 0) * ux - NU * uxx

    # Truncation of the central differences (Taylor with remainder): the FD residual of an exact solution is
    #   |R_h| <= h^2 (max|u_ttt| / 6 + max|u| max|u_xxx| / 6 + nu max|u_xxxx| / 12),
    # the rounding part (~1e-16 / h^2 * nu) being negligible for h = 1e-3.  The third and fourth derivatives are
    # estimated by wider difference stencils (step 0.01) and given a factor 2 of margin.
    d = 1e-2
    u_ttt = (u(0, 2 * d) - 2 * u(0, d) + 2 * u(0, -d) - u(0, -2 * d)) / (2 * d ** 3)
    u_xxx = (u(2 * d, 0) - 2 * u(d, 0) + 2 * u(-d, 0) - u(-2 * d, 0)) / (2 * d ** 3)
    u_xxxx = (u(2 * d, 0) - 4 * u(d, 0) + 6 * u(0, 0) - 4 * u(-d, 0) + u(-2 * d, 0)) / d ** 4
    constant = np.max(np.abs(u_ttt)) / 6 + np.max(np.abs(u(0, 0))) * np.max(np.abs(u_xxx)) / 6 \
        + NU * np.max(np.abs(u_xxxx)) / 12
    h = 1e-3
    r_h, r_half = residual(h), residual(h / 2)
    assert np.max(np.abs(r_h)) <= 2 * constant * h ** 2          # measured: 3.9e-5 (bound about 1e-4)
    # The residual is pure truncation error: halving h divides it by 4 (a wrong solution would leave an O(1) part).
    ratio = np.max(np.abs(r_h)) / np.max(np.abs(r_half))
    assert 3.9 < ratio < 4.1
    # Richardson extrapolation removes the h^2 term; what is left is O(h^4), far below the terms' size (~2).
    assert np.max(np.abs((4 * r_half - r_h) / 3)) < 1e-7


def test_stable_for_much_smaller_viscosity():
    # nu = 1e-4 / pi puts exponents of size 5000 in the weights: only the log-sum-exp shift keeps them finite.
    # The maximum principle bounds the solution by max |u0| = 1.
    x = np.linspace(-1.0, 1.0, 101)
    u = burgers_cole_hopf(x, 0.5, nu=1e-4 / np.pi)
    assert np.all(np.isfinite(u)) and np.max(np.abs(u)) <= 1.0 + 1e-12


def test_quadrature_converged():
    # Doubling the trapezoid nodes (and a much finer rule) changes nothing beyond rounding: < 1e-13.
    points, values = raissi_grid()
    doubled = burgers_cole_hopf(points[:, 0], points[:, 1], nodes=482)
    assert np.max(np.abs(doubled - values)) < 1e-13
    x = np.linspace(-0.05, 0.05, 201)                              # the front at the final time, t = 1
    fine = burgers_cole_hopf(x, 1.0, nodes=4001)
    assert np.max(np.abs(burgers_cole_hopf(x, 1.0) - fine)) < 1e-13


def test_slope_matches_finite_differences():
    x = np.linspace(-0.9, 0.9, 19)[:, None]
    t = np.array([0.1, 0.4, 1.0])[None, :]
    h = 1e-5
    fd = (burgers_cole_hopf(x + h, t) - burgers_cole_hopf(x - h, t)) / (2 * h)
    np.testing.assert_allclose(burgers_cole_hopf_x(x, t), fd, rtol=1e-6, atol=1e-5)


def test_basdevant_max_slope():
    # Basdevant et al. (1986, Computers & Fluids 14:23-41): max |u_x| = 152.00516 at t = 1.6037 / pi, x = 0.
    assert abs(burgers_cole_hopf_x(0.0, T_BASDEVANT) + 152.00516) < 1e-5
    x = np.linspace(-1.0, 1.0, 2001)
    assert np.argmax(np.abs(burgers_cole_hopf_x(x, T_BASDEVANT))) == 1000          # the steepest point is x = 0
    # ... and it is the time of the steepest slope: a little earlier or later, |u_x(0, t)| is smaller.
    for dt in (-1e-3, 1e-3):
        assert abs(burgers_cole_hopf_x(0.0, T_BASDEVANT + dt)) < 152.0051


def test_raissi_grid_layout_and_speed():
    start = time.perf_counter()
    points, values = raissi_grid.__wrapped__()                         # uncached
    assert time.perf_counter() - start < 1.0
    assert points.shape == (25600, 2) and values.shape == (25600,)
    x, t = points[:, 0].reshape(256, 100), points[:, 1].reshape(256, 100)
    np.testing.assert_allclose(x[:, 0], np.linspace(-1, 1, 256), atol=0)
    np.testing.assert_allclose(t[0], np.arange(100) / 100, atol=1e-15)
    np.testing.assert_array_equal(values.reshape(256, 100)[:, 0], -np.sin(np.pi * x[:, 0]))
    assert raissi_grid() is raissi_grid()                                # cached
    with pytest.raises(ValueError):
        raissi_grid()[1][0] = 1.0                                        # read-only: the cache cannot be spoiled
