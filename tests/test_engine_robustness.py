"""The engine under real conditions (issue 11): time budgets that measure the student's kernel (CPU time, with a
wall-clock guard), damage confined to what broke it (kernel deaths retried, exhausted kernels restarted, the same
grade every time), size-capped writable space on both backends, uids reserved per batch, and a correct submission
keeping full marks on a saturated machine (marker `slow`)."""
from __future__ import annotations

import csv
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import engine
from autograder.engine import Autograder, KernelFactory, grade_bytes, grade_notebook
from autograder.kernel import SandboxedKernel
from autograder.limits import wall_guard

from conftest import REPO, require_backend, scores, with_cell

SPIN = "import time as _t\n_t0 = _t.process_time()\nwhile _t.process_time() - _t0 < {s}:\n    pass\n"


def _ag(tiny_ag, **limits) -> Autograder:
    return dataclasses.replace(tiny_ag, limits=dataclasses.replace(tiny_ag.limits, **limits))


@pytest.fixture
def graded_with(backend):
    """grade(nb, ag) with a kernel factory of its own (the limits differ from the session factory's)."""
    factories = []

    def run(nb, ag, data: bytes | None = None):
        f = KernelFactory(ag, slot=11, backend=backend)
        factories.append(f)
        if data is not None:
            return grade_bytes(data, ag, f)
        return grade_notebook(nb, ag, f)
    yield run
    for f in factories:
        f.close()


def _folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# -- budgets that measure the student ------------------------------------------------------------------------
def test_budgets_count_cpu_time_not_waiting(tiny_ag, reference_nb, graded_with):
    """A cell and a function that wait (sleep) longer than their budgets use no CPU: they are not stopped."""
    ag = _ag(tiny_ag, cell_timeout_s=2, test_timeout_s=2)
    nb = with_cell(reference_nb, "import time\ntime.sleep(3)\n", after_function="double")
    nb = with_cell(nb, "import time\ndef add(a, b):\n    time.sleep(3)\n    return np.asarray(a) + np.asarray(b)\n",
                   replace_function="add")
    rec = graded_with(nb, ag)
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}, (rec["issues"], [t["message"] for t in rec["tests"]])
    assert rec["issues"] == []


def test_cpu_bound_code_is_stopped_at_its_cpu_budget(tiny_ag, reference_nb, graded_with):
    ag = _ag(tiny_ag, cell_timeout_s=2, test_timeout_s=2)
    nb = with_cell(reference_nb, SPIN.format(s=30), after_function="double")
    nb = with_cell(nb, "def add(a, b):\n    while True:\n        pass\n", replace_function="add")
    rec = graded_with(nb, ag)
    assert scores(rec) == {"q1": 2.0, "q2": 0.0}
    assert any("s of CPU time (time limit)" in i for i in rec["issues"]), rec["issues"]
    q2 = [t["message"] for t in rec["tests"] if t["question"] == "q2"]
    assert q2 and all("did not return" in m and "CPU-time budget" in m for m in q2), q2


def test_a_kernel_that_sleeps_forever_ends_at_the_wall_guard(tiny_ag, backend):
    kernel = SandboxedKernel(tiny_ag.limits, slot=13, backend=backend).start()
    try:
        kernel.wait_ready(60)
        res = kernel.execute("import time\ntime.sleep(10**6)\n", timeout=2, cpu_budget=1)
        assert res.status == "timeout" and res.stopped_by == "wall"
        res = kernel.execute(SPIN.format(s=60), timeout=300, cpu_budget=1)
        assert res.status == "timeout" and res.stopped_by == "cpu"
        assert res.cpu_seconds >= 1
    finally:
        kernel.kill()


def test_wall_guard_formula():
    assert wall_guard(10) == 70 and wall_guard(60) == 270


def test_modules_tests_import_are_imported_when_the_autograder_loads(tiny_ag):
    """A test's `import` (e.g. torch, seconds) happens when the autograder loads, before any clock runs."""
    import json
    sys.modules.pop("wave", None)  # a small standard module nothing else here imports
    manifest = {"questions": [{"name": "q", "points": 1, "manual": False,
                               "tests": [{"source": "def test_x():\n    import wave\n"}]}]}
    ag = Autograder._build("t", json.dumps(manifest), "", tiny_ag.limits, [], {})
    assert "wave" in ag.trusted_modules and "wave" in sys.modules


