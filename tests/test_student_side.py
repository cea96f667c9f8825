"""The student's experience with stock Otter: the released folder (notebook + support files) runs top to
bottom in Jupyter, `grader.check` (otter.Notebook) runs our public tests with our explanations, and the zip
`grader.export()` writes is graded by the trusted grader (its pickled log is never read)."""
import shutil
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.engine import grade_bytes
from autograder.submissions import read_submission

from conftest import scores


def _run(nb_path, workdir):
    nb = nbformat.read(str(nb_path), as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _check_outputs(nb):
    """Text of every `grader.check(...)` cell's output, in order."""
    return ["".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in c.get("outputs", []))
            for c in nb.cells if c.cell_type == "code" and c.source.startswith("grader.check(")]


def _errors(nb):
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def solved_notebook(tiny_ps):
    """The released notebook as a student who solved everything has it: the master's solutions, and only the
    public tests in its metadata (the build's reference notebook carries the hidden ones too)."""
    solved = nbformat.read(str(tiny_ps.autograder_dir / "reference.ipynb"), as_version=4)
    released = nbformat.read(str(tiny_ps.assignment_dir / tiny_ps.notebook), as_version=4)
    solved.metadata["otter"] = released.metadata["otter"]
    return solved


@pytest.fixture
def workdir(tmp_path, tiny_ps):
    """A student's folder: the released notebook's folder as handed out (support files included)."""
    folder = tmp_path / "student"
    shutil.copytree(tiny_ps.assignment_dir, folder)
    return folder


def test_released_notebook_uses_stock_otter(tiny_ps):
    nb = nbformat.read(str(tiny_ps.assignment_dir / tiny_ps.notebook), as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "import otter" in first_code.source and "otter.Notebook(" in first_code.source
    assert "autograder" not in nbformat.writes(nb)  # nothing of this repository is imported


def test_stub_runs_top_to_bottom_and_checks_fail_gracefully(workdir, tiny_ps):
    nb = _run(workdir / tiny_ps.notebook, workdir)
    assert _errors(nb) == []
    checks = _check_outputs(nb)
    assert len(checks) == 2 and all("failed" in c.lower() and "stub" in c for c in checks), checks


def test_reference_passes_self_checks_and_exports_a_gradable_zip(workdir, tiny_ps, tiny_ag, factory):
    nbformat.write(solved_notebook(tiny_ps), str(workdir / tiny_ps.notebook))
    nb = _run(workdir / tiny_ps.notebook, workdir)
    assert _errors(nb) == []
    checks = _check_outputs(nb)
    assert checks and all("All test cases passed" in c for c in checks), checks
    zips = list(workdir.glob("tiny_*.zip"))
    assert len(zips) == 1
    with zipfile.ZipFile(zips[0]) as zf:
        assert "tiny.ipynb" in zf.namelist() and ".OTTER_LOG" in zf.namelist()  # Otter's pickled log: never read
    rec = grade_bytes(read_submission(zips[0], "tiny.ipynb")[0], tiny_ag, factory)
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}


def test_self_check_reports_the_tolerance_in_words(workdir, tiny_ps):
    nb = solved_notebook(tiny_ps)
    for c in nb.cells:
        if "def double(" in c.source:
            c.source = "def double(x):\n    return 2.001 * np.asarray(x)"
    nbformat.write(nb, str(workdir / tiny_ps.notebook))
    text = _check_outputs(_run(workdir / tiny_ps.notebook, workdir))[0]
    assert "q1 results" in text and "bug, not round-off" in text and "Higham" in text, text
