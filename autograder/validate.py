"""`mfdl validate PS`: prove the test suite of a problem set.

* the reference solution earns 100%, and every correct variant (e.g. a float32 implementation) too;
* the released stub earns 0 on every autograded question;
* every mutant of the bug catalogue (`solutions/<ps>/mutants.yaml`) loses points on exactly the questions it
  declares it breaks, and keeps full marks on all others;
* the student notebook runs top to bottom without an error in a plain Jupyter kernel (self-checks and
  export included), and the reference notebook's self-checks all pass there.

Files submitted with the notebook (`export_cell: files`, e.g. trained models): the catalogue's top-level
`submitted_files` maps each to the reference's copy (paths relative to solutions/<ps>/); a variant or mutant may
map a file to another copy (a model trained with a bug) or to null (not submitted). The stub submits none.
Cells tagged `otter_ignore` (training that takes minutes) are skipped in the plain-Jupyter runs, as in grading.
"""
from __future__ import annotations

import copy
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from .authoring import IGNORE_TAG, folder_files, parse_master, write_outputs
from .engine import Autograder, KernelFactory, grade_notebook


class CatalogueError(ValueError):
    pass


@dataclass
class Case:
    name: str
    kind: str  # reference | variant | stub | mutant
    notebook: object
    breaks: set = field(default_factory=set)
    files: dict = field(default_factory=dict)  # submitted files {name: bytes}


def apply_replacements(nb, replacements, name):
    nb = copy.deepcopy(nb)
    for rep in replacements:
        find, new = rep["find"], rep["with"]
        hits = [c for c in nb.cells if c.cell_type == "code" and find in c.source]
        count = sum(c.source.count(find) for c in hits)
        if count != 1:
            raise CatalogueError(f"mutant '{name}': `{find}` occurs {count} times in the reference (must be once)")
        hits[0].source = hits[0].source.replace(find, new)
    return nb


def load_cases(ps, ag: Autograder) -> list[Case]:
    ref_nb = nbformat.read(str(ps.autograder_dir / "reference.ipynb"), as_version=4)
    stub_nb = nbformat.read(str(ps.assignment_dir / ps.notebook), as_version=4)
    cases = [Case("reference solution", "reference", ref_nb), Case("released stub", "stub", stub_nb)]
    cat_path = ps.solutions_dir / "mutants.yaml"
    catalogue = yaml.safe_load(cat_path.read_text()) if cat_path.exists() else {}
    questions = {q["name"] for q in ag.manifest["questions"] if not q["manual"]}
    reference_files = catalogue_files(ps, catalogue.get("submitted_files") or {}, ag.submission_files, {}, "catalogue")
    cases[0].files = reference_files
    for v in catalogue.get("variants", []) or []:
        nb = copy.deepcopy(ref_nb)
        if "replace" in v:
            nb = apply_replacements(nb, v["replace"], v["name"])
        if "append" in v:
            nb.cells.append(nbformat.v4.new_code_cell(v["append"]))
        files = catalogue_files(ps, v.get("submitted_files") or {}, ag.submission_files, reference_files, v["name"])
        cases.append(Case(f"variant: {v['name']}", "variant", nb, files=files))
    for m in catalogue.get("mutants", []) or []:
        breaks = set(m.get("breaks") or [])
        unknown = breaks - questions
        if not breaks or unknown:
            raise CatalogueError(f"mutant '{m['name']}': `breaks` must name autograded questions (bad: {unknown or 'empty'})")
        nb = apply_replacements(ref_nb, m.get("replace") or [], m["name"])
        if "append" in m:
            nb.cells.append(nbformat.v4.new_code_cell(m["append"]))
        files = catalogue_files(ps, m.get("submitted_files") or {}, ag.submission_files, reference_files, m["name"])
        cases.append(Case(f"mutant: {m['name']}", "mutant", nb, breaks, files))
    return cases


def catalogue_files(ps, mapping: dict, declared: list, base: dict, where: str) -> dict:
    """`base` with the files of `mapping` ({name: path under solutions/<ps>/ or null}) replaced."""
    unknown = set(mapping) - set(declared)
    if unknown:
        raise CatalogueError(f"{where}: submitted_files names {sorted(unknown)}, not declared in export_cell.files")
    files = dict(base)
    for name, rel in mapping.items():
        if rel is None:
            files.pop(name, None)
            continue
        path = ps.solutions_dir / rel
        if not path.is_file():
            raise CatalogueError(f"{where}: submitted file {name} -> {path} does not exist")
        files[name] = path.read_bytes()
    return files


def judge(case: Case, record: dict) -> tuple[bool, str]:
    qs = {k: v for k, v in record["questions"].items() if not v["manual"]}
    full = {k for k, v in qs.items() if v["score"] >= v["max"] - 1e-9}
    zero = {k for k, v in qs.items() if v["score"] == 0}
    lost = set(qs) - full
    if case.kind in ("reference", "variant"):
        return (not lost, "100%" if not lost else f"lost points on {sorted(lost)}")
    if case.kind == "stub":
        return (zero == set(qs), "0 on every question" if zero == set(qs) else f"scored on {sorted(set(qs) - zero)}")
    ok = lost == case.breaks
    detail = f"lost points on {sorted(lost)}" + ("" if ok else f", expected exactly {sorted(case.breaks)}")
    return ok, detail


