"""Master notebook (Otter Assign format) -> student notebook + autograder build.

Understood markers (the subset of Otter Assign used here, same spelling):
  raw `# ASSIGNMENT CONFIG` (YAML), raw `# BEGIN QUESTION` (YAML: name, points, manual) / `# END QUESTION`,
  raw `# BEGIN SOLUTION` / `# END SOLUTION` around solution cells, in-cell `# BEGIN SOLUTION` /
  `# END SOLUTION` lines and `# SOLUTION` line suffixes, raw `# BEGIN TESTS` / `# END TESTS` around test
  cells, and the docstring-quoted `# BEGIN TEST CONFIG` ... `# END TEST CONFIG` block on top of a test cell.

Tests use Otter's exception-based style: one function per cell whose parameters are injected by name
(student functions, `check`, `np`, `remote`, `submitted_file`, and in hidden tests `ref`).

Also as in Otter: `export_cell: files: [...]` names files the student submits with the notebook (here: JSON
only, e.g. a trained network), and code cells tagged `otter_ignore` (e.g. the cell that trains that network for
minutes) are not run by the grader and are not part of the reference solution the tests may call.
"""
from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import yaml

SPECIAL_PARAMS = {"check", "np", "ref", "remote", "submitted_file"}
TEST_CONFIG_RE = re.compile(r'^\s*"""\s*#\s*BEGIN TEST CONFIG\s*\n(.*?)\n\s*"""\s*#\s*END TEST CONFIG\s*\n', re.S)
TAG_INIT, TAG_CHECK, TAG_EXPORT = "mfdl-init", "mfdl-check", "mfdl-export"
GRADER_CELL_TAGS = {TAG_INIT, TAG_CHECK, TAG_EXPORT}
# Otter's tag for cells the grader does not run (e.g. the cell that trains a network for minutes and saves it as a
# submitted file): the tests grade the saved result instead.
IGNORE_TAG = "otter_ignore"


class AuthoringError(ValueError):
    pass


@dataclass
class TestCase:
    name: str
    source: str
    points: float
    hidden: bool
    description: str
    params: list


@dataclass
class Question:
    name: str
    points: float
    manual: bool = False
    tests: list = field(default_factory=list)


@dataclass
class Assignment:
    name: str
    config: dict
    questions: list
    student_cells: list  # nbformat cells, solutions stripped, tests removed
    reference_cells: list  # same cells with solutions kept
    metadata: dict
    submission_files: list = field(default_factory=list)  # export_cell.files: JSON files submitted with it

    def question(self, name: str) -> Question:
        for q in self.questions:
            if q.name == name:
                return q
        raise KeyError(name)

    @property
    def auto_points(self) -> float:
        return sum(q.points for q in self.questions if not q.manual)


def _raw_marker(cell) -> str | None:
    if cell.cell_type != "raw":
        return None
    first = cell.source.strip().splitlines()[0].strip() if cell.source.strip() else ""
    return first.upper() if first.startswith("#") else None


def _marker_body(cell) -> dict:
    lines = cell.source.strip().splitlines()[1:]
    body = yaml.safe_load("\n".join(lines)) if lines else {}
    return body or {}


def strip_solution(source: str) -> str:
    """Replace in-cell solution blocks with `...` and `x = expr  # SOLUTION` with `x = ...`."""
    out, skipping = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.upper().startswith("# BEGIN SOLUTION"):
            skipping = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}...")
            continue
        if stripped.upper().startswith("# END SOLUTION"):
            skipping = False
            continue
        if skipping:
            continue
        m = re.match(r"^(\s*)(.*?)\s*#\s*SOLUTION\s*$", line)
        if m:
            indent, code = m.groups()
            assign = re.match(r"^([\w\.\[\], ]+?)\s*=(?!=)", code)
            out.append(f"{indent}{assign.group(1)} = ..." if assign else f"{indent}...")
            continue
        out.append(line)
    return "\n".join(out)


def keep_solution(source: str) -> str:
    """The reference version: drop only the marker lines."""
    return "\n".join(l for l in source.splitlines()
                     if not l.strip().upper().startswith(("# BEGIN SOLUTION", "# END SOLUTION")))


