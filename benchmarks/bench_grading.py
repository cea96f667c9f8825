"""Benchmark: grading time per submission, side by side, in one run (not a test: this machine is shared).

For each bundled example submission it prints
  ours       trusted grading in the local sandbox (kernel handed out pre-booted, as in a batch), all tests
  nbclient   plain execution of the same notebook with nbclient in a fresh, unsandboxed kernel (no grading)
  overhead   ours - nbclient (target: <= 0.5 s)
  otter run  `otter run` (otter-grader 7) on the same notebook, with one trivial test per question
  kernel MB  peak memory of the whole sandbox (cgroup), and the grader process's own peak RSS

Usage: python benchmarks/bench_grading.py [PROBLEM_SET] [SUBMISSIONS_DIR] [--no-otter]
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from nbclient import NotebookClient

from autograder.authoring import IGNORE_TAG, parse_master, write_outputs
from autograder.config import load_config
from autograder.engine import Autograder, InvalidSubmission, KernelFactory, grade_bytes, read_notebook
from autograder.submissions import discover, read_submission

REPO = Path(__file__).resolve().parent.parent


def time_ours(data: bytes, files: dict, ag, factory) -> tuple[float, dict]:
    t0 = time.perf_counter()
    rec = grade_bytes(data, ag, factory, files)
    return time.perf_counter() - t0, rec


def time_nbclient(data: bytes, notebook_name: str) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="bench-nbclient-"))
    try:
        (tmp / notebook_name).write_bytes(data)
        t0 = time.perf_counter()
        nb = nbformat.read(str(tmp / notebook_name), as_version=4)
        nb.cells = [c for c in nb.cells if IGNORE_TAG not in c.metadata.get("tags", [])]  # as Otter does
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp / "kernel"))  # Unix sockets, not TCP
        NotebookClient(nb, km=km, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(tmp)}}).execute()
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_otter_autograder(ag, workdir: Path) -> Path | None:
    """An Otter autograder with one trivial OK-format test per autograded question (name is defined)."""
    otter = shutil.which("otter", path=str(Path(sys.executable).parent))
    if not otter:
        return None
    tests = workdir / "tests"
    tests.mkdir(parents=True)
    for q in ag.manifest["questions"]:
        if q["manual"] or not q["tests"]:
            continue
        fn = next(p for t in q["tests"] for p in t["params"] if p not in ("check", "np", "ref", "remote"))
        (tests / f"{q['name']}.py").write_text(
            "OK_FORMAT = True\n"
            f"test = {{'name': '{q['name']}', 'points': 1, 'suites': [{{'cases': [{{'code': '>>> callable({fn})\\nTrue', "
            "'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}\n")
    subprocess.run([otter, "generate", "-t", str(tests), "-o", str(workdir / "autograder.zip"), "--no-environment"],
                   check=True, capture_output=True, cwd=workdir)
    zips = list(workdir.glob("*.zip"))
    return zips[0] if zips else None


def time_otter(zip_path: Path, data: bytes, notebook_name: str) -> float:
    otter = shutil.which("otter", path=str(Path(sys.executable).parent))
    tmp = Path(tempfile.mkdtemp(prefix="bench-otter-"))
    try:
        (tmp / notebook_name).write_bytes(data)
        (tmp / "out").mkdir()
        t0 = time.perf_counter()
        subprocess.run([otter, "run", "--no-logo", "-a", str(zip_path), "-o", str(tmp / "out"),
                        str(tmp / notebook_name)], capture_output=True, cwd=tmp, timeout=600)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problem_set", nargs="?", default="ps1")
    ap.add_argument("submissions", nargs="?", default=None)
    ap.add_argument("--no-otter", action="store_true")
    args = ap.parse_args()
    ps = load_config().problem_set(args.problem_set)
    write_outputs(parse_master(ps.master_path), ps)
    ag = Autograder.load(ps)
    folder = Path(args.submissions) if args.submissions else REPO / "examples" / ps.folder / "submissions"
    subs = []
    for sub in discover(folder):
        try:
            data, files = read_submission(sub.path, ps.notebook, ag.submission_files)
            read_notebook(data)
        except InvalidSubmission:
            continue  # nothing to execute: not comparable
        subs.append((sub.student, data, files))
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    otter_zip = None if args.no_otter else build_otter_autograder(ag, work)
    factory = KernelFactory(ag)
    t0 = time.perf_counter()
    factory.get().kill()  # a cold start, for the record: pre-booting hides it from the per-submission time
    cold = time.perf_counter() - t0
    factory.prestart()
    time.sleep(1.0)  # as in a batch, the first kernel has booted while the grader set up
    print(f"{ps.key}: {len(subs)} submissions from {folder}")
    print(f"cold start of one sandboxed kernel (bwrap + ipykernel + preload {ag.preload}): {cold:.2f} s "
          "(overlapped with grading of the previous submission in batches)")
    print(f"{'submission':28s} {'ours s':>8s} {'nbclient s':>10s} {'overhead s':>10s} {'otter run s':>11s} "
          f"{'kernel MB':>9s} {'score':>9s}")
    rows = []
    for name, data, files in subs:
        ours, rec = time_ours(data, files, ag, factory)
        hangs = any("did not return" in t["message"] for t in rec["tests"]) or \
            any("time limit" in i for i in rec["issues"])
        if hangs:  # plain nbclient and otter run would wait forever (otter has no timeout): not comparable
            print(f"{name[:28]:28s} {ours:8.2f} {'(hangs: only our grader finishes it)':>33s}")
            continue
        time.sleep(0.5)  # let the next pre-booted kernel finish booting, as it would while the batch reads files
        plain = time_nbclient(data, ps.notebook)
        otter = time_otter(otter_zip, data, ps.notebook) if otter_zip else float("nan")
        mem = rec.get("peak_memory_mb")
        rows.append((ours, plain, otter, mem))
        print(f"{name[:28]:28s} {ours:8.2f} {plain:10.2f} {ours - plain:10.2f} {otter:11.2f} "
              f"{(mem if mem is not None else float('nan')):9.1f} {rec['total']:4g}/{rec['possible']:g}")
    factory.close()
    shutil.rmtree(work, ignore_errors=True)
    if rows:
        med = lambda i: statistics.median(r[i] for r in rows)  # noqa: E731
        print(f"{'median':28s} {med(0):8.2f} {med(1):10.2f} {statistics.median(r[0] - r[1] for r in rows):10.2f} "
              f"{med(2):11.2f}")
        mems = [r[3] for r in rows if r[3] is not None]
        if mems:
            print(f"peak sandbox memory per submission: median {statistics.median(mems):.1f} MB, max {max(mems):.1f} MB")
        print(f"grader process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
