"""Our masters are valid Otter Assign v1 masters, and students self-check with stock Otter (issue 10, points 3-4).

Fast tests: `mfdl_checks` is self-contained and configurable; every master ships what Otter needs and its test
functions take only student names; each committed mfdl_reference.py and each released copy is current.
Tests marked `otter` run stock otter-grader: `otter assign` of every master succeeds and its student notebook
holds no solution line; `otter run` with its autograder zip gives the reference full marks and the released stub
0; and a fresh venv with only otter-grader and numpy self-checks the released PS1 notebook with our messages.
"""
from __future__ import annotations

import ast
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder.reference_source import reference_path, reference_source

REPO = Path(__file__).resolve().parent.parent
OTTER = Path(sys.executable).with_name("otter")
SETS = ["ps1_backprop", "ps2_optimizers", "ps3_qlearning", "ps4_pinns"]
SET_MODULES = {"ps3_qlearning": ["rl_fixtures.py"]}          # support files a set ships beside mfdl_checks
SUBMITTED = {"ps4_pinns": ["heat_model.json", "burgers_model.json"]}  # the reference's trained networks
SPECIAL = {"check", "remote", "submitted_file", "ref", "np"}   # what tests used to receive as parameters

needs_otter = pytest.mark.skipif(not OTTER.exists(), reason="otter-grader is not installed beside this Python")


def master(name: str) -> Path:
    return REPO / "solutions" / name / f"{name}.ipynb"


def assignment_config(nb) -> dict:
    cell = next(c for c in nb.cells if c.cell_type == "raw" and c.source.startswith("# ASSIGNMENT CONFIG"))
    return yaml.safe_load(cell.source.split("\n", 1)[1])


def master_tests(nb):
    """(test function node, hidden) for each test cell of a master."""
    out, in_tests = [], False
    for c in nb.cells:
        if c.cell_type == "raw":
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(c.source.strip(), in_tests)
        elif c.cell_type == "code" and in_tests:
            config = yaml.safe_load(c.source.split('""" # BEGIN TEST CONFIG', 1)[1].split('""" # END TEST CONFIG')[0])
            body = c.source.split('""" # END TEST CONFIG', 1)[1]
            out.append((ast.parse(body).body[0], bool(config.get("hidden"))))
    return out


# -- mfdl_checks ---------------------------------------------------------------------------------------------
def test_mfdl_checks_imports_only_numpy_yaml_and_itself():
    allowed = set(sys.stdlib_module_names) | {"numpy", "yaml"}
    for path in (REPO / "autograder" / "mfdl_checks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [] if node.level else [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def _run_isolated(folder: Path, code: str) -> subprocess.CompletedProcess:
    """Python in `folder` with only the standard paths (-I: no PYTHONPATH, no cwd) plus `folder`."""
    script = "import sys; sys.path.insert(0, '.')\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-I", "-c", script], cwd=folder, capture_output=True, text=True,
                          timeout=120)