def parse_test_cell(source: str, question: str, index: int) -> tuple[dict, str, ast.FunctionDef]:
    conf = {}
    m = TEST_CONFIG_RE.match(source)
    body = source
    if m:
        conf = yaml.safe_load(m.group(1)) or {}
        body = source[m.end():]
    try:
        tree = ast.parse(body)
    except SyntaxError as exc:
        raise AuthoringError(f"{question}: test cell {index + 1} is not valid Python: {exc}") from None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(funcs) != 1 or len(tree.body) != 1:
        raise AuthoringError(f"{question}: test cell {index + 1} must contain exactly one function definition")
    for key in conf:
        if key not in {"hidden", "points", "failure_message", "success_message"}:
            raise AuthoringError(f"{question}: test cell {index + 1}: unknown TEST CONFIG key '{key}'")
    return conf, body, funcs[0]


def parse_master(path: Path) -> Assignment:
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:
        raise AuthoringError(f"cannot read master notebook {path}: {exc}") from None
    config: dict = {}
    questions: list[Question] = []
    student_cells, reference_cells = [], []
    current: Question | None = None
    in_tests = in_solution = False
    for cell in nb.cells:
        marker = _raw_marker(cell)
        if marker and marker.startswith("# ASSIGNMENT CONFIG"):
            config = _marker_body(cell)
            continue
        if marker and marker.startswith("# BEGIN QUESTION"):
            body = _marker_body(cell)
            if "name" not in body:
                raise AuthoringError("a BEGIN QUESTION block has no name")
            current = Question(name=str(body["name"]), points=float(body.get("points", 0) or 0),
                               manual=bool(body.get("manual", False)))
            questions.append(current)
            continue
        if marker and marker.startswith("# END QUESTION"):
            current = None
            continue
        if marker and marker.startswith("# BEGIN TESTS"):
            in_tests = True
            continue
        if marker and marker.startswith("# END TESTS"):
            in_tests = False
            continue
        if marker and marker.startswith("# BEGIN SOLUTION"):
            in_solution = True
            if current and current.manual:
                placeholder = nbformat.v4.new_markdown_cell("_Type your answer here, replacing this text._")
                placeholder.metadata["mfdl"] = {"question": current.name}
                student_cells.append(placeholder)
            continue
        if marker and marker.startswith("# END SOLUTION"):
            in_solution = False
            continue
        if in_tests:
            if current is None:
                raise AuthoringError("tests outside a question")
            if cell.cell_type != "code":
                continue
            conf, body, func = parse_test_cell(cell.source, current.name, len(current.tests))
            params = [a.arg for a in func.args.args]
            hidden = bool(conf.get("hidden", False))
            if not hidden and "ref" in params:
                raise AuthoringError(f"{current.name}/{func.name}: a public test cannot use `ref` (it runs in "
                                     "the student's notebook, where no reference exists); mark it hidden")
            current.tests.append(TestCase(
                name=func.name, source=body, points=float(conf["points"]) if "points" in conf else -1.0,
                hidden=hidden, description=(ast.get_docstring(func) or func.name).strip().splitlines()[0],
                params=params))
            continue
        if in_solution:
            ref = copy.deepcopy(cell)
            if current is not None:
                ref.metadata.setdefault("mfdl", {})["question"] = current.name
            reference_cells.append(ref)
            continue
        stu, ref = copy.deepcopy(cell), copy.deepcopy(cell)
        if cell.cell_type == "code":
            stu.source = strip_solution(cell.source)
            ref.source = keep_solution(cell.source)
            stu.outputs, ref.outputs, stu.execution_count, ref.execution_count = [], [], None, None
        if current is not None:
            for c in (stu, ref):
                c.metadata.setdefault("mfdl", {})["question"] = current.name
        student_cells.append(stu)
        reference_cells.append(ref)
    if not config.get("name"):
        raise AuthoringError("the ASSIGNMENT CONFIG cell is missing or has no `name`")
    from .submitted_files import valid_name
    submission_files = list((config.get("export_cell") or {}).get("files") or [])
    bad = [f for f in submission_files if not valid_name(f)]
    if bad:
        raise AuthoringError(f"export_cell.files must be plain .json file names (no folders), got {bad}")
    seen = set()
    for q in questions:
        if q.name in seen:
            raise AuthoringError(f"question name {q.name} is used twice")
        seen.add(q.name)
        _resolve_points(q)
    return Assignment(name=config["name"], config=config, questions=questions, student_cells=student_cells,
                      reference_cells=reference_cells, metadata=dict(nb.metadata), submission_files=submission_files)


def _resolve_points(q: Question) -> None:
    """Tests with explicit points keep them; the rest share what is left of the question's points.
    Unlike Otter, public tests are never silently worth 0 when only hidden tests carry points."""
    if q.manual:
        return
    if not q.tests:
        raise AuthoringError(f"{q.name} is autograded but has no tests")
    fixed = sum(t.points for t in q.tests if t.points >= 0)
    free = [t for t in q.tests if t.points < 0]
    if free:
        share = max(q.points - fixed, 0) / len(free) if q.points else 1.0
        for t in free:
            t.points = share
    total = sum(t.points for t in q.tests)
    if q.points and abs(total - q.points) > 1e-9:
        raise AuthoringError(f"{q.name}: test points add up to {total:g} but the question is worth {q.points:g}")
    q.points = total


