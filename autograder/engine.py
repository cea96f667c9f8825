"""Grade one submission: run the student's notebook in a sandboxed kernel, then run every test from the
trusted process. Whatever the notebook does (crash, hang, exit, flood output), the result is a complete
record with a score for each question; a failure costs the points of what it broke, not the rest."""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .authoring import IGNORE_TAG
from .checks import checker_from_specs
from .kernel import KernelDied, SandboxedKernel, StudentCallError, call_function
from .sandbox import Limits
from .submitted_files import SubmittedFiles
from .testrun import load_reference, run_test

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_RESTARTS = 3

# Installed in the kernel before the student's cells run: the notebook's `from autograder.student import
# Notebook` then gets an inert grader whose check/export do nothing (the package itself is not visible in
# the sandbox, and self-checks have no say in grading).
GRADING_PRELUDE = r'''
import sys as _sys, types as _types
_pkg = _types.ModuleType("autograder"); _pkg.__path__ = []
_stu = _types.ModuleType("autograder.student")
class _InertNotebook:
    def __init__(self, *a, **k): pass
    def __getattr__(self, name): return lambda *a, **k: None
_stu.Notebook = _InertNotebook
_sys.modules["autograder"] = _pkg; _sys.modules["autograder.student"] = _stu
del _sys, _types, _pkg, _stu, _InertNotebook
'''


class InvalidSubmission(ValueError):
    pass


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

    @property
    def submission_files(self) -> list:
        """Files the student submits with the notebook (the master's `export_cell: files`)."""
        return list(self.manifest.get("submission_files", []))

    @classmethod
    def _build(cls, name, manifest_text, ref_text, limits: Limits, preload, files) -> "Autograder":
        manifest = json.loads(manifest_text)
        h = hashlib.sha256()
        for part in (manifest_text, ref_text, json.dumps(manifest["checks"], sort_keys=True), repr(limits)):
            h.update(part.encode())
        return cls(name=name, manifest=manifest, reference=load_reference(ref_text), limits=limits,
                   preload=list(preload), files=files, fingerprint=h.hexdigest()[:16])

    @classmethod
    def load(cls, ps) -> "Autograder":
        d = ps.autograder_dir
        if not (d / "tests.json").exists():
            raise FileNotFoundError(f"no autograder for {ps.key} in {d}: run `mfdl assign {ps.key}` first")
        files = {f: (ps.assignment_dir / f).read_bytes() for f in ps.files}
        return cls._build(ps.key, (d / "tests.json").read_text(), (d / "reference.py").read_text(), ps.limits,
                          ps.preload, files)

    @classmethod
    def from_bundle(cls, d: Path) -> "Autograder":
        """A self-contained autograder folder (as packed into the Gradescope zip): tests.json, reference.py,
        settings.json (name, limits, preload, files) and the files themselves under files/."""
        import dataclasses
        settings = json.loads((d / "settings.json").read_text())
        limits = dataclasses.replace(Limits(), **settings["limits"])
        files = {f: (d / "files" / f).read_bytes() for f in settings["files"]}
        return cls._build(settings["name"], (d / "tests.json").read_text(), (d / "reference.py").read_text(),
                          limits, settings["preload"], files)


class KernelFactory:
    """Hands out fresh kernels; keeps the next one booting in the background, so start-up (Python, ipykernel,
    numpy) overlaps with grading instead of adding to it. Each kernel serves one submission only."""

    def __init__(self, ag: Autograder, slot: int = 0, backend: str = "local", image: str | None = None):
        self.ag, self.slot, self._next, self._count = ag, slot, None, 0
        self.backend, self.image = backend, image

    def _start(self) -> SandboxedKernel:
        self._count += 1
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


def read_notebook(data: bytes):
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise InvalidSubmission(f"the notebook is {len(data) / 1e6:.1f} MB, over the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSubmission("the file is not a text notebook (not UTF-8)") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:
        raise InvalidSubmission(f"the file is not a valid Jupyter notebook (corrupt JSON?): {str(exc)[:300]}") from None
    try:
        with warnings.catch_warnings():  # old notebooks without cell ids are fine to grade
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise InvalidSubmission(f"the notebook does not follow the Jupyter format: {str(exc).splitlines()[0][:300]}") from None
    return nb


def code_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()
            and IGNORE_TAG not in c.get("metadata", {}).get("tags", [])]


