"""Grade one submission: run the student's notebook in a sandboxed kernel, then run every test from the
trusted process. Whatever the notebook does (crash, hang, exit, flood output), the result is a complete
record with a score for each question; a failure costs the points of what it broke, not the rest."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .authoring import IGNORE_TAG
from .mfdl_checks.checker import checker_from_specs
from .kernel import KernelDied, SandboxedKernel, StudentCallError, call_function_printing, describe_names, next_item
from .limits import Limits, wall_guard
from .mfdl_checks.submitted_files import SubmittedFiles
from .notebooks import InvalidSubmission, read_notebook, notes as reading_notes
from .testrun import imported_modules, load_reference, run_test

MAX_RESTARTS = 3
TEST_RETRIES = 1  # a test during which the kernel died runs once more in a fresh kernel (see grade_notebook)

# Installed in the kernel before the student's cells run: the notebook's `import otter; grader =
# otter.Notebook(...)` then gets an inert grader whose check/export do nothing, as in Otter's grading mode
# (self-checks have no say in grading, and otter need not be installed in the sandbox).
GRADING_PRELUDE = r'''
import sys as _sys, types as _types
class _InertNotebook:
    def __init__(self, *a, **k): pass
    def __getattr__(self, name): return lambda *a, **k: None
_otter = _types.ModuleType("otter"); _otter.__path__ = []; _otter.Notebook = _InertNotebook
_sys.modules["otter"] = _otter
del _sys, _types, _otter, _InertNotebook
'''


def seeded_cells(cells: list[str], seed: dict | None) -> list[str]:
    """Otter's grading-time seeding: with a seed and no seed variable, numpy's and random's generators are
    seeded at the top of every code cell (cell magics `%%` excepted); with a variable, it is assigned there."""
    value = (seed or {}).get("value")
    if value is None:
        return cells
    variable = (seed or {}).get("variable")
    if variable:
        prefix = f"{variable} = {int(value)}\n"
        return [c if c.startswith("%%") else prefix + c for c in cells]
    prefix = f"_mfdl_np.random.seed({int(value)})\n_mfdl_random.seed({int(value)})\n"
    return ["import numpy as _mfdl_np\nimport random as _mfdl_random"] + \
        [c if c.startswith("%%") else prefix + c for c in cells]


@dataclass
class Autograder:
    """What grading needs from `mfdl assign`'s build folder, loaded once per worker."""
    name: str
    manifest: dict
    reference: object
    limits: Limits
    preload: list
    files: dict
    fingerprint: str
    support: dict = field(default_factory=dict)  # importable name -> trusted module, for test code
    trusted_modules: set = field(default_factory=set)  # modules the master imports: a notebook name may be one

    @property
    def submission_files(self) -> list:
        """Files the student submits with the notebook (the master's `export_cell: files`), read by tests."""
        return list(self.manifest.get("submission_files", []))

    @property
    def files_from_student(self) -> list:
        """Every file taken from a submission: the declared ones and Otter's `student_files` (e.g. a helper
        module the student's notebook imports). All of them are placed beside the notebook in the sandbox."""
        return list(dict.fromkeys(self.submission_files + list(self.manifest.get("student_files", []))))

    @property
    def student_modules(self) -> frozenset:
        """Python modules the submission carries (`student_files` ending in .py): test code reaches them through
        the kernel; no other import ever does."""
        return frozenset(Path(f).stem for f in self.manifest.get("student_files", []) if f.endswith(".py"))

    @classmethod
    def _build(cls, name, manifest_text, ref_text, limits: Limits, preload, files, build_dir: Path | None = None
               ) -> "Autograder":
        manifest = json.loads(manifest_text)
        h = hashlib.sha256()
        for part in (manifest_text, ref_text, json.dumps(manifest.get("checks", {}), sort_keys=True), repr(limits)):
            h.update(part.encode())
        reference = load_reference(ref_text, build_dir / "files" if build_dir is not None else None)
        test_sources = [t["source"] for q in manifest["questions"] for t in q["tests"]]
        trusted = imported_modules(ref_text, *test_sources)
        support = support_modules(manifest, reference, build_dir)
        preimport(m for m in trusted if m not in support and m != "otter")
        return cls(name=name, manifest=manifest, reference=reference, limits=limits, preload=list(preload),
                   files=files, fingerprint=h.hexdigest()[:16], support=support, trusted_modules=trusted)

    @classmethod
    def load(cls, ps) -> "Autograder":
        d = ps.autograder_dir
        if not (d / "tests.json").exists() or not (d / "settings.json").exists():
            raise FileNotFoundError(f"no autograder for {ps.key} in {d}: run `mfdl assign {ps.key}` first")
        return cls.from_bundle(d)

    @classmethod
    def from_bundle(cls, d: Path) -> "Autograder":
        """A self-contained autograder build (`mfdl assign`'s build folder, also packed into the Gradescope zip):
        tests.json, reference.py, settings.json (name, limits, preload), files/ (Otter's `files`, placed beside
        the notebook in the sandbox) and support/ (`autograder_files`, trusted side only)."""
        import dataclasses
        settings = json.loads((d / "settings.json").read_text())
        limits = dataclasses.replace(Limits(), **settings["limits"])
        files_dir = d / "files"
        files = {p.relative_to(files_dir).as_posix(): p.read_bytes()
                 for p in sorted(files_dir.rglob("*")) if p.is_file()} if files_dir.is_dir() else {}
        return cls._build(settings["name"], (d / "tests.json").read_text(), (d / "reference.py").read_text(),
                          limits, settings.get("preload", []), files, d)


