"""Shared fixtures: a tiny two-question problem set, built into a temporary folder, with a kernel factory."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.authoring import parse_master, write_outputs
from autograder.config import load_config
from autograder.engine import Autograder, KernelFactory, grade_notebook

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent
CANARY = "SECRET-CANARY-HIDDEN-TEST"  # appears only in the tiny set's hidden test (and its master notebook)


def load_set_module(folder: str, name: str):
    """A problem set's support module (solutions/<folder>/<name>.py, shipped with its notebook), imported by path."""
    import importlib.util
    import sys
    key = f"_set_{folder}_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "solutions" / folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tinyset")
    shutil.copytree(FIXTURES / "tinyset", root, dirs_exist_ok=True)
    ps = load_config(root / "grader_config.yaml").problem_set("tiny")
    write_outputs(parse_master(ps.master_path), ps)
    return root


@pytest.fixture(scope="session")
def tiny_ps(tiny_root):
    return load_config(tiny_root / "grader_config.yaml").problem_set("tiny")


@pytest.fixture(scope="session")
def tiny_ag(tiny_ps) -> Autograder:
    return Autograder.load(tiny_ps)


BACKENDS = ["local", "docker"]


def require_backend(backend: str) -> None:
    """Docker tests are never skipped: without an engine or the image they fail with the reason."""
    if backend == "docker":
        from autograder import docker_backend
        docker_backend.check_available()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    require_backend(request.param)
    return request.param


@pytest.fixture(scope="session")
def factory(tiny_ag, backend):
    f = KernelFactory(tiny_ag, slot=7, backend=backend)
    f.prestart()
    yield f
    f.close()


@pytest.fixture(scope="session")
def reference_nb(tiny_ps):
    return nbformat.read(str(tiny_ps.autograder_dir / "reference.ipynb"), as_version=4)


def with_cell(nb, code: str, *, after_function: str | None = None, replace_function: str | None = None):
    """A copy of `nb` with a code cell appended (or inserted after / replacing the cell defining a function)."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(code)
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and (after_function or replace_function) and \
                f"def {after_function or replace_function}(" in c.source:
            if replace_function:
                nb.cells[i] = cell
            else:
                nb.cells.insert(i + 1, cell)
            return nb
    nb.cells.append(cell)
    return nb


@pytest.fixture
def grade(tiny_ag, factory):
    def run(nb):
        return grade_notebook(nb, tiny_ag, factory)
    return run


def scores(record) -> dict:
    return {k: v["score"] for k, v in record["questions"].items() if not v["manual"]}


class _Lines:
    """A console stand-in that keeps what `validate` prints."""

    def __init__(self):
        self.lines = []

    def print(self, text, **_):
        self.lines.append(text)


def validation_report(key: str) -> list:
    """Run `mfdl validate KEY` on the repository's problem set; assert it passed; return its report lines."""
    from autograder.config import load_config as _load
    from autograder.validate import validate
    out = _Lines()
    assert validate(_load().problem_set(key), out), "\n".join(out.lines)
    return out.lines


def mutants_caught(lines: list) -> int:
    return sum(line.startswith("  [ok] mutant:") for line in lines)
