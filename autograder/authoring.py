"""`mfdl assign`: an Otter Assign (v1) master notebook -> the student folder and the autograder build.

The master is read by `otter_format` exactly as otter-grader 7 reads it (blocks, solution syntax, both test forms,
points rules, ASSIGNMENT CONFIG). This module turns the parsed master into what our grader needs:

  DIR/student/     the student notebook (equal, cell by cell, to the one `otter assign` writes), `files` and
                   `student_files`, and `tests/` when the master asks for test files
  DIR/autograder/  tests.json (the manifest below), reference.py (the solution's code cells), reference.ipynb
                   (Otter's autograder notebook: solutions and all tests), settings.json, otter_config.json,
                   requirements, and the support files of `files`/`autograder_files` under files/

Manifest (tests.json), the contract the grader reads:
  {"assignment", "questions": [{"name", "points", "manual", "all_or_nothing", "tests": [{"name", "kind",
   "source", "function", "params", "points", "hidden", "success_message", "failure_message", "description"}]}],
   "checks", "submission_files", "student_files" (exported with the notebook, as Otter does), "seed": {"value",
   "variable"}, "support_modules", "untested_questions",
   "requirements", "otter_config"}
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .otter_format import (IGNORE_TAG, AuthoringError, OtterMaster, autograder_notebook, read_master,
                           reference_cells, student_notebook, write_test_files)

__all__ = ["AuthoringError", "IGNORE_TAG", "Assignment", "parse_master", "manifest", "assign_path",
           "write_outputs", "reference_source", "reference_module_text", "REFERENCE_MODULE"]

REFERENCE_MODULE = "mfdl_reference.py"  # generated into the master's folder when the master ships it


@dataclass
class TestCase:
    name: str
    kind: str
    source: str
    function: str | None
    params: list
    points: float
    hidden: bool
    success_message: str | None
    failure_message: str | None
    description: str


@dataclass
class Question:
    name: str
    points: float
    manual: bool = False
    all_or_nothing: bool = False
    tests: list = field(default_factory=list)


@dataclass
class Assignment:
    name: str
    master: OtterMaster
    questions: list                                       # graded questions (manual or with tests)
    untested: list = field(default_factory=list)          # autograded questions without tests (Otter grades none)

    @property
    def config(self) -> dict:
        return self.master.config

    @property
    def submission_files(self) -> list:
        ex = self.master.config["export_cell"]
        return list(ex["files"]) if ex else []

    @property
    def notices(self) -> list:
        return self.master.notices

    @property
    def reference_cells(self) -> list:
        return reference_cells(self.master)

    def question(self, name: str) -> Question:
        for q in self.questions:
            if q.name == name:
                return q
        raise KeyError(name)

    @property
    def auto_points(self) -> float:
        return sum(q.points for q in self.questions if not q.manual)


def parse_master(path: Path | str) -> Assignment:
    m = read_master(Path(path))
    questions, untested = [], []
    for oq in m.questions:
        if not oq.manual and not oq.tests:
            untested.append(oq.name)  # Otter writes no test file for it, so `otter run` never scores it
            continue
        tests = []
        for t, pts in zip(oq.tests, oq._per):
            name = t.function if t.kind == "function" else t.description
            tests.append(TestCase(name=name, kind=t.kind, source=t.source, function=t.function,
                                  params=list(t.params), points=pts, hidden=t.hidden,
                                  success_message=_text(t.success_message), failure_message=_text(t.failure_message),
                                  description=t.description))
        questions.append(Question(name=oq.name, points=oq._value, manual=oq.manual,
                                  all_or_nothing=oq.all_or_nothing, tests=tests))
    return Assignment(name=m.name or m.path.stem, master=m, questions=questions, untested=untested)


def _text(value) -> str | None:
    return None if value is None else str(value)


def seed_info(m: OtterMaster) -> dict:
    """Otter's grading-time seeding: `seed.variable` (+ autograder_value) wins over `generate.seed`."""
    if m.config["seed"]["variable"]:
        return {"value": m.config["seed"]["autograder_value"], "variable": m.config["seed"]["variable"]}
    gen = m.config["generate"] or {}
    return {"value": gen.get("seed"), "variable": gen.get("seed_variable")}