def preimport(modules) -> None:
    """Import, once when the autograder is loaded, every module the tests and the reference import (e.g. torch,
    several seconds): a test's `import torch` then costs nothing while its student's budget runs (the budgets
    count the kernel's CPU time anyway; this keeps the tests' wall-clock guard for the student, too)."""
    import importlib
    for name in sorted(modules):
        try:
            importlib.import_module(name)
        except Exception:  # not installed here, or fails to import: the test will report it when it runs
            pass


def support_modules(manifest: dict, reference, build_dir: Path | None) -> dict:
    """The modules test code imports, all trusted: `mfdl_reference` (the master's solution), `mfdl_checks` (the
    package's own copy of the check library shipped to students) and the set's own modules from the build's
    support folder, each loaded under a private name so that two sets never share one."""
    import importlib
    import importlib.util
    import sys
    support = {"mfdl_reference": reference}
    try:
        support["mfdl_checks"] = importlib.import_module("autograder.mfdl_checks")
    except ImportError:
        pass
    names = [n for n in manifest.get("support_modules", []) if n not in support]
    if not names or build_dir is None:
        return support
    tag = hashlib.sha256(str(build_dir.resolve()).encode()).hexdigest()[:10]
    for name in names:
        for base in (build_dir / "support", build_dir / "files", build_dir):
            package, module = base / name / "__init__.py", base / f"{name}.py"
            path = package if package.is_file() else module if module.is_file() else None
            if path is None:
                continue
            private = f"_mfdl_support_{tag}_{name}"
            if private not in sys.modules:
                spec = importlib.util.spec_from_file_location(
                    private, path, submodule_search_locations=[str(path.parent)] if path == package else None)
                mod = importlib.util.module_from_spec(spec)
                sys.modules[private] = mod
                spec.loader.exec_module(mod)
            support[name] = sys.modules[private]
            break
    return support


class KernelFactory:
    """Hands out fresh kernels; keeps the next one booting in the background, so start-up (Python, ipykernel,
    numpy) overlaps with grading instead of adding to it. Each kernel serves one submission only."""

    def __init__(self, ag: Autograder, slot: int = 0, backend: str = "local", image: str | None = None):
        self.ag, self.slot, self._next, self._count = ag, slot, None, 0
        self.backend, self.image = backend, image

    def _start(self) -> SandboxedKernel:
        self._count += 1
        # Four uids per worker slot, used in turn (a kernel being killed never shares a uid with the next two),
        # all from this process's reserved block (uidpool): 16 workers per block keep distinct uids.
        uid_slot = self.slot * 4 + self._count % 4
        return SandboxedKernel(self.ag.limits, slot=uid_slot, preload=self.ag.preload, files=self.ag.files,
                               backend=self.backend, image=self.image).start()

    def prestart(self) -> None:
        if self._next is None:
            self._next = self._start()

    def get(self) -> SandboxedKernel:
        kernel, self._next = (self._next or self._start()), None
        try:
            kernel.wait_ready(timeout=60)
        except KernelDied:
            kernel.kill()
            kernel = self._start()
            kernel.wait_ready(timeout=60)
        return kernel

    def close(self) -> None:
        if self._next is not None:
            self._next.kill()
            self._next = None


def code_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()
            and IGNORE_TAG not in c.get("metadata", {}).get("tags", [])]


