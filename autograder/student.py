"""The student's side: `grader = Notebook("ps1_backprop.ipynb")`, then `grader.check("q3")`,
`grader.check_all()` and `grader.export()`, as in Otter-Grader.

Self-checks run the PUBLIC tests (stored in the notebook's metadata by `mfdl assign`) right here in the
student's kernel, with the student's real functions. They are a convenience only: grading re-runs every
test (public and hidden) in the trusted grader, so nothing done here can change a grade.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import zipfile
from pathlib import Path

import numpy as np

from .checks import TestFailure, checker_from_specs
from .submitted_files import MAX_FILE_BYTES, SubmittedFiles
from .testrun import compile_test, test_arguments


def _as_graded(func):
    """The student's function, its results passed through the grader's plain-data codec: a self-check sees
    what the grader sees (e.g. a returned torch tensor arrives as a numpy array)."""
    from . import plaindata

    def call(*args, **kwargs):
        return plaindata.decode(plaindata.encode(func(*args, **kwargs)))
    return call


class CheckResult:
    def __init__(self, question: str, results: list):
        self.question, self.results = question, results

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.results)

    def __repr__(self):
        if self.passed:
            return f"{self.question} results: All public tests passed!"
        lines = [f"{self.question} results:"]
        for desc, ok, msg in self.results:
            lines.append(f"    {'passed' if ok else 'FAILED'}: {desc}")
            if not ok:
                lines.append(f"        {msg}")
        return "\n".join(lines)

    def _repr_html_(self):
        if self.passed:
            return f"<p><strong><pre style='display: inline;'>{self.question}</pre></strong> passed! 🎉</p>"
        return f"<pre>{html.escape(repr(self))}</pre>"


class Notebook:
    def __init__(self, notebook_path: str):
        self.path = Path(notebook_path)
        self._manifest = None

    # -- helpers -------------------------------------------------------------------------------------
    def _load(self) -> dict:
        if self._manifest is None:
            try:
                meta = json.loads(self.path.read_text())["metadata"]["mfdl"]
            except (OSError, KeyError, ValueError) as exc:
                raise FileNotFoundError(
                    f"cannot read the public tests from {self.path} ({exc}); keep this notebook's file name") from None
            self._manifest = meta
        return self._manifest

    def _declared_files(self) -> list:
        return list(self._load().get("submission_files", []))

    def _submitted_files(self) -> SubmittedFiles:
        """The declared files as they are now next to this notebook (what export() would put in the zip)."""
        files = {}
        for name in self._declared_files():
            path = self.path.with_name(name)
            if path.is_file():
                with open(path, "rb") as fh:
                    files[name] = fh.read(MAX_FILE_BYTES + 1)
        return SubmittedFiles(files, self._declared_files(),
                              how_to_submit="run the cell that trains and saves it (it writes {name} next to this notebook)")

    @staticmethod
    def _namespace() -> dict:
        import __main__
        try:
            return get_ipython().user_ns  # noqa: F821 (inside IPython)
        except NameError:
            return vars(__main__)

    # -- API -----------------------------------------------------------------------------------------
    def check(self, question: str) -> CheckResult:
        manifest = self._load()
        q = next((q for q in manifest["questions"] if q["name"] == question), None)
        if q is None:
            raise ValueError(f"no question named {question!r}")
        checker = checker_from_specs(manifest["checks"])
        ns = self._namespace()
        submitted = self._submitted_files()
        results = []
        for t in q["tests"]:
            func = compile_test(t["source"], t["name"])
            try:
                args = test_arguments(t["params"], checker=checker,
                                      remote=lambda src: eval(src, {"np": np, "numpy": np}),
                                      student=lambda name: _as_graded(ns[name]), submitted_file=submitted)
            except KeyError as exc:
                results.append((t["description"], False, f"{exc.args[0]} is not defined: run its cell first"))
                continue
            try:
                func(*args)
                results.append((t["description"], True, ""))
            except TestFailure as exc:
                results.append((t["description"], False, str(exc)))
            except Exception as exc:  # the student's own code raised: report it, never crash the notebook
                results.append((t["description"], False, f"{type(exc).__name__}: {exc}"))
        return CheckResult(question, results)

    def check_all(self):
        manifest = self._load()
        out = [self.check(q["name"]) for q in manifest["questions"] if not q["manual"] and q["tests"]]
        return _AllResults(out)

    def export(self, pdf: bool = False, filtering: bool = True, run_tests: bool = False, files=None):
        """Write <notebook>_<timestamp>.zip holding the saved notebook and the files the assignment asks for
        (e.g. trained models; no pickled log, no PDF). `files` adds more, as in Otter."""
        if pdf:
            print("PDF export is not used in this course; exporting the notebook only.")
        declared = self._declared_files() if self.path.exists() else []
        stamp = _dt.datetime.now().strftime("%Y_%m_%dT%H_%M_%S")
        zpath = self.path.with_name(f"{self.path.stem}_{stamp}.zip")
        missing = []
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(self.path, self.path.name)
            for name in [*declared, *(files or [])]:
                path = self.path.with_name(name) if name in declared else Path(name)
                if path.is_file():
                    zf.write(path, path.name)
                else:
                    missing.append(name)
        for name in missing:
            print(f"WARNING: {name} does not exist yet, so it is not in the zip: the questions that grade it will "
                  "score 0. Run the cell that writes it, then export again.")
        print(f"Your submission has been exported. Upload {zpath.name} (make sure you saved the notebook first).")
        return str(zpath)


class _AllResults:
    def __init__(self, results):
        self.results = results

    def __repr__(self):
        return "\n\n".join(repr(r) for r in self.results)

    def _repr_html_(self):
        return "".join(r._repr_html_() for r in self.results)
