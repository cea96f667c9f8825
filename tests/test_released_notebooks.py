"""The committed student folders (assignments/) are exactly what `mfdl assign` makes from the masters (written
here into a temporary folder, never into the tree), and carry no solutions and no hidden tests."""
import json

import nbformat
import pytest

from autograder.authoring import folder_files, parse_master, write_student
from autograder.config import load_config

CONFIG = load_config()


def tree(folder):
    return {rel: path.read_bytes() for rel, path in folder_files(folder)}


@pytest.mark.parametrize("key", sorted(CONFIG.problem_sets))
def test_released_folder_is_current_and_clean(key, tmp_path):
    ps = CONFIG.problem_set(key)
    a = parse_master(ps.master_path)
    write_student(a, tmp_path, ps.notebook, keep_links=True)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_symlink()) == \
        sorted(p.name for p in ps.assignment_dir.iterdir() if p.is_symlink())  # links stay links
    released, fresh = tree(ps.assignment_dir), tree(tmp_path)
    assert sorted(released) == sorted(fresh), f"assignments/{ps.folder} is stale: run `mfdl assign {key}`"
    assert "mfdl_checks/checker.py" in released  # the check library reaches the student (through the link)
    stale = [name for name in fresh if released[name] != fresh[name]]
    assert not stale, f"assignments/{ps.folder}: {stale} differ from `mfdl assign {key}`'s output; rerun and commit"
    text = released[ps.notebook].decode()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "# SOLUTION" not in text
    nb = nbformat.reads(text, as_version=4)
    public = json.dumps(nb.metadata["otter"]["tests"])
    hidden = [t for q in a.questions for t in q.tests if t.hidden]
    assert hidden and not any(f"def {t.function}(" in public for t in hidden if t.function)
    assert "mfdl_reference" not in public  # hidden tests alone use the reference
