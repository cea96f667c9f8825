"""Calibrate the Burgers PINN check of ps4_pinns: train the reference network for K seeds and measure its error.

Usage (from the repository root):  OMP_NUM_THREADS=1 .venv/bin/python solutions/ps4_pinns/calibrate_burgers.py K [--first S]

Trains train_burgers(seed) of the reference notebook for seeds 0..K-1 (at most 2 processes at a time, one thread
each), plus two realistically bad models for the bug catalogue: seed 0 after the Adam phase only (no L-BFGS),
and seed 0 trained without the initial-condition loss term. Every model is written as JSON to models/ and read
back and scored by the grader's own rule (burgers_calibrated as configured in checks.yaml: relative L2
error against the exact Cole-Hopf solution on Raissi's 256 x 100 grid, autograder/mfdl_checks/burgers_exact.py). Seed 0 is
the reference's submitted file models/burgers_model.json. Prints a table (seed, seconds, error) and the min /
median / max error.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"      # before numpy / torch are imported, here and in the spawned workers

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REFERENCE = ROOT / "build" / "ps4_pinns" / "autograder" / "reference.py"
MODELS = HERE / "models"
sys.path.insert(0, str(ROOT))

from autograder.pinn_models import dump_mlp, load_mlp  # noqa: E402

_NAMESPACE = None


def reference_namespace():
    """The reference notebook's functions (exec'd once per process; run `mfdl assign ps4` first)."""
    global _NAMESPACE
    if _NAMESPACE is None:
        ns = {"__name__": "reference"}
        exec(compile(REFERENCE.read_text(), str(REFERENCE), "exec"), ns)
        ns["torch"].set_num_threads(1)
        _NAMESPACE = ns
    return _NAMESPACE


def relative_error_of_file(path):
    from autograder.config import load_config
    rule = load_config(ROOT / "grader_config.yaml").problem_set("ps4").checks["burgers_accuracy"]
    return rule.evaluate(load_mlp(json.loads(Path(path).read_text()), ["x", "t"]))["error"]


def run_task(task):
    """Train one model, write it as JSON, return (name, seed, seconds, error)."""
    name, seed, kwargs, filename = task
    ns = reference_namespace()
    start = time.perf_counter()
    params = ns["train_burgers"](seed, **kwargs)
    seconds = time.perf_counter() - start
    path = MODELS / filename if filename else Path(tempfile.mkdtemp()) / f"seed{seed}.json"
    path.write_text(json.dumps(dump_mlp(params, ["x", "t"])))
    return name, seed, seconds, relative_error_of_file(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("K", type=int, help="number of seeds (FIRST..FIRST+K-1)")
    parser.add_argument("--first", type=int, default=0, help="first seed (default 0; seed 0 is the reference file)")
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="parallel processes (at most 2)")
    parser.add_argument("--no-bad", action="store_true", help="skip the two bad models")
    args = parser.parse_args(argv)
    MODELS.mkdir(parents=True, exist_ok=True)

    tasks = [("seed", seed, {}, "burgers_model.json" if seed == 0 else None) for seed in range(args.first, args.first + args.K)]
    if not args.no_bad:
        tasks.insert(1, ("no initial condition", 0, {"initial_weight": 0.0}, "burgers_model_no_initial_condition.json"))
        tasks.append(("Adam only", 0, {"lbfgs_steps": 0}, "burgers_model_adam_only.json"))

    results = []
    context = multiprocessing.get_context("spawn")
    wall = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = [pool.submit(run_task, task) for task in tasks]
        for future in concurrent.futures.as_completed(futures):
            name, seed, seconds, error = future.result()
            results.append((name, seed, seconds, error))
            print(f"[{time.perf_counter() - wall:7.0f} s] {name:22s} seed {seed:3d}: {seconds:7.1f} s, "
                  f"relative L2 error {error:.3e}", flush=True)

    calibration = sorted((r for r in results if r[0] == "seed"), key=lambda r: r[1])
    if calibration:
        print("\nseed   seconds   rel. L2 error")
        for _, seed, seconds, error in calibration:
            print(f"{seed:4d}   {seconds:7.1f}   {error:.3e}")
        errors = np.array([r[3] for r in calibration])
        print(f"min {errors.min():.3e}   median {np.median(errors):.3e}   max {errors.max():.3e}   "
              f"(K = {len(errors)})")
    for name, seed, seconds, error in results:
        if name != "seed":
            print(f"bad model, {name}: {seconds:.1f} s, relative L2 error {error:.3e}")
    print(f"wall time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
