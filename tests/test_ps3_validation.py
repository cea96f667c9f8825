"""`mfdl validate ps3` in CI: the reference earns 100%, every correct variant too, the released stub earns 0,
every catalogued bug loses exactly the points of the questions it breaks, and the student notebook runs in
plain Jupyter (self-checks and export included). Also: the exact fixtures behind PS3's hidden tests reproduce
the published values, and the calibrated envelopes in checks.yaml match the calibration file."""
import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from autograder.config import load_config

from conftest import load_set_module

from conftest import mutants_caught, validation_report

fx = load_set_module("ps3_qlearning", "rl_fixtures")
REPO = Path(__file__).resolve().parent.parent


def test_validate_ps3():
    lines = validation_report("ps3")
    assert mutants_caught(lines) >= 12


def test_fixtures_reproduce_published_values():
    gamma = Fraction(0.9)
    # Sutton & Barto Example 3.5/3.8: v*(A) = 10 / (1 - gamma^5), v*(B) = v*(A) - 5 (closed forms)
    P, R, terminal = fx.sutton_barto_gridworld()
    V = fx.ExactMDP(P, R, terminal, 0.9).optimal()[0]
    assert V[1] == 10 / (1 - gamma ** 5) and V[3] == V[1] - 5
    assert round(float(V[0]), 1) == 22.0 and round(float(V[24]), 1) == 11.7          # Figure 3.5
    # Example 3.5, equiprobable policy (Figure 3.2): 3.3 8.8 4.4 5.3 1.5 in the top row
    V = fx.ExactMDP(P, R, terminal, 0.9).policy_value(np.full((25, 4), 0.25))
    assert [round(float(v), 1) for v in V[:5]] == [3.3, 8.8, 4.4, 5.3, 1.5]
    # Example 4.1: integer values of the equiprobable policy, undiscounted
    P, R, terminal = fx.sutton_barto_example_4_1()
    V = fx.ExactMDP(P, R, terminal, 1.0).policy_value(np.full((16, 4), 0.25))
    assert V == [0, -14, -20, -22, -14, -18, -20, -20, -20, -20, -18, -14, -22, -20, -14, 0]
    # FrozenLake 4x4 slippery, gamma = 1: the maximal probability of reaching the goal from the start is 14/17
    # (exactly, with the probabilities read as 1/3; the float data give it up to 1e-14), and state 6 is a tie
    P, R, terminal, start = fx.frozen_lake()
    V, Q, _ = fx.ExactMDP(P, R, terminal, 1.0, denominator=1000).optimal(np.full(16, 1))
    assert V[start] == Fraction(14, 17)
    assert abs(float(fx.ExactMDP(P, R, terminal, 1.0).optimal(np.full(16, 1))[0][start]) - 14 / 17) < 1e-14
    _, Q9, _ = fx.ExactMDP(P, R, terminal, 0.9).optimal()
    assert Q9[6][0] == Q9[6][2] == max(Q9[6])                                          # LEFT and RIGHT tie
    # CliffWalking: V*(start) = -13 undiscounted, -(1 - gamma^13) / (1 - gamma) discounted
    P, R, terminal, start = fx.cliff_walking()
    rows, cols = np.divmod(np.arange(48), 12)
    safe = np.where(rows == 3, 0, np.where(cols == 11, 2, 1))
    assert fx.ExactMDP(P, R, terminal, 1.0).optimal(safe)[0][start] == -13
    assert fx.ExactMDP(P, R, terminal, 0.9).optimal()[0][start] == -(1 - gamma ** 13) / (1 - gamma)


def test_envelopes_match_calibration():
    calibration = json.loads((Path(__file__).resolve().parent.parent / "solutions" / "ps3_qlearning" /
                              "calibration.json").read_text())
    rule = load_config().problem_set("ps3").checks["qlearning"]
    assert rule.calibration_runs == calibration["runs"]
    assert rule.false_fail_probability() < 2e-7
    for name, config in calibration["configs"].items():
        assert np.allclose(rule.envelope(name), config["envelope"], rtol=1e-5), name


# -- q7's seed test and skewed-transition test (issue 11): the numbers their comments derive ----------------------
def _binomial_collision(n: int, p: Fraction) -> Fraction:
    """P(C = C') for independent C, C' ~ Binomial(n, p), exactly: sum_c b(c)^2."""
    import math
    return sum((math.comb(n, c) * p ** c * (1 - p) ** (n - c)) ** 2 for c in range(n + 1))