@dataclass
class Session:
    """The kernel of one submission, restarted (with the good cells replayed) if the student's code kills it."""
    factory: KernelFactory
    limits: Limits
    deadline: float
    kernel: SandboxedKernel | None = None
    good_cells: list = field(default_factory=list)  # (cell number, source) that ran without killing the kernel
    msg_to_cell: dict = field(default_factory=dict)
    restarts: int = 0
    issues: list = field(default_factory=list)
    agent_ready: bool = False
    peak_memory_bytes: int = 0  # largest peak over this submission's kernels (restarts included)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def kill_kernel(self) -> None:
        if self.kernel is not None:
            self.kernel.kill()
            self.peak_memory_bytes = max(self.peak_memory_bytes, self.kernel.peak_memory_bytes or 0)

    def fresh_kernel(self) -> None:
        self.kill_kernel()
        self.kernel = self.factory.get()
        self.factory.prestart()
        self.agent_ready = False
        res = self.kernel.execute(GRADING_PRELUDE, 30)
        if res.status != "ok":
            raise KernelDied(f"grading prelude failed: {res.status} {res.error}")

    def restart_and_replay(self) -> bool:
        if self.restarts >= MAX_RESTARTS:
            return False
        self.restarts += 1
        self.fresh_kernel()
        for index, src in list(self.good_cells):
            if self.remaining() <= 0:
                return False
            res = self._execute_cell(index, src)
            if res.status not in ("ok", "error"):
                return False
        return True

    def _execute_cell(self, index: int, src: str):
        res = self.kernel.execute(src, min(self.limits.cell_timeout_s, self.remaining()))
        self.msg_to_cell[res.msg_id] = index
        return res

    def run_cells(self, cells: list[str]) -> None:
        """Execute the notebook's cells in order. A cell that hangs, floods output or ends the process is
        dropped (and the issue recorded); the kernel is then restarted with the good cells replayed."""
        queue_ = list(enumerate(cells, start=1)) + [(0, "pass")]  # final no-op: drains trailing output
        position = 0
        while position < len(queue_):
            index, src = queue_[position]
            if self.remaining() <= 0:
                self.issues.append(f"cells {index or len(cells)}-{len(cells)} not run: the notebook time limit was reached")
                return
            if self.kernel is None or not self.kernel.alive():
                if not self.restart_and_replay():
                    self.issues.append(f"cells from {index or len(cells)} on not run: too many kernel restarts")
                    return
            res = self._execute_cell(index, src)
            position += 1
            if res.status == "ok":
                if index:
                    self.good_cells.append((index, src))
            elif res.status == "error":
                self.good_cells.append((index, src))  # replayed as it ran: errors are the student's own business
                self.issues.append(f"cell {index} raised {res.error}")
            elif res.status == "timeout":
                self.issues.append(f"cell {index} was stopped after {self.limits.cell_timeout_s:g} s (time limit)")
            elif res.status == "died":
                self.issues.append(f"cell {index} ended the Python process (sys.exit/os._exit/crash or memory limit)")
            elif res.status == "output_limit":
                culprit = self.msg_to_cell.get(res.culprit, index)
                self.issues.append(f"cell {culprit} printed more than {self.limits.output_kb} KB; it was stopped")
                self.good_cells = [(i, s) for i, s in self.good_cells if i != culprit]
                if culprit != index:
                    position -= 1  # the current cell was innocent: run it again after the restart

    def call(self, name: str, args, kwargs, timeout: float):
        if self.kernel is None or not self.kernel.alive() or not self.agent_ready:
            if self.kernel is None or not self.kernel.alive():
                if not self.restart_and_replay():
                    raise StudentCallError("died", "your notebook's kernel could not be restarted")
            res = self.kernel.install_agent(min(30, max(self.remaining(), 1)))
            if res.status != "ok":
                raise StudentCallError("died", "the grading helper could not be installed in your kernel")
            self.agent_ready = True
        timeout = min(timeout, self.remaining())
        try:
            return call_function(self.kernel, name, args, kwargs, timeout)
        finally:
            if not self.kernel.alive():
                self.agent_ready = False


def grade_notebook(nb, ag: Autograder, factory: KernelFactory, files: dict | None = None) -> dict:
    """Grade a parsed notebook and the declared files submitted with it ({name: bytes}); returns the
    per-question and per-test record (plain JSON-able dict)."""
    limits = ag.limits
    started = time.monotonic()
    session = Session(factory=factory, limits=limits, deadline=started + limits.notebook_timeout_s)
    checker = checker_from_specs(ag.manifest["checks"])
    tests_out, questions = [], {}
    submitted = SubmittedFiles(files or {}, ag.submission_files)
    try:
        session.fresh_kernel()
        session.run_cells(code_cells(nb))
        for q in ag.manifest["questions"]:
            if q["manual"]:
                questions[q["name"]] = {"score": None, "max": q["points"], "manual": True}
                continue
            score = 0.0
            for t in q["tests"]:
                out = run_test(q["name"], t, checker=checker, reference=ag.reference, caller=session.call,
                               test_timeout=limits.test_timeout_s, notebook_deadline=session.deadline,
                               submitted_file=submitted)
                score += out.score
                tests_out.append(out.to_dict())
            questions[q["name"]] = {"score": score, "max": q["points"], "manual": False}
    finally:
        session.kill_kernel()
    total = sum(v["score"] for v in questions.values() if not v["manual"])
    possible = sum(v["max"] for v in questions.values() if not v["manual"])
    return {"questions": questions, "tests": tests_out, "total": total, "possible": possible,
            "issues": session.issues, "restarts": session.restarts, "seconds": time.monotonic() - started,
            "peak_memory_mb": round(session.peak_memory_bytes / 2**20, 1) if session.peak_memory_bytes else None,
            "submitted_files": sorted(n for n in (files or {}) if n in ag.submission_files)}


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
        nb = read_notebook(data)
    except InvalidSubmission as exc:
        return zero_record(ag, str(exc))
    rec = grade_notebook(nb, ag, factory, files)
    rec["status"] = "graded" if not rec["issues"] else "graded with errors"
    return rec