@dataclass
class Session:
    """The kernel of one submission, restarted (with the good cells replayed) if the student's code kills it.

    Budgets (see `limits`): each cell gets `cell_timeout_s`, each test `test_timeout_s` and the whole submission
    `notebook_timeout_s` of the sandbox's CPU time; each also has a wall-clock guard `wall_guard(budget)`."""
    factory: KernelFactory
    limits: Limits
    deadline: float  # wall-clock guard of the whole submission (time.monotonic)
    kernel: SandboxedKernel | None = None
    good_cells: list = field(default_factory=list)  # (cell number, source) that ran without killing the kernel
    msg_to_cell: dict = field(default_factory=dict)
    restarts: int = 0
    issues: list = field(default_factory=list)
    agent_ready: bool = False
    files: dict = field(default_factory=dict)  # {name: bytes} the submission brought (placed in the sandbox)
    peak_memory_bytes: int = 0  # largest peak over this submission's kernels (restarts included)
    cpu_used: float = 0.0  # CPU seconds of this submission's kernels so far (cells, replays and calls)
    test_cpu_left: float | None = None  # CPU seconds left to the running test (None: no test running)
    deaths: int = 0  # kernel deaths during calls made by tests
    max_restarts: int = MAX_RESTARTS

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def notebook_cpu_left(self) -> float:
        return self.limits.notebook_timeout_s - self.cpu_used

    def out_of_time(self) -> bool:
        return self.remaining() <= 0 or self.notebook_cpu_left() <= 0

    def kill_kernel(self) -> None:
        if self.kernel is not None:
            self.kernel.kill()
            self.peak_memory_bytes = max(self.peak_memory_bytes, self.kernel.peak_memory_bytes or 0)

    def fresh_kernel(self) -> None:
        self.kill_kernel()
        self.kernel = self.factory.get()
        self.factory.prestart()
        placed = self.kernel.add_files(self.files)  # the submission's own files, beside the notebook as in Otter
        if placed is not None and placed.status != "ok":
            self.issues.append(f"the files submitted with the notebook could not all be placed: {placed.error or placed.status}")
        self.agent_ready = False
        res = self.kernel.execute(GRADING_PRELUDE, 30)
        if res.status != "ok":
            raise KernelDied(f"grading prelude failed: {res.status} {res.error}")

    def restart_and_replay(self) -> bool:
        if self.restarts >= self.max_restarts:
            return False
        self.restarts += 1
        self.fresh_kernel()
        for index, src in list(self.good_cells):
            if self.out_of_time():
                return False
            res = self._execute_cell(index, src)
            if res.status not in ("ok", "error"):
                return False
        return True

    def _execute_cell(self, index: int, src: str):
        cpu = max(0.0, min(self.limits.cell_timeout_s, self.notebook_cpu_left()))
        res = self.kernel.execute(src, max(0.0, min(wall_guard(self.limits.cell_timeout_s), self.remaining())),
                                  cpu_budget=cpu)
        self.cpu_used += res.cpu_seconds
        self.msg_to_cell[res.msg_id] = index
        return res

    def _exhausted(self, res) -> str:
        """Why a cell that returned has left the kernel unable to serve the tests ("" if it has not): it ran out
        of memory (a MemoryError under the address-space limit leaves what it allocated in the namespace), or
        it left so many processes/threads that the kernel could not start its own again (ipykernel needs
        `baseline_tasks` of them: a libzmq thread that cannot start aborts the kernel later, in some test)."""
        if res.status == "error" and res.error.startswith("MemoryError"):
            return "ran out of memory (MemoryError)"
        if self.kernel is None or not self.kernel.alive():
            return ""
        tasks = self.kernel.usage()[1]
        if tasks + self.kernel.baseline_tasks > self.limits.processes:
            return (f"left {tasks} processes and threads running (the limit is {self.limits.processes} and "
                    f"the kernel needs {self.kernel.baseline_tasks} of its own)")
        return ""

    def run_cells(self, cells: list[str]) -> None:
        """Execute the notebook's cells in order. A cell that hangs, floods output, ends the process or exhausts
        memory or processes is dropped (and the issue recorded); the kernel is then restarted with the good
        cells replayed, so the tests meet a healthy kernel whatever the last cell did."""
        queue_ = list(enumerate(cells, start=1)) + [(0, "pass")]  # final no-op: drains trailing output
        position = 0
        while position < len(queue_):
            index, src = queue_[position]
            if self.out_of_time():
                self.issues.append(f"cells {index or len(cells)}-{len(cells)} not run: the notebook time limit was reached")
                return
            if self.kernel is None or not self.kernel.alive():
                if not self.restart_and_replay():
                    self.issues.append(f"cells from {index or len(cells)} on not run: too many kernel restarts")
                    return
            res = self._execute_cell(index, src)
            position += 1
            exhausted = self._exhausted(res) if index and res.status in ("ok", "error", "timeout") else ""
            if exhausted:
                stopped = " (stopped at its time limit)" if res.status == "timeout" else ""
                self.issues.append(f"cell {index}{stopped} {exhausted}: it was dropped and the kernel restarted")
                self.kill_kernel()
            elif res.status == "ok":
                if index:
                    self.good_cells.append((index, src))
            elif res.status == "error":
                self.good_cells.append((index, src))  # replayed as it ran: errors are the student's own business
                self.issues.append(f"cell {index} raised {res.error}")
            elif res.status == "timeout":
                if res.stopped_by == "cpu" and self.notebook_cpu_left() <= 0:
                    self.issues.append(f"cell {index} was stopped: the notebook time limit "
                                       f"({self.limits.notebook_timeout_s:g} s of CPU time) was reached")
                elif res.stopped_by == "cpu":
                    self.issues.append(f"cell {index} was stopped after {self.limits.cell_timeout_s:g} s of CPU time "
                                       "(time limit)")
                else:
                    self.issues.append(f"cell {index} was stopped after {wall_guard(self.limits.cell_timeout_s):g} s "
                                       "of wall-clock time without finishing (the time limit's outer guard)")
            elif res.status == "died":
                self.issues.append(f"cell {index} ended the Python process (sys.exit/os._exit/crash or memory limit)")
            elif res.status == "output_limit":
                culprit = self.msg_to_cell.get(res.culprit, index)
                self.issues.append(f"cell {culprit} printed more than {self.limits.output_kb} KB; it was stopped")
                self.good_cells = [(i, s) for i, s in self.good_cells if i != culprit]
                if culprit != index:
                    position -= 1  # the current cell was innocent: run it again after the restart

    def _ready_agent(self) -> None:
        if self.kernel is None or not self.kernel.alive() or not self.agent_ready:
            if self.kernel is None or not self.kernel.alive():
                if not self.restart_and_replay():
                    raise StudentCallError("died", "your notebook's kernel could not be restarted")
            res = self.kernel.install_agent(min(30, max(self.remaining(), 1)))
            if res.status != "ok":
                raise StudentCallError("died", "the grading helper could not be installed in your kernel")
            self.agent_ready = True

    def begin_test(self) -> None:
        self.test_cpu_left = float(self.limits.test_timeout_s)

    def _through_agent(self, request, timeout: float):
        """Run a request of a test in the kernel, within what is left of the test's and the notebook's CPU time
        (and of the wall-clock guards)."""
        self._ready_agent()
        cpu = self.notebook_cpu_left() if self.test_cpu_left is None else min(self.test_cpu_left, self.notebook_cpu_left())
        if cpu <= 0:
            raise StudentCallError("timeout", "the time limit (CPU time) for this test was reached before this call")
        kernel, meter = self.kernel, [0.0]
        try:
            with kernel.budget(cpu) as meter:
                return request(kernel, min(timeout, self.remaining()))
        finally:
            self.cpu_used += meter[0]
            if self.test_cpu_left is not None:
                self.test_cpu_left -= meter[0]
            if not kernel.alive():
                self.agent_ready = False
                self.deaths += 1

    def call_printing(self, name: str, args, kwargs, timeout: float):
        """Call a student function; (plain-data result, what it printed)."""
        return self._through_agent(lambda k, t: call_function_printing(k, name, args, kwargs, t), timeout)

    def call(self, name: str, args, kwargs, timeout: float):
        return self.call_printing(name, args, kwargs, timeout)[0]

    def next_item(self, handle: int, timeout: float):
        """The next item of an iterator kept in the kernel (kernel.IteratorExhausted at its end)."""
        return self._through_agent(lambda k, t: next_item(k, handle, t), timeout)

    def describe(self, names: list, timeout: float) -> dict:
        """What each notebook name is (function, module, plain-data value, unsendable, missing)."""
        return self._through_agent(lambda k, t: describe_names(k, names, t), timeout)


