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