def _support_entries(m: OtterMaster) -> list[tuple[str, Path]]:
    """(config key, path) of every support file/folder, checked to lie inside the master's folder."""
    root = m.path.parent.resolve()
    out = []
    for key in ("files", "autograder_files", "student_files"):
        for entry in m.config[key]:
            p = Path(os.path.normpath(root / entry))
            if root != p and root not in p.parents:
                raise AuthoringError(f"ASSIGNMENT CONFIG `{key}`: {entry!r} is outside the master's folder; move it "
                                     "next to the notebook")
            if not p.exists() and not (p.name == REFERENCE_MODULE and key != "student_files"):
                raise AuthoringError(f"ASSIGNMENT CONFIG `{key}`: {entry!r} does not exist next to the master")
            if key == "student_files" and p.is_dir():
                raise AuthoringError(f"ASSIGNMENT CONFIG `student_files`: {entry!r} is a folder; list files")
            out.append((key, p))
    return out


def support_modules(m: OtterMaster) -> list[str]:
    """Top-level Python modules/packages the build ships (`files`, `autograder_files`)."""
    root = m.path.parent.resolve()
    names = []
    for key, p in _support_entries(m):
        if key == "student_files":
            continue
        if p.suffix == ".py" and p.parent == root:
            names.append(p.stem)
        elif p.is_dir() and ((p / "__init__.py").exists() or any(p.glob("*.py"))):
            names.append(p.name)
    return sorted(set(names))


def manifest(a: Assignment, check_specs: dict | None = None, include_hidden: bool = True) -> dict:
    qs = []
    for q in a.questions:
        tests = [dataclasses.asdict(t) for t in q.tests if include_hidden or not t.hidden]
        qs.append({"name": q.name, "points": q.points, "manual": q.manual, "all_or_nothing": q.all_or_nothing,
                   "tests": tests})
    req = a.config["requirements"]
    return {"assignment": a.name, "questions": qs, "checks": dict(check_specs or {}),
            "submission_files": a.submission_files, "student_files": list(a.config["student_files"]),
            "seed": seed_info(a.master),
            "support_modules": support_modules(a.master), "untested_questions": list(a.untested),
            "requirements": req if isinstance(req, list) else ([] if req is None else [str(req)]),
            "otter_config": {**(a.config["generate"] or {}), **({"assignment_name": a.config["name"]}
                                                                 if a.config["name"] else {})}}


def reference_source(a: Assignment) -> str:
    """Python source of the reference solution: the master's code cells with solutions kept, without
    `otter_ignore` cells, tests, Otter's client cells and IPython magics/shell lines."""
    parts = []
    for cell in a.reference_cells:
        if IGNORE_TAG in cell.metadata.get("tags", []) or cell.source.lstrip().startswith(("%", "!")):
            continue
        parts.append("\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!"))))
    return "\n\n".join(p for p in parts if p.strip()) + "\n"


def reference_module_text(a: Assignment) -> str:
    """The text of the master's mfdl_reference.py (Otter ships it to the autograder; hidden tests import it): the
    reference source under a header saying where it comes from."""
    master = a.master.path
    header = (f'"""Reference solution of {master.name}, generated from it (do not edit; regenerate with\n'
              f'`python -m autograder.reference_source solutions/{master.parent.name}/{master.name}`). Hidden tests\n'
              'import it as `import mfdl_reference as ref`; Otter ships it in the autograder only."""\n')
    return header + reference_source(a)


def _maybe_write_reference_module(a: Assignment) -> Path | None:
    listed = [e for k in ("files", "autograder_files") for e in a.config[k]]
    if REFERENCE_MODULE not in [os.path.normpath(e) for e in listed]:
        return None
    path = a.master.path.parent / REFERENCE_MODULE
    text = reference_module_text(a)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _copy_entry(src: Path, root: Path, dest_dir: Path) -> list[str]:
    """Copy a support file/folder as Otter does (folders by name, files at their relative place); returns the
    relative paths of the files written. Symlinked folders are copied as their content."""
    if src.is_dir():
        target = dest_dir / src.name
        shutil.copytree(src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return sorted(p.relative_to(dest_dir).as_posix() for p in target.rglob("*") if p.is_file())
    rel = src.parent.relative_to(root) if src.parent != root else Path(".")
    (dest_dir / rel).mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest_dir / rel / src.name)
    return [(rel / src.name).as_posix()]


def write_student(a: Assignment, student_dir: Path, notebook_name: str | None = None,
                  keep_links: bool = False) -> Path:
    """The student's folder: Otter's student notebook and the support files. With `keep_links` (the released
    folders committed in the repository) each support file or folder is a link to its real place (the set's
    folder; `mfdl_checks` -> the package's copy), so nothing is copied into the tree twice; the handout zip
    (`write_handout`) holds real files."""
    student_dir.mkdir(parents=True, exist_ok=True)
    nb = student_notebook(a.master)
    nbformat.validate(nb)
    path = student_dir / (notebook_name or a.master.path.name)
    nbformat.write(nb, str(path))
    if a.config["tests"]["files"]:
        write_test_files(a.master, student_dir / "tests", include_hidden=False)
    root = a.master.path.parent.resolve()
    for key, p in _support_entries(a.master):
        if key not in ("files", "student_files"):
            continue
        if keep_links:
            _link_entry(p, root, student_dir)
        else:
            _copy_entry(p, root, student_dir)
    return path