# -- damage confined -----------------------------------------------------------------------------------------
MEMORY_BOMB = ("blocks = []\n"
               "while True:\n"
               "    blocks.append(b'1' * (50 * 2**20))\n")
PROCESS_HOARD = ("import os, time\n"
                 "for _ in range(1000):\n"
                 "    try:\n"
                 "        pid = os.fork()\n"
                 "    except OSError:\n"
                 "        break\n"
                 "    if pid == 0:\n"
                 "        while True: time.sleep(1)\n")


@pytest.mark.parametrize("last_cell", [MEMORY_BOMB, PROCESS_HOARD], ids=["memory", "processes"])
def test_exhausting_last_cell_costs_nothing_and_grades_the_same_every_time(tiny_ag, reference_nb, graded_with,
                                                                          last_cell):
    data = nbformat.writes(with_cell(reference_nb, last_cell)).encode()
    records = [graded_with(None, tiny_ag, data) for _ in range(3)]
    for rec in records:
        assert scores(rec) == {"q1": 2.0, "q2": 2.0}, (rec["issues"], [t["message"] for t in rec["tests"]])
        assert re.search(r"\(kernel restarted \dx\)$", rec["status"]), rec["status"]
        # Dropped either way: a MemoryError or a process hoard seen after the cell, or the cell killed by the OOM
        # killer (the Docker backend's memory cgroup) while it ran.
        assert any("was dropped and the kernel restarted" in i or "ended the Python process" in i
                   for i in rec["issues"]), rec["issues"]
    assert len({(r["total"], r["status"]) for r in records}) == 1


def test_a_kernel_death_that_is_not_the_functions_doing_is_retried(tiny_ag, reference_nb, graded_with, monkeypatch):
    """The kernel dies (killed from outside, as libzmq's abort would end it) during the first call of a test:
    the test runs again in a fresh kernel and keeps its points; the restart shows in the status."""
    real = engine.call_function_printing
    calls = []

    def dying_once(kernel, name, args, kwargs, timeout):
        calls.append(name)
        if len(calls) == 1:
            kernel.launcher.kill()
        return real(kernel, name, args, kwargs, timeout)
    monkeypatch.setattr(engine, "call_function_printing", dying_once)
    rec = graded_with(None, tiny_ag, nbformat.writes(reference_nb).encode())
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}, [t["message"] for t in rec["tests"]]
    assert rec["status"] == "graded with errors (kernel restarted 1x)"
    assert any("run again in a fresh kernel" in i for i in rec["issues"])


# -- quotas --------------------------------------------------------------------------------------------------
WRITE_1GB = ("import os\n"
             "for i in range(16):\n"
             "    with open(f'big{i}.bin', 'wb') as f:\n"
             "        for _ in range(64):\n"
             "            f.write(b'0' * 2**20)\n")


def test_writing_a_gigabyte_fills_only_the_capped_home(tiny_ag, backend):
    limits = dataclasses.replace(tiny_ag.limits, file_size_mb=64, home_mb=128, memory_mb=2048)
    kernel = SandboxedKernel(limits, slot=14, backend=backend, files={"data.txt": b"placed by the grader"}).start()
    try:
        kernel.wait_ready(60)
        before = _folder_bytes(kernel.base)
        res = kernel.execute("print(open('data.txt').read())\n" + WRITE_1GB, 120)
        assert res.status == "error" and "No space left" in res.error, (res.status, res.error)
        # Also nothing through the runtime folder, the one host folder the kernel sees writable at start.
        probe = kernel.execute("import sys\nrun = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
                               "open(os.path.join(run, 'fill.bin'), 'wb').write(b'0' * 2**20)\n", 30)
        if os.geteuid() == 0:
            assert probe.status == "error" and "Permission" in probe.error, (probe.status, probe.error)
        assert _folder_bytes(kernel.base) - before < 2 * 2**20
        assert kernel.alive()
    finally:
        kernel.kill()


def test_files_placed_beside_the_notebook_arrive_in_the_capped_home(tiny_ag, reference_nb, graded_with):
    ag = dataclasses.replace(tiny_ag, files={"given.txt": b"41"})
    probe = "def add(a, b):\n    return np.asarray(a) + np.asarray(b) + (int(open('given.txt').read()) - 41)\n"
    rec = graded_with(with_cell(reference_nb, probe, replace_function="add"), ag)
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}, [t["message"] for t in rec["tests"]]


