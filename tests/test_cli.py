"""`mfdl` as a TA types it: input that cannot be graded is one clear line and a nonzero exit, never a silent
empty batch; a single file, per-student folders and notebooks of another assignment are handled as documented
(README, "Commands")."""
import csv
import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import with_cell


def mfdl(tiny_root, *args, timeout=300):
    cmd = [sys.executable, "-m", "autograder.cli", "--config", str(tiny_root / "grader_config.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _one_error_line(proc, *words):
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, out
    assert len(out.splitlines()) == 1, out
    assert out.startswith("error: "), out
    for w in words:
        assert w in out, out
    return out


def _rows(out):
    with open(out / "grades.csv") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def test_empty_folder_is_an_error(tiny_root, tmp_path):
    (tmp_path / "subs").mkdir()
    _one_error_line(mfdl(tiny_root, "grade", "tiny", str(tmp_path / "subs"), "--out", str(tmp_path / "o")),
                    "is empty")
    assert not (tmp_path / "o").exists()  # nothing was started


def test_folder_without_notebooks_says_what_it_found(tiny_root, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("alice.pdf", "bob.pdf", "notes.txt"):
        (subs / name).write_text("x")
    (subs / "empty_dir").mkdir()
    _one_error_line(mfdl(tiny_root, "grade", "tiny", str(subs), "--out", str(tmp_path / "o")),
                    "no .ipynb or .zip", "2 .pdf files", "1 .txt file", "1 folder without notebooks")


def test_missing_path_and_wrong_file_type(tiny_root, tmp_path):
    _one_error_line(mfdl(tiny_root, "grade", "tiny", str(tmp_path / "nope"), "--out", str(tmp_path / "o")),
                    "does not exist")
    (tmp_path / "essay.pdf").write_text("x")
    _one_error_line(mfdl(tiny_root, "grade", "tiny", str(tmp_path / "essay.pdf"), "--out", str(tmp_path / "o")),
                    "not a notebook")


@pytest.mark.parametrize("value, words", [("0", "at least 1 (got 0)"), ("-3", "at least 1 (got -3)"),
                                          ("two", "whole number")])
def test_jobs_is_validated(tiny_root, tmp_path, tiny_ps, value, words):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(tiny_ps.assignment_dir / tiny_ps.notebook, subs / "bob.ipynb")
    _one_error_line(mfdl(tiny_root, "grade", "tiny", str(subs), "--out", str(tmp_path / "o"), "--jobs", value),
                    "--jobs", words)


def test_single_notebook_path_is_graded(tiny_root, tmp_path, reference_nb):
    nbformat.write(reference_nb, str(tmp_path / "alice.ipynb"))
    proc = mfdl(tiny_root, "grade", "tiny", str(tmp_path / "alice.ipynb"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {k: r["total"] for k, r in _rows(tmp_path / "o").items()} == {"alice": "4"}


def test_per_student_folders_and_another_assignment(tiny_root, tmp_path, reference_nb, tiny_ps):
    """An LMS download: one folder per student (named by the folder), mixed with loose files; a notebook of
    another assignment is flagged in the status (and on the console) and scores 0."""
    subs = tmp_path / "subs"
    (subs / "alice" / "attempt2").mkdir(parents=True)
    nbformat.write(reference_nb, str(subs / "alice" / "attempt2" / "tiny.ipynb"))
    (subs / "alice" / "readme.txt").write_text("my submission")
    (subs / "bob").mkdir()
    shutil.copy(tiny_ps.assignment_dir / tiny_ps.notebook, subs / "bob" / "whatever_name.ipynb")
    (subs / "carl").mkdir()  # two candidates, none named like the assignment: an error row, not a crash
    nbformat.write(reference_nb, str(subs / "carl" / "a.ipynb"))
    nbformat.write(reference_nb, str(subs / "carl" / "b.ipynb"))
    other = json.loads(nbformat.writes(reference_nb))
    other["metadata"]["otter"] = {"assignment_name": "ps9_other"}
    (subs / "dora.ipynb").write_text(json.dumps(other))
    unrelated = with_cell(nbformat.v4.new_notebook(), "import numpy as np\ndef f(z):\n    return z\n")
    nbformat.write(unrelated, str(subs / "eve.ipynb"))
    (subs / "__MACOSX").mkdir()
    proc = mfdl(tiny_root, "grade", "tiny", str(subs), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _rows(tmp_path / "o")
    assert set(rows) == {"alice", "bob", "carl", "dora", "eve"}
    assert rows["alice"]["total"] == "4" and rows["alice"]["status"] == "graded"
    assert rows["bob"]["total"] == "0" and rows["bob"]["status"].startswith("graded")
    assert rows["carl"]["status"].startswith("invalid") and "several files" in rows["carl"]["status"]
    assert rows["dora"]["status"] == "wrong assignment: ps9_other" and rows["dora"]["total"] == "0"
    assert rows["eve"]["status"] == "wrong assignment: unknown" and rows["eve"]["total"] == "0"
    assert "another assignment" in proc.stdout and "dora" in proc.stdout
    fb = (tmp_path / "o" / "feedback" / "dora.md").read_text()
    assert "belongs to assignment 'ps9_other'" in fb


def test_authoring_error_is_one_line(tmp_path):
    master = nbformat.v4.new_notebook()
    master.cells = [nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\nno_such_key: true\n"),
                    nbformat.v4.new_markdown_cell("<!-- BEGIN QUESTION -->\n**q1**"),
                    nbformat.v4.new_raw_cell("# BEGIN QUESTION\nname: q1\n")]
    path = tmp_path / "master.ipynb"
    nbformat.write(master, str(path))
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "assign", str(path), "--out", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=120)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2 and len(out.splitlines()) == 1 and out.startswith("error: "), out
    assert "Traceback" not in out
