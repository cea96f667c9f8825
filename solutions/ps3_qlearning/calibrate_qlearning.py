"""Recompute the calibrated envelopes of problem set 3's Q-learning tests (check `qlearning` in checks.yaml).

    .venv/bin/python solutions/ps3_qlearning/calibrate_qlearning.py [--runs 1000] [--jobs 2] [--out calibration.json]

For every configuration below it runs the REFERENCE `q_learning_sync` of the master notebook on FrozenLake 4x4
(slippery, gamma = 0.9) with seeds 1000000 .. 1000000 + runs - 1 (the tests use seeds 1..5, so calibration and test
draws are independent) and records X = ||Q_T - Q*||_inf, Q* computed exactly (rational policy iteration,
solutions/ps3_qlearning/rl_fixtures.py). The envelope of a configuration is [min X, max X] over the runs.

Why min and max (rule `calibrated_envelope`, autograder/mfdl_checks/tolerances.py): if a student's R = 5 runs and the N
calibration runs are i.i.d., every ordering of the N + R values is equally likely, so P(at least 3 of the 5 student
runs exceed the calibration maximum) = C(5,3) / C(N+5,3), and the same below the minimum; for N = 1000 the two sides
together give 1.19e-7 per envelope check, over the randomness of both calibration and test. The script prints that,
quantiles, and the decay ratios that document the rates (about sqrt(10) = 3.16 per decade for 1/sqrt(T)).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))  # rl_fixtures.py lives beside this script (shipped with the notebook)

import rl_fixtures as fx  # noqa: E402
from autograder.authoring import parse_master, reference_source  # noqa: E402

GAMMA = 0.9
FIRST_SEED = 1_000_000
CONFIGS = {  # name -> (step-size source, as the tests send it; number of sweeps T)
    "rescaled_T1000": ("lambda k: 1.0 / (1.0 + 0.1 * k)", 1000),
    "rescaled_T10000": ("lambda k: 1.0 / (1.0 + 0.1 * k)", 10000),
    "polynomial_T10000": ("lambda k: float(k) ** -0.8", 10000),
    "linear_T10000": ("lambda k: 1.0 / k", 10000),
}
RUNS_PER_TEST, QUORUM = 5, 3

_state: dict = {}


def _init():
    namespace: dict = {}
    exec(compile(reference_source(parse_master(HERE / "ps3_qlearning.ipynb")), "<reference>", "exec"), namespace)
    P, R, terminal, _ = fx.frozen_lake()
    _, Q_exact, _ = fx.ExactMDP(P, R, terminal, GAMMA).optimal()
    _state.update(run=namespace["q_learning_sync"], mdp=(P, R, terminal), q_star=fx.to_float(Q_exact))


def _one_seed(seed: int) -> dict:
    if not _state:
        _init()
    P, R, terminal = _state["mdp"]
    out = {}
    for name, (source, T) in CONFIGS.items():
        Q = _state["run"](P, R, terminal, GAMMA, T, eval(source), seed)
        out[name] = float(np.max(np.abs(Q - _state["q_star"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "calibration.json"))
    args = ap.parse_args()
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.runs))
    t0 = time.perf_counter()
    if args.jobs > 1:
        with Pool(args.jobs, initializer=_init) as pool:
            rows = pool.map(_one_seed, seeds, chunksize=10)
    else:
        rows = [_one_seed(s) for s in seeds]
    elapsed = time.perf_counter() - t0
    n = args.runs
    p_fail = 2 * math.comb(RUNS_PER_TEST, QUORUM) / math.comb(n + RUNS_PER_TEST, QUORUM)
    summary = {"fixture": "FrozenLake-v1 4x4 slippery (probabilities 1/3), gamma = 0.9, Q_0 = 0",
               "statistic": "||Q_T - Q*||_inf", "seeds": [seeds[0], seeds[-1]], "runs": n,
               "runs_per_test": RUNS_PER_TEST, "quorum": QUORUM,
               "false_fail_probability_per_envelope_check": p_fail, "seconds": round(elapsed, 1), "configs": {}}
    qs = [0.0, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0]
    for name, (source, T) in CONFIGS.items():
        x = np.array([r[name] for r in rows])
        summary["configs"][name] = {"alpha": source, "T": T, "envelope": [float(x.min()), float(x.max())],
                                    "quantiles": {str(q): float(np.quantile(x, q)) for q in qs},
                                    "mean": float(x.mean())}
    med = {k: v["quantiles"]["0.5"] for k, v in summary["configs"].items()}
    summary["median_decay_rescaled_T1000_to_T10000"] = med["rescaled_T1000"] / med["rescaled_T10000"]
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{n} runs per configuration in {elapsed:.0f} s; false-fail probability per envelope check "
          f"2 C(5,3)/C(N+5,3) = {p_fail:.3g}")
    for name, c in summary["configs"].items():
        q = c["quantiles"]
        print(f"  {name:18s} min {q['0.0']:.5f}  q01 {q['0.01']:.5f}  median {q['0.5']:.5f}  q99 {q['0.99']:.5f}  "
              f"max {q['1.0']:.5f}")
    print(f"  median decay from T = 1000 to 10000 (rescaled): {summary['median_decay_rescaled_T1000_to_T10000']:.2f}"
          " (1/sqrt(T) would give 3.16)")
    print("\nsolutions/ps3_qlearning/checks.yaml, qlearning.envelopes:")
    for name, c in summary["configs"].items():
        lo, hi = c["envelope"]
        print(f"        {name}: [{lo:.6g}, {hi:.6g}]")


if __name__ == "__main__":
    main()