# -- uids reserved per batch -----------------------------------------------------------------------------------
def test_concurrent_batches_have_their_own_uids(tmp_path, tiny_root, reference_nb, backend):
    hostile, honest = tmp_path / "hostile", tmp_path / "honest"
    hostile.mkdir()
    honest.mkdir()
    hoard = PROCESS_HOARD + "time.sleep(3)\n"
    for i in range(3):
        nbformat.write(with_cell(reference_nb, hoard, after_function="add"), str(hostile / f"bomb{i}.ipynb"))
        nbformat.write(reference_nb, str(honest / f"ok{i}.ipynb"))
    procs = {}
    for name, folder in (("hostile", hostile), ("honest", honest)):
        cmd = [sys.executable, "-m", "autograder.cli", "--config", str(tiny_root / "grader_config.yaml"), "grade",
               "tiny", str(folder), "--out", str(tmp_path / f"out-{name}"), "--jobs", "1", "--backend", backend]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    with open(tmp_path / "out-honest" / "grades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and all(r["total"] == "4" for r in rows), rows
    blocks = {}
    for name in procs:
        found = re.search(r"sandbox uids (\d+)-(\d+)", (tmp_path / f"out-{name}" / "run.log").read_text())
        assert found
        blocks[name] = set(range(int(found[1]), int(found[2]) + 1))
    assert not blocks["hostile"] & blocks["honest"]


# -- a saturated machine ---------------------------------------------------------------------------------------
@pytest.fixture
def saturated_machine():
    """2 x cores CPU-bound processes for the duration of the test, killed at the end."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        yield
    finally:
        for p in busy:
            p.kill()
        for p in busy:
            p.wait()


@pytest.mark.slow
def test_correct_work_keeps_full_marks_on_a_saturated_machine(tmp_path, saturated_machine, tiny_root, reference_nb):
    import shutil

    from autograder.config import load_config
    root = tmp_path / "repo"  # the sets are built here, never in the working tree
    root.mkdir()
    shutil.copy(REPO / "grader_config.yaml", root / "grader_config.yaml")
    shutil.copytree(REPO / "solutions", root / "solutions")  # symlinked support (mfdl_checks) copied as files
    config_path = root / "grader_config.yaml"
    config = load_config(config_path)
    cli = [sys.executable, "-m", "autograder.cli", "--config", str(config_path)]
    for key in config.problem_sets:
        ps = config.problem_set(key)
        subprocess.run(cli + ["assign", key], check=True, stdout=subprocess.DEVNULL, timeout=1800)
        folder = tmp_path / key
        folder.mkdir()
        examples = REPO / "examples" / ps.folder / "submissions"
        perfect = sorted(examples.glob("ada_perfect.*"))
        assert perfect, f"no ada_perfect submission in {examples}"
        (folder / perfect[0].name).write_bytes(perfect[0].read_bytes())
        out = tmp_path / f"out-{key}"
        subprocess.run(cli + ["grade", key, str(folder), "--out", str(out), "--jobs", "1"], check=True,
                       stdout=subprocess.DEVNULL, timeout=3600)
        with open(out / "grades.csv") as fh:
            rows = list(csv.DictReader(fh))
        import json
        rec = json.loads(next((out / "records").glob("*.json")).read_text())
        assert rows[0]["status"] == "graded", (key, rec["issues"], [t["message"] for t in rec["tests"] if not t["passed"]])
        assert rec["total"] == rec["possible"], (key, [t["message"] for t in rec["tests"] if not t["passed"]])
    # An infinite loop still ends within its (CPU-time) budget, and says so.
    folder = tmp_path / "loop"
    folder.mkdir()
    nbformat.write(with_cell(reference_nb, "def double(x):\n    while True:\n        pass\n", replace_function="double"),
                   str(folder / "loop.ipynb"))
    out = tmp_path / "out-loop"
    subprocess.run([sys.executable, "-m", "autograder.cli", "--config", str(tiny_root / "grader_config.yaml"), "grade",
                    "tiny", str(folder), "--out", str(out), "--jobs", "1"], check=True, stdout=subprocess.DEVNULL,
                   timeout=600)
    import json
    rec = json.loads((out / "records" / "loop.json").read_text())
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}
    q1 = [t["message"] for t in rec["tests"] if t["question"] == "q1"]
    assert q1 and all("did not return" in m and "CPU-time budget" in m for m in q1), q1
