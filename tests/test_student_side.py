"""The student's experience: the stub runs top to bottom in Jupyter, `grader.check` reports public tests,
`grader.export()` writes a zip that the trusted grader accepts (with no pickled log in it)."""
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
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _outputs(nb, tag):
    return ["".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in c.get("outputs", []))
            for c in nb.cells if tag in c.metadata.get("tags", [])]


def _errors(nb):
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.fixture
def workdir(tmp_path, tiny_ps):
    return tmp_path


def test_stub_runs_top_to_bottom_and_checks_fail_gracefully(workdir, tiny_ps):
    path = workdir / tiny_ps.notebook
    shutil.copy(tiny_ps.assignment_dir / tiny_ps.notebook, path)
    nb = _run(path, workdir)
    assert _errors(nb) == []
    checks = _outputs(nb, "mfdl-check")
    assert len(checks) == 2 and all("FAILED" in c and "stub" in c for c in checks)


def test_reference_passes_self_checks_and_exports_a_gradable_zip(workdir, tiny_ps, tiny_ag, factory):
    path = workdir / tiny_ps.notebook
    shutil.copy(tiny_ps.autograder_dir / "reference.ipynb", path)
    nb = _run(path, workdir)
    assert _errors(nb) == []
    assert all("All public tests passed" in c for c in _outputs(nb, "mfdl-check"))
    zips = list(workdir.glob("tiny_*.zip"))
    assert len(zips) == 1
    with zipfile.ZipFile(zips[0]) as zf:
        assert zf.namelist() == ["tiny.ipynb"]
    rec = grade_bytes(read_submission(zips[0], "tiny.ipynb")[0], tiny_ag, factory)
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}


def test_self_check_reports_the_tolerance_in_words(workdir, tiny_ps):
    path = workdir / tiny_ps.notebook
    nb = nbformat.read(str(tiny_ps.autograder_dir / "reference.ipynb"), as_version=4)
    for c in nb.cells:
        if "def double(" in c.source:
            c.source = "def double(x):\n    return 2.001 * np.asarray(x)"
    nbformat.write(nb, str(path))
    out = _run(path, workdir)
    text = _outputs(out, "mfdl-check")[0]
    assert "q1 results" in text and "bug, not round-off" in text and "Higham" in text
