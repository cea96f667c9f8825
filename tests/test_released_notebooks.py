"""The committed student folders (assignments/) are exactly what `mfdl assign` makes from the masters (written
here into a temporary folder, never into the tree), and carry no solutions and no hidden tests."""
import json

import nbformat
import pytest

from autograder.authoring import parse_master, write_student
from autograder.config import load_config

CONFIG = load_config()


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("key", sorted(CONFIG.problem_sets))
def test_released_folder_is_current_and_clean(key, tmp_path):
    ps = CONFIG.problem_set(key)
    a = parse_master(ps.master_path)
    write_student(a, tmp_path, ps.notebook)
    released, fresh = tree(ps.assignment_dir), tree(tmp_path)
    assert sorted(released) == sorted(fresh), f"assignments/{ps.folder} is stale: run `mfdl assign {key}`"
    stale = [name for name in fresh if released[name] != fresh[name]]
    assert not stale, f"assignments/{ps.folder}: {stale} differ from `mfdl assign {key}`'s output; rerun and commit"
    text = released[ps.notebook].decode()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "# SOLUTION" not in text
    nb = nbformat.reads(text, as_version=4)
    public = json.dumps(nb.metadata["otter"]["tests"])
    hidden = [t for q in a.questions for t in q.tests if t.hidden]
    assert hidden and not any(f"def {t.function}(" in public for t in hidden if t.function)
    assert "mfdl_reference" not in public  # hidden tests alone use the reference