def _sync_variant(find: str | None = None, with_: str | None = None):
    """The reference q_learning_sync (mfdl_reference.py, generated from the master), optionally with one of the
    catalogue's replacements applied to its source."""
    source = (REPO / "solutions" / "ps3_qlearning" / "mfdl_reference.py").read_text()
    if find is not None:
        assert source.count(find) == 1, find
        source = source.replace(find, with_)
    namespace: dict = {}
    exec(compile(source, "mfdl_reference", "exec"), namespace)
    return namespace["q_learning_sync"]


SKEW_GAMMA, SKEW_T = 0.5, 64          # as in the master's two q7 tests on rl_fixtures.skewed_branching


def test_seed_test_collision_bound_and_rounding_margin():
    P, R, terminal, sources = fx.skewed_branching()
    pairs = sources.size * R.shape[1]
    assert pairs == 32
    s = _binomial_collision(SKEW_T - 1, Fraction(7, 8))
    assert 0.1078 < float(s) < 0.1079                                    # the value quoted in the test's comment
    assert 3 * float(s) ** pairs < 3.4e-31
    # bit-identical tables => equal counts: twice the rounding bound (float32, the worst precision) < gamma / T
    rule = load_config().problem_set("ps3").checks["analytic"]
    rho = float(rule.bound(student_dtype=np.float32, ops=8 * SKEW_T, magnitude=2.0)[0])
    assert 6.1e-5 < rho < 6.2e-5 and 2 * rho < SKEW_GAMMA / SKEW_T
    hoeffding = load_config().problem_set("ps3").checks["frequency"]
    assert abs(hoeffding.half_width(pairs * (SKEW_T - 1)) - 0.0672) < 1e-4


def test_skewed_fixture_makes_q_learning_count_its_draws():
    """Q_T = gamma C / T exactly on the source pairs (the reference, float64: C an integer up to rounding), the sinks
    worth 1 and 0; C's mean over many seeds is (T - 1) 7/8; the same seed gives the same table, other seeds others."""
    P, R, terminal, sources = fx.skewed_branching()
    run = _sync_variant()
    alpha = lambda k: 1.0 / k  # noqa: E731
    counts = []
    tables = {}
    for seed in range(40):
        Q = run(P, R, terminal, SKEW_GAMMA, SKEW_T, alpha, seed)
        C = Q[sources] * SKEW_T / SKEW_GAMMA
        assert np.allclose(C, np.round(C), atol=1e-9) and C.min() >= 0 and C.max() <= SKEW_T - 1
        assert np.all(Q[sources[-1] + 2] == 1.0) and np.all(Q[sources[-1] + 1] == 0.0)   # high and low sinks
        assert np.all(Q[terminal] == 0.0)
        counts.append(np.round(C))
        tables[seed] = Q.tobytes()
    assert len(set(tables.values())) == 40                                  # 40 seeds, 40 different tables
    assert run(P, R, terminal, SKEW_GAMMA, SKEW_T, alpha, 7).tobytes() == tables[7]
    f = float(np.mean(counts)) / (SKEW_T - 1)
    assert abs(f - 7 / 8) < 0.01                              # 80640 draws: 5 standard deviations = 0.0058


def test_uniform_next_state_bugs_are_far_outside_the_hoeffding_band():
    """The frequencies the two uniform-draw bugs of the catalogue produce on the skewed fixture (the comment of
    test_q_learning_sync_draws_from_P quotes them): about 1/2 and 0.2, against 7/8 +- 0.067."""
    import yaml
    catalogue = yaml.safe_load((REPO / "solutions" / "ps3_qlearning" / "mutants.yaml").read_text())
    bugs = {m["name"]: m["replace"][0] for m in catalogue["mutants"]
            if m["name"].startswith("q_learning_sync: next state uniform")}
    assert len(bugs) == 2
    P, R, terminal, sources = fx.skewed_branching()
    c = SKEW_T / (SKEW_GAMMA * (SKEW_T - 1))
    freqs = {}
    for name, rep in bugs.items():
        run = _sync_variant(rep["find"], rep["with"])
        means = [np.mean(run(P, R, terminal, SKEW_GAMMA, SKEW_T, lambda k: 1.0 / k, seed)[sources])
                 for seed in range(20)]
        freqs[name] = float(np.mean(means)) * c
    support, everything = (freqs[n] for n in sorted(freqs, key=lambda n: "all states" in n))
    assert abs(support - 0.5) < 0.02 and 0.15 < everything < 0.25
    assert 7 / 8 - max(support, everything) > 5 * 0.0672                      # "at least 5 half-widths away"