# ----------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------
def _public_manifest(a: Assignment, check_specs: dict, include_hidden: bool) -> dict:
    qs = []
    for q in a.questions:
        tests = [asdict(t) for t in q.tests if include_hidden or not t.hidden]
        qs.append({"name": q.name, "points": q.points, "manual": q.manual, "tests": tests})
    return {"assignment": a.name, "questions": qs, "checks": check_specs, "submission_files": a.submission_files}


def build_notebook(a: Assignment, cells: list, check_specs: dict, notebook_name: str):
    """The released notebook around `cells` (student cells, or reference cells for a perfect submission):
    an init cell, a `grader.check` cell after each autograded question, and the export cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(a.metadata)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nb.metadata["mfdl"] = _public_manifest(a, check_specs, include_hidden=False)
    init = nbformat.v4.new_code_cell(
        "# Initialize the self-checker (needs the course package: pip install the course's autograder)\n"
        f"from autograder.student import Notebook\ngrader = Notebook({notebook_name!r})")
    init.metadata["tags"] = [TAG_INIT]
    out = [init]
    checkable = {q.name for q in a.questions if not q.manual and any(not t.hidden for t in q.tests)}
    for i, cell in enumerate(cells):
        out.append(copy.deepcopy(cell))
        q = cell.metadata.get("mfdl", {}).get("question")
        nxt = cells[i + 1].metadata.get("mfdl", {}).get("question") if i + 1 < len(cells) else None
        if q in checkable and nxt != q:
            check = nbformat.v4.new_code_cell(f'grader.check("{q}")')
            check.metadata["tags"] = [TAG_CHECK]
            out.append(check)
    if a.submission_files:
        names = ", ".join(f"`{f}`" for f in a.submission_files)
        upload = (f"a zip file next to this notebook holding the notebook and {names}: upload that zip (the "
                  "notebook alone lacks the trained models).")
    else:
        upload = "a zip file next to this notebook: upload that zip (or the notebook itself)."
    export_md = nbformat.v4.new_markdown_cell(
        "## Submission\n\nSave this notebook, then run the cell below. It runs every public check and writes " + upload)
    export = nbformat.v4.new_code_cell("grader.check_all()\ngrader.export()")
    export.metadata["tags"] = [TAG_EXPORT]
    nb.cells = out + [export_md, export]
    for i, cell in enumerate(nb.cells):  # stable, unique cell ids (nbformat >= 4.5 requires them)
        cell["id"] = f"mfdl-{i:03d}"
    return nb


def reference_source(a: Assignment) -> str:
    """Python source of the reference solution (code cells, solutions kept) for hidden tests' `ref`."""
    parts = []
    for cell in a.reference_cells:
        if (cell.cell_type == "code" and not cell.source.lstrip().startswith(("%", "!"))
                and IGNORE_TAG not in cell.metadata.get("tags", [])):
            parts.append(cell.source)
    return "\n\n".join(parts) + "\n"


def write_outputs(a: Assignment, ps) -> dict:
    """Write the student notebook (assignments/) and the autograder build (build/, git-ignored)."""
    ps.assignment_dir.mkdir(parents=True, exist_ok=True)
    ps.autograder_dir.mkdir(parents=True, exist_ok=True)
    stu = build_notebook(a, a.student_cells, ps.check_specs, ps.notebook)
    nbformat.validate(stu)
    student_path = ps.assignment_dir / ps.notebook
    nbformat.write(stu, str(student_path))
    ref_nb = build_notebook(a, a.reference_cells, ps.check_specs, ps.notebook)
    nbformat.write(ref_nb, str(ps.autograder_dir / "reference.ipynb"))
    (ps.autograder_dir / "reference.py").write_text(reference_source(a))
    manifest = _public_manifest(a, ps.check_specs, include_hidden=True)
    (ps.autograder_dir / "tests.json").write_text(json.dumps(manifest, indent=1))
    for f in ps.files:
        src = ps.solutions_dir / f
        (ps.assignment_dir / f).write_bytes(src.read_bytes())
    from .gradescope import write_zip
    gradescope_zip = write_zip(ps)
    return {"student": student_path, "autograder": ps.autograder_dir, "gradescope": gradescope_zip}