def _link_entry(src: Path, root: Path, dest_dir: Path) -> None:
    """A relative link in `dest_dir` (at the entry's place) to the support file or folder's real location."""
    rel = src.parent.relative_to(root) if src.parent != root else Path(".")
    link = dest_dir / rel / src.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(os.path.relpath(src.resolve(), link.parent.resolve()), target_is_directory=src.is_dir())


def write_handout(student_dir: Path, zip_path: Path) -> Path:
    """What students download: the student folder as a zip of real files (links followed)."""
    import zipfile
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, f in folder_files(student_dir):
            zf.write(f, f"{student_dir.name}/{rel}")
    return zip_path


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative path, path) of every file under `folder`, following links, caches left out."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            out.append((path.relative_to(folder).as_posix(), path))
    return out


def write_build(a: Assignment, build_dir: Path, check_specs: dict | None = None, settings: dict | None = None) -> Path:
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "tests.json").write_text(json.dumps(manifest(a, check_specs), indent=1))
    (build_dir / "reference.py").write_text(reference_source(a))
    nbformat.write(autograder_notebook(a.master), str(build_dir / "reference.ipynb"))
    write_test_files(a.master, build_dir / "tests", include_hidden=True)  # Otter's test files, all cases
    otter_config = manifest(a)["otter_config"]
    if otter_config:
        (build_dir / "otter_config.json").write_text(json.dumps(otter_config, indent=2))
    req = a.config["requirements"]
    if isinstance(req, list):
        (build_dir / "requirements.txt").write_text("\n".join(req))
    elif req:
        shutil.copy(a.master.path.parent / req, build_dir / "requirements.txt")
    if a.config["environment"]:
        shutil.copy(a.master.path.parent / a.config["environment"], build_dir / "environment.yml")
    root = a.master.path.parent.resolve()
    # files/: what Otter puts beside the notebook (`files`), also given to the student's sandbox;
    # support/: `autograder_files` (e.g. the reference), for the trusted grader only, never in the sandbox.
    shipped = []
    for sub in ("files", "support"):
        shutil.rmtree(build_dir / sub, ignore_errors=True)
    for key, p in _support_entries(a.master):
        if key in ("files", "autograder_files"):
            sub = "files" if key == "files" else "support"
            shipped += [f"{sub}/{rel}" for rel in _copy_entry(p, root, build_dir / sub)]
    base = {"name": a.name, "notebook": a.master.path.name, "preload": [], "files": [],
            "support_files": sorted(set(shipped))}
    if settings is None:
        from .config import Limits
        settings = {"limits": dataclasses.asdict(Limits())}
    (build_dir / "settings.json").write_text(json.dumps({**base, **settings}, indent=1))
    return build_dir


def assign_path(master: Path | str, out: Path | str) -> dict:
    """Any Otter master -> OUT/student/<notebook> and OUT/autograder/ (default limits, no checks)."""
    a = parse_master(master)
    _maybe_write_reference_module(a)
    out = Path(out)
    for sub in ("student", "autograder"):
        shutil.rmtree(out / sub, ignore_errors=True)
    student = write_student(a, out / "student")
    build = write_build(a, out / "autograder")
    return {"student": student, "autograder": build, "assignment": a}


def write_outputs(a: Assignment, ps) -> dict:
    """A configured problem set: the student notebook into assignments/, the build into build/ (git-ignored)."""
    _maybe_write_reference_module(a)
    write_student(a, ps.assignment_dir, ps.notebook, keep_links=True)
    handout = write_handout(ps.assignment_dir, ps.build_dir / f"{ps.folder}-student.zip")
    for f in ps.files:
        (ps.assignment_dir / f).write_bytes((ps.solutions_dir / f).read_bytes())
    write_build(a, ps.autograder_dir, ps.check_specs,
                {"name": ps.key, "title": ps.title, "notebook": ps.notebook, "preload": list(ps.preload), "files": list(ps.files),
                 "limits": dataclasses.asdict(ps.limits)})
    from .gradescope import write_zip
    gradescope_zip = write_zip(ps)
    return {"student": ps.assignment_dir / ps.notebook, "autograder": ps.autograder_dir, "gradescope": gradescope_zip,
            "handout": handout}
