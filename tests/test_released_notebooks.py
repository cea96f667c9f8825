"""The committed student notebooks (assignments/) are exactly what `mfdl assign` makes from the masters, and
carry no solutions and no hidden tests."""
import nbformat
import pytest

from autograder.authoring import build_notebook, parse_master
from autograder.config import load_config

CONFIG = load_config()


@pytest.mark.parametrize("key", sorted(CONFIG.problem_sets))
def test_released_notebook_is_current_and_clean(key):
    ps = CONFIG.problem_set(key)
    released = nbformat.read(str(ps.assignment_dir / ps.notebook), as_version=4)
    a = parse_master(ps.master_path)
    fresh = build_notebook(a, a.student_cells, ps.check_specs, ps.notebook)
    assert [c.source for c in released.cells] == [c.source for c in fresh.cells], \
        f"assignments/{ps.folder} is stale: run `mfdl assign {key}` and commit it"
    assert released.metadata["mfdl"] == fresh.metadata["mfdl"]
    text = nbformat.writes(released)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    hidden_names = {t.name for q in a.questions for t in q.tests if t.hidden}
    public_names = {t["name"] for q in released.metadata["mfdl"]["questions"] for t in q["tests"]}
    assert hidden_names and not (hidden_names & public_names)
    assert not any(f"def {name}(" in text for name in hidden_names)