def question_score(question: dict, outcomes: list) -> float:
    """Otter's rule: the points of the tests that passed, or, for an all-or-nothing question, everything or 0."""
    if question.get("all_or_nothing"):
        return float(question["points"]) if all(o.passed for o in outcomes) else 0.0
    return sum(o.score for o in outcomes)


def grade_notebook(nb, ag: Autograder, factory: KernelFactory, files: dict | None = None) -> dict:
    """Grade a parsed notebook and the declared files submitted with it ({name: bytes}); returns the
    per-question and per-test record (plain JSON-able dict)."""
    limits = ag.limits
    started = time.monotonic()
    session = Session(factory=factory, limits=limits, deadline=started + wall_guard(limits.notebook_timeout_s),
                      files={k: v for k, v in (files or {}).items() if k in ag.files_from_student})
    tests_out, questions = [], {}
    submitted = SubmittedFiles(files or {}, ag.submission_files)

    def one_test(qname: str, test: dict):
        session.begin_test()
        try:
            return run_test(qname, test, side=session, support=ag.support, trusted_modules=ag.trusted_modules,
                            student_modules=ag.student_modules, test_timeout=wall_guard(limits.test_timeout_s),
                            notebook_deadline=session.deadline)
        finally:
            session.test_cpu_left = None

    def graded(qname: str, test: dict):
        """A test, run once more in a fresh kernel (the good cells replayed) if the kernel died during it: a
        death that was not the tested function's own doing (e.g. a thread the kernel could not start) then
        costs nothing, while a function that kills the kernel does so again and fails."""
        deaths = session.deaths
        outcome = one_test(qname, test)
        if not outcome.passed and session.deaths > deaths and TEST_RETRIES:
            session.issues.append(f"the kernel died during test {test['name']}: it was run again in a fresh kernel")
            outcome = one_test(qname, test)
        return outcome

    try:
        session.fresh_kernel()
        session.run_cells(seeded_cells(code_cells(nb), ag.manifest.get("seed")))
        # From here on, restarts are bounded by the tests (each may restart the kernel once, and once more for
        # its retry) and by the notebook's time budget.
        n_tests = sum(len(q["tests"]) for q in ag.manifest["questions"])
        session.max_restarts = session.restarts + 2 * n_tests
        with checks_configured(ag, submitted):
            for q in ag.manifest["questions"]:
                if q["manual"]:
                    questions[q["name"]] = {"score": None, "max": q["points"], "manual": True}
                    continue
                outcomes = [graded(q["name"], t) for t in q["tests"]]
                tests_out.extend(o.to_dict() for o in outcomes)
                questions[q["name"]] = {"score": question_score(q, outcomes), "max": q["points"], "manual": False}
    finally:
        session.kill_kernel()
    total = sum(v["score"] for v in questions.values() if not v["manual"])
    possible = sum(v["max"] for v in questions.values() if not v["manual"])
    return {"questions": questions, "tests": tests_out, "total": total, "possible": possible,
            "issues": session.issues, "restarts": session.restarts, "seconds": time.monotonic() - started,
            "peak_memory_mb": round(session.peak_memory_bytes / 2**20, 1) if session.peak_memory_bytes else None,
            "submitted_files": sorted(n for n in (files or {}) if n in ag.submission_files)}