def test_shipped_copy_works_alone_with_the_default_configuration(tmp_path):
    """As Otter ships it (a copy of the folder, checks.yaml beside it): check reads the set's rules, remote
    evaluates with numpy, submitted_file reads the notebook's folder, and nothing of `autograder` is imported."""
    shutil.copytree(REPO / "autograder" / "mfdl_checks", tmp_path / "mfdl_checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "solutions" / "ps1_backprop" / "checks.yaml", tmp_path / "checks.yaml")
    (tmp_path / "heat_model.json").write_text('{"value": 42}')
    res = _run_isolated(tmp_path, """
        import numpy as np
        from mfdl_checks import check, remote, submitted_file, TestFailure
        assert sorted(check.rules) == ["analytic", "finite_difference", "frequency"]
        check.close(np.array([1.0, 2.0]), [1.0, 2.0], what="v", ops=1)
        try:
            check.close(np.array([1.0, 2.5]), [1.0, 2.0], what="v", ops=1)
        except TestFailure as exc:
            print("MESSAGE", exc)
        print("REMOTE", remote("lambda x: np.sum(x)")(np.arange(4)))
        print("FILE", submitted_file("heat_model.json"))
        try:
            submitted_file("burgers_model.json")
        except TestFailure as exc:
            print("MISSING", exc)
        print("AUTOGRADER", any(m == "autograder" or m.startswith("autograder.") for m in sys.modules))
    """)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "MESSAGE v is wrong in 1 of 2 entries" in out and "so this is a bug, not round-off" in out
    assert "REMOTE 6" in out and "FILE {'value': 42}" in out
    assert "MISSING burgers_model.json is not in your submission" in out
    assert "AUTOGRADER False" in out


def test_checks_yaml_is_also_found_in_the_current_directory(tmp_path):
    (tmp_path / "lib").mkdir()
    shutil.copytree(REPO / "autograder" / "mfdl_checks", tmp_path / "lib" / "mfdl_checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "checks.yaml").write_text("analytic: {rule: higham_rounding, input_roundings: 2}\n")
    res = _run_isolated(tmp_path, """
        sys.path.insert(0, 'lib')
        from mfdl_checks import check
        print(sorted(check.rules), check.rules["analytic"].input_roundings)
    """)
    assert res.returncode == 0, res.stderr
    assert "['analytic'] 2" in res.stdout


def test_configure_sets_what_the_names_resolve_to():
    from autograder import mfdl_checks
    from autograder.mfdl_checks import Checker, configured
    mine = Checker({})
    seen = []
    with configured(check=mine, remote=lambda src: ("remote", src), submitted_file=lambda n: ("file", n)):
        from autograder.mfdl_checks import check, remote, submitted_file
        seen += [check is mine, remote("x"), submitted_file("a.json")]
    assert seen == [True, ("remote", "x"), ("file", "a.json")]
    assert mfdl_checks.check is not mine  # back to the default configuration


def test_a_misspelled_rule_in_checks_yaml_is_named():
    from autograder.mfdl_checks import ConfigError
    from autograder.mfdl_checks.rules import make_rules
    with pytest.raises(ConfigError, match="did you mean 'input_roundings'"):
        make_rules({"analytic": {"rule": "higham_rounding", "input_rounding": 1}}, "checks.yaml")


# -- the masters ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SETS)
def test_master_ships_what_otter_needs(name):
    nb = nbformat.read(str(master(name)), as_version=4)
    config = assignment_config(nb)
    assert config["tests"] == {"ok_format": False}
    assert config["files"][:2] == ["mfdl_checks", "checks.yaml"]
    assert set(config["files"][2:]) == set(SET_MODULES.get(name, []))
    assert config["autograder_files"] == ["mfdl_reference.py"]
    assert config["export_cell"]["pdf"] is False
    assert config["export_cell"].get("files", []) == SUBMITTED.get(name, [])
    folder = master(name).parent
    assert (folder / "mfdl_checks").resolve() == (REPO / "autograder" / "mfdl_checks").resolve()
    for f in config["files"] + config["autograder_files"]:
        assert (folder / f).exists(), f


@pytest.mark.parametrize("name", SETS)
def test_test_functions_take_only_student_names(name):
    nb = nbformat.read(str(master(name)), as_version=4)
    tests = master_tests(nb)
    assert tests
    for fn, hidden in tests:
        params = {a.arg for a in fn.args.args}
        assert not params & SPECIAL, f"{fn.name} takes {sorted(params & SPECIAL)}"
        src = ast.unparse(fn)
        assert "autograder" not in src, fn.name
        assert hidden or "mfdl_reference" not in src, f"{fn.name} is public but imports the reference"


@pytest.mark.parametrize("name", SETS)
def test_committed_reference_is_current(name):
    assert reference_path(master(name)).read_text() == reference_source(master(name)), \
        f"run python -m autograder.reference_source solutions/{name}/{name}.ipynb"


@pytest.mark.parametrize("name", SETS)
def test_released_support_files_are_current(name):
    """assignments/<set>/ holds what Otter gives students: copies of mfdl_checks/, checks.yaml, set modules."""
    released, folder = REPO / "assignments" / name, master(name).parent
    cmp = filecmp.dircmp(released / "mfdl_checks", REPO / "autograder" / "mfdl_checks", ignore=["__pycache__"])
    assert not (cmp.left_only or cmp.right_only or cmp.diff_files), (cmp.left_only, cmp.right_only, cmp.diff_files)
    for f in ["checks.yaml", *SET_MODULES.get(name, [])]:
        assert (released / f).read_bytes() == (folder / f).read_bytes(), f
    assert not (released / "mfdl_reference.py").exists()
    nb = nbformat.read(str(released / f"{name}.ipynb"), as_version=4)
    assert nb.cells[0].source == f'# Initialize Otter\nimport otter\ngrader = otter.Notebook("{name}.ipynb")'
    assert "autograder" not in "\n".join(c.source for c in nb.cells if c.cell_type == "code")


# -- stock otter assign / otter run ----------------------------------------------------------------------------
def otter(*args, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    res = subprocess.run([str(OTTER), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"otter {args[0]} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module", params=SETS)
def assigned(request, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(name) / "dist"
    otter("assign", master(name), out, cwd=out.parent)
    zips = list((out / "autograder").glob(f"{name}-autograder_*.zip"))
    assert len(zips) == 1
    return {"name": name, "out": out, "zip": zips[0], "student": out / "student" / f"{name}.ipynb",
            "reference": out / "autograder" / f"{name}.ipynb"}


def otter_run(assigned, submission: Path, tmp: Path) -> tuple[float, float, str]:
    results = tmp / "results"
    results.mkdir()
    otter("run", "-a", assigned["zip"], "-o", results, submission, cwd=tmp)
    data = json.loads((results / "results.json").read_text())
    scored = [t for t in data["tests"] if t.get("max_score") is not None]
    return (sum(t["score"] for t in scored), sum(t["max_score"] for t in scored),
            "\n".join(t.get("output", "") for t in data["tests"]))


def solution_lines(nb) -> set:
    """Lines of the master's solutions that appear nowhere else in it: inside in-cell BEGIN/END SOLUTION blocks
    of code cells, and the markdown answers of raw solution blocks."""
    inside, outside, in_block = set(), set(), False
    for c in nb.cells:
        if c.cell_type == "raw":
            in_block = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(c.source.strip(), in_block)
            continue
        if c.cell_type == "markdown" and in_block:
            inside |= {ln.strip() for ln in c.source.split("\n")}
            continue
        sol = False
        for ln in c.source.split("\n"):
            if ln.strip().startswith("# BEGIN SOLUTION"):
                sol = True
            elif ln.strip().startswith("# END SOLUTION"):
                sol = False
            else:
                (inside if sol else outside).add(ln.strip())
    return {ln for ln in inside - outside if ln and ln not in ("...", '"""')}


@needs_otter
@pytest.mark.otter
def test_otter_assign_writes_what_students_and_the_autograder_need(assigned):
    name, out = assigned["name"], assigned["out"]
    student = out / "student"
    assert (student / "mfdl_checks" / "__init__.py").is_file() and (student / "checks.yaml").is_file()
    for f in SET_MODULES.get(name, []):
        assert (student / f).is_file()
    assert not (student / "mfdl_reference.py").exists()
    names = zipfile.ZipFile(assigned["zip"]).namelist()
    for f in ["files/mfdl_reference.py", "files/checks.yaml", "files/mfdl_checks/__init__.py",
              *(f"files/{m}" for m in SET_MODULES.get(name, []))]:
        assert f in names, f
    nb = nbformat.read(str(assigned["student"]), as_version=4)
    assert nb.metadata["otter"]["assignment_name"] == name


@needs_otter
@pytest.mark.otter
def test_student_notebook_has_no_solution_line(assigned):
    ours = nbformat.read(str(master(assigned["name"])), as_version=4)
    student = nbformat.read(str(assigned["student"]), as_version=4)
    secret = solution_lines(ours)
    assert len(secret) > 20
    text = [ln.strip() for c in student.cells for ln in c.source.split("\n")]
    leaked = sorted(secret & set(text))
    assert not leaked, leaked[:10]
    assert not [ln for ln in text if re.search(r"# ?(BEGIN|END) SOLUTION|# SOLUTION", ln)]
    public = json.dumps(student.metadata["otter"]["tests"])
    hidden = [fn.name for fn, h in master_tests(ours) if h]
    assert hidden and not [n for n in hidden if f"def {n}(" in public]
    assert "mfdl_reference" not in public


@needs_otter
@pytest.mark.otter
def test_otter_run_gives_the_reference_full_marks(assigned, tmp_path):
    submission = assigned["reference"]
    files = SUBMITTED.get(assigned["name"])
    if files:  # the notebook and the reference's trained networks, zipped as grader.export() does
        submission = tmp_path / f"{assigned['name']}.zip"
        with zipfile.ZipFile(submission, "w") as zf:
            zf.write(assigned["reference"], assigned["reference"].name)
            for f in files:
                zf.write(master(assigned["name"]).parent / "models" / f, f)
    score, possible, output = otter_run(assigned, submission, tmp_path)
    assert possible > 0 and score == possible, output[-3000:]


@needs_otter
@pytest.mark.otter
def test_otter_run_gives_the_released_stub_zero(assigned, tmp_path):
    released = REPO / "assignments" / assigned["name"] / f"{assigned['name']}.ipynb"
    score, possible, output = otter_run(assigned, released, tmp_path)
    assert possible > 0 and score == 0, output[-3000:]
    assert "TestFailure" in output  # our explanations, not crashes of the test code


@needs_otter
@pytest.mark.otter
def test_released_stub_runs_top_to_bottom(tmp_path):
    """Every released notebook executes without an error (outside otter_ignore cells, as otter run does)."""
    from nbclient import NotebookClient
    for name in SETS:
        work = tmp_path / name
        shutil.copytree(REPO / "assignments" / name, work)
        nb = nbformat.read(str(work / f"{name}.ipynb"), as_version=4)
        nb.cells = [c for c in nb.cells if "otter_ignore" not in c.metadata.get("tags", [])
                    and not (c.cell_type == "code" and "grader.export(" in c.source)]
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()


# -- a student with only otter-grader and numpy -----------------------------------------------------------------
CORRECT_Q1 = '''def affine_forward(x, w, b):
    return x @ w + b


def affine_backward(dout, x, w, b):
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
'''
WRONG_Q1 = CORRECT_Q1.replace("return x @ w + b", "return x @ w")  # forgets the bias

RUNNER = '''
import json, sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
out = []
for c in nb.cells:
    if c.cell_type == "code":
        out.append("".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", "")) for o in c.outputs))
print(json.dumps(out))
'''
PROBE = "import importlib.util, sys\nprint('AUTOGRADER', importlib.util.find_spec('autograder') is not None, sys.prefix)"


class StudentVenv:
    """A fresh venv holding only what a student installs, and its own Jupyter kernel."""

    def __init__(self, root: Path, packages: list[str]):
        self.root, self.venv = root, root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True, timeout=300)
        self.python = self.venv / "bin" / "python"
        # packages come from pip's configured index (and its local wheel folder for torch)
        pip = subprocess.run([str(self.python), "-m", "pip", "install", "-q", *packages],
                             capture_output=True, text=True, timeout=1800)
        assert pip.returncode == 0, pip.stderr[-3000:]
        # this venv's kernel, nothing else (a kernelspec on JUPYTER_PATH wins over system-wide ones)
        spec = root / "jupyter" / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps(
            {"argv": [str(self.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
             "display_name": "student venv", "language": "python"}))
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.env["JUPYTER_PATH"] = str(root / "jupyter")
        (root / "runner.py").write_text(RUNNER)

    def execute(self, cells: list, work: Path) -> list[str]:
        """Run `cells` (then a probe cell) as a notebook in `work`; the text output of each code cell."""
        nb = nbformat.v4.new_notebook()
        nb.cells = [c for c in cells if c.cell_type == "code"] + [nbformat.v4.new_code_cell(PROBE)]
        nbformat.write(nb, str(work / "run.ipynb"))
        res = subprocess.run([str(self.python), str(self.root / "runner.py"), str(work / "run.ipynb"), str(work)],
                             capture_output=True, text=True, env=self.env, timeout=900)
        assert res.returncode == 0, res.stderr[-3000:]
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out[-1].startswith("AUTOGRADER False") and str(self.venv) in out[-1], out[-1]
        return out[:-1]


def released_copy(name: str, work: Path) -> list:
    """A copy of the released folder in `work`; returns the notebook's cells."""
    shutil.copytree(REPO / "assignments" / name, work, ignore=shutil.ignore_patterns("__pycache__"))
    return nbformat.read(str(work / f"{name}.ipynb"), as_version=4).cells


def check_cell(cells: list, question: str) -> int:
    return next(i for i, c in enumerate(cells) if c.source.strip() == f'grader.check("{question}")')


@needs_otter
@pytest.mark.otter
def test_fresh_venv_with_only_otter_and_numpy_self_checks_ps1(tmp_path):
    venv = StudentVenv(tmp_path, ["otter-grader[grading]==7.0.0", "numpy"])
    outputs = {}
    for label, answer in (("correct", CORRECT_Q1), ("wrong", WRONG_Q1)):
        cells = released_copy("ps1_backprop", tmp_path / label)
        first_answer = next(i for i, c in enumerate(cells) if "otter_answer_cell" in c.metadata.get("tags", []))
        cells[first_answer].source = answer
        outputs[label] = venv.execute(cells[:check_cell(cells, "q1") + 1], tmp_path / label)
    assert "q1 results: All test cases passed!" in outputs["correct"][-1]
    wrong = outputs["wrong"][-1]
    assert "affine_forward(x, w, b) is wrong in" in wrong and "so this is a bug, not round-off" in wrong
    assert "Rounding alone could explain at most" in wrong


def master_answers(name: str) -> list[str]:
    """The master's answer cells (code cells of raw solution blocks), solutions kept, in notebook order."""
    from autograder.otter_format import keep_solutions
    out, in_block = [], False
    for c in nbformat.read(str(master(name)), as_version=4).cells:
        if c.cell_type == "raw":
            in_block = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(c.source.strip(), in_block)
        elif c.cell_type == "code" and in_block:
            out.append("\n".join(keep_solutions(c.source.split("\n"))))
    return out


@needs_otter
@pytest.mark.otter
def test_fresh_venv_self_checks_a_submitted_network_ps4(tmp_path):
    """PS4 with otter-grader, numpy and torch only: grader.check("q6") grades heat_model.json next to the
    notebook: the reference's passes, a network trained without the initial condition fails with the
    certificate's numbers, a missing file says how to make it."""
    venv = StudentVenv(tmp_path, ["otter-grader[grading]==7.0.0", "numpy", "torch==2.13.0"])
    work = tmp_path / "ps4"
    cells = released_copy("ps4_pinns", work)
    answers = [i for i, c in enumerate(cells)
               if c.cell_type == "code" and "otter_answer_cell" in c.metadata.get("tags", [])]
    solutions = master_answers("ps4_pinns")
    assert len(answers) == len(solutions)
    for i, src in zip(answers, solutions):
        cells[i].source = src
    models = master("ps4_pinns").parent / "models"
    shutil.copy(models / "heat_model.json", work / "heat_model.json")
    shutil.copy(models / "heat_model_no_initial_condition.json", work / "wrong.json")
    upto = [c for c in cells[:check_cell(cells, "q6") + 1] if "otter_ignore" not in c.metadata.get("tags", [])]
    new = nbformat.v4.new_code_cell
    out = venv.execute(upto + [new("import os\nos.replace('wrong.json', 'heat_model.json')"), new('grader.check("q6")'),
                               new("os.remove('heat_model.json')"), new('grader.check("q6")')], work)
    good, wrong, missing = out[-5], out[-3], out[-1]
    assert "q6 results: All test cases passed!" in good
    assert "TestFailure: heat_model.json: " in wrong and "certified bound" in wrong and "required" in wrong
    assert "heat_model.json is not in your submission: run the cell that trains and saves it" in missing