def files_under(folder: Path, skip: str | None = None) -> dict:
    """{relative path: bytes} of every file under `folder` (links followed; none if it does not exist)."""
    if not folder.is_dir():
        return {}
    return {rel: path.read_bytes() for rel, path in folder_files(folder) if rel != skip}


def run_notebook_plain(nb, notebook_name: str, timeout: float = 120, files: dict | None = None) -> tuple[list[str], list[str]]:
    """Execute a notebook as a student would (plain kernel, package importable, `files` next to it; cells
    tagged otter_ignore skipped); return the cells' errors and the self-check cells that did not report success."""
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    tmp = Path(tempfile.mkdtemp(prefix="mfdl-plain-"))
    try:
        nb = copy.deepcopy(nb)
        nb.cells = [c for c in nb.cells if IGNORE_TAG not in c.metadata.get("tags", [])]
        for name, data in (files or {}).items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        path = tmp / notebook_name
        nbformat.write(nb, str(path))
        nb = nbformat.read(str(path), as_version=4)
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp / "kernel"))  # Unix sockets, not TCP
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(tmp)}})
        client.execute()
        errors = []
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    errors.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
        failed_checks = []
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and cell.source.strip().startswith("grader.check("):  # Otter's check cells
                text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))
                if "All test cases passed" not in text:
                    failed_checks.append(f"cell {i}: {text.strip()[:300]}")
        return errors, failed_checks
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def validate(ps, console=None, *, plain_run: bool = True) -> bool:
    def say(text):
        if console is not None:
            console.print(text, markup=False, highlight=False)

    a = parse_master(ps.master_path)
    write_outputs(a, ps)
    ag = Autograder.load(ps)
    cases = load_cases(ps, ag)
    n_mutants = sum(c.kind == "mutant" for c in cases)
    say(f"validating {ps.key}: reference, stub, {sum(c.kind == 'variant' for c in cases)} variants, "
        f"{n_mutants} mutants")
    factory = KernelFactory(ag)
    factory.prestart()
    all_ok = True
    rows = []
    try:
        for case in cases:
            rec = grade_notebook(case.notebook, ag, factory, case.files)
            ok, detail = judge(case, rec)
            all_ok &= ok
            rows.append((case.name, ok, f"{rec['total']:g}/{rec['possible']:g}", detail))
            say(f"  [{'ok' if ok else 'FAIL'}] {case.name}: {rec['total']:g}/{rec['possible']:g}, {detail}")
            if case.kind == "reference":
                # Tests that need a value the plain-data channel cannot carry can never pass: name them.
                for t in rec["tests"]:
                    if t.get("cannot_cross"):
                        all_ok = False
                        say(f"  [FAIL] {t['question']}/{t['test']} needs a value that cannot cross from the "
                            f"notebook: {t['message'][:300]}")
            if not ok:
                for t in rec["tests"]:
                    if (case.kind in ("reference", "variant") and not t["passed"]) or case.kind == "stub" and t["passed"]:
                        say(f"      {t['question']}/{t['test']}: {t['message'][:400]}")
                for issue in rec["issues"]:
                    say(f"      issue: {issue}")
    finally:
        factory.close()
    if plain_run:
        stub = nbformat.read(str(ps.assignment_dir / ps.notebook), as_version=4)
        released = files_under(ps.assignment_dir, skip=ps.notebook)  # support files handed out with it
        if ag.submission_files:
            # Otter's export stops on declared files that do not exist, and the stub never trained (its
            # otter_ignore training cells are skipped here): the export cell is left out of this run.
            stub.cells = [c for c in stub.cells if not (c.cell_type == "code" and "grader.export(" in c.source)]
        errors, _ = run_notebook_plain(stub, ps.notebook, files=released)
        ok = not errors
        all_ok &= ok
        say(f"  [{'ok' if ok else 'FAIL'}] the released stub runs top to bottom in Jupyter"
            + ("" if ok else f": {errors}"))
        ref = nbformat.read(str(ps.autograder_dir / "reference.ipynb"), as_version=4)
        # Otter's autograder notebook (all tests, hidden too) beside the released and autograder-only files.
        support = files_under(ps.autograder_dir / "support")
        errors, failed = run_notebook_plain(ref, ps.notebook, files={**released, **support, **cases[0].files})
        ok = not errors and not failed
        all_ok &= ok
        say(f"  [{'ok' if ok else 'FAIL'}] the reference passes its own self-checks in Jupyter"
            + ("" if ok else f": {errors} {failed}"))
    if n_mutants < 10:
        say(f"  [FAIL] the bug catalogue has {n_mutants} mutants; at least 10 are required")
        all_ok = False
    say("validation " + ("PASSED" if all_ok else "FAILED"))
    return all_ok