def checks_configured(ag: Autograder, submitted):
    """While tests run, `from mfdl_checks import check, remote, submitted_file` gives the set's configured
    check object, calls built in the kernel (RemoteCode) and this submission's files."""
    import contextlib
    lib = ag.support.get("mfdl_checks")
    if lib is None or not hasattr(lib, "configured"):
        return contextlib.nullcontext()
    from .plaindata import RemoteCode
    return lib.configured(check=checker_from_specs(ag.manifest.get("checks", {})), remote=RemoteCode,
                          submitted_file=submitted)


def zero_record(ag: Autograder, reason: str, status: str | None = None) -> dict:
    """The record of a submission that could not be graded at all: every question 0, the reason kept.
    `status` defaults to "invalid: <reason>" (the student's file is at fault)."""
    questions = {q["name"]: {"score": None if q["manual"] else 0.0, "max": q["points"], "manual": q["manual"]}
                 for q in ag.manifest["questions"]}
    possible = sum(v["max"] for v in questions.values() if not v["manual"])
    return {"questions": questions, "tests": [], "total": 0.0, "possible": possible, "issues": [reason],
            "restarts": 0, "seconds": 0.0, "status": status or f"invalid: {reason}"}


def grade_bytes(data: bytes, ag: Autograder, factory: KernelFactory, files: dict | None = None) -> dict:
    try:
        nb = read_notebook(data, expected=ag)
    except InvalidSubmission as exc:
        return zero_record(ag, str(exc), status=getattr(exc, "status", None))
    rec = grade_notebook(nb, ag, factory, files)
    rec["status"] = ("graded" if not rec["issues"] else "graded with errors") + \
        (f" (kernel restarted {rec['restarts']}x)" if rec.get("restarts") else "")
    if reading_notes(nb):  # e.g. bytes replaced, with cell and line: in the status and the feedback
        rec["status"] += "".join(f"; note: {n}" for n in reading_notes(nb))
        rec["issues"] = reading_notes(nb) + rec["issues"]
    return rec

