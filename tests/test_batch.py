"""Batch grading: a mixed class folder grades completely, every row is written, and a killed batch resumes
without losing or redoing finished grades."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import nbformat
import pytest

from autograder.batch import BatchGrader

from conftest import CANARY, with_cell


@pytest.fixture
def class_folder(tmp_path, tiny_ps, reference_nb):
    folder = tmp_path / "subs"
    folder.mkdir()
    nbformat.write(reference_nb, str(folder / "alice.ipynb"))
    shutil.copy(tiny_ps.assignment_dir / tiny_ps.notebook, folder / "bob.ipynb")
    (folder / "carol.ipynb").write_text('{"cells": [')
    with zipfile.ZipFile(folder / "dave.zip", "w") as zf:
        zf.writestr("tiny.ipynb", nbformat.writes(reference_nb))
        zf.writestr(".OTTER_LOG", b"\x80\x04not a real pickle")
    hang = with_cell(reference_nb, "def double(x):\n    while True:\n        pass\n", replace_function="double")
    nbformat.write(hang, str(folder / "eve.ipynb"))
    (folder / "notes.txt").write_text("not a submission")
    return folder


def _csv(path):
    with open(path) as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def test_mixed_class_is_graded_completely(tmp_path, tiny_ps, class_folder):
    out = tmp_path / "results"
    summary = BatchGrader(tiny_ps, out, jobs=2).run(class_folder)
    assert summary["graded"] == 5
    rows = _csv(out / "grades.csv")
    assert set(rows) == {"alice", "bob", "carol", "dave", "eve"}
    assert [rows[s]["total"] for s in ("alice", "bob", "carol", "dave", "eve")] == ["4", "0", "0", "4", "2"]
    assert all(r["q3"] == "manual" for r in rows.values())
    assert rows["carol"]["status"].startswith("invalid") and rows["alice"]["status"] == "graded"
    assert rows["eve"]["q1"] == "0" and rows["eve"]["q2"] == "2"
    for s in rows:
        fb = (out / "feedback" / f"{s}.md").read_text()
        assert CANARY not in fb  # hidden tests are reported only as "a hidden test failed"
    assert "hidden tests failed" in (out / "feedback" / "bob.md").read_text()
    assert "did not return" in (out / "feedback" / "eve.md").read_text()
    stats = _csv_rows(out / "question_stats.csv")
    assert stats["q1"]["graded"] == "5" and stats["q3"]["graded"] == "manual"
    assert "batch done" in (out / "run.log").read_text()


def _csv_rows(path):
    with open(path) as fh:
        return {row["question"]: row for row in csv.DictReader(fh)}


def test_rerun_skips_finished_grades_and_regrades_changed_files(tmp_path, tiny_ps, class_folder, reference_nb):
    out = tmp_path / "results"
    BatchGrader(tiny_ps, out, jobs=1).run(class_folder)
    stamp = json.loads((out / "records" / "alice.json").read_text())["graded_at"]
    shutil.copy(class_folder / "alice.ipynb", class_folder / "bob.ipynb")  # bob resubmits
    time.sleep(1.1)
    summary = BatchGrader(tiny_ps, out, jobs=1).run(class_folder)
    assert summary["skipped"] == 4 and summary["graded"] == 1
    assert json.loads((out / "records" / "alice.json").read_text())["graded_at"] == stamp
    assert _csv(out / "grades.csv")["bob"]["total"] == "4"


def test_killed_batch_resumes_and_loses_nothing(tmp_path, tiny_root, reference_nb):
    folder = tmp_path / "subs"
    folder.mkdir()
    slow = with_cell(reference_nb, "import time\ntime.sleep(1.5)\n")
    for i in range(6):
        nbformat.write(slow, str(folder / f"s{i}.ipynb"))
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "autograder.cli", "--config", str(tiny_root / "grader_config.yaml"),
           "grade", "tiny", str(folder), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "records").glob("*.json"))) < 2:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.name: p.read_text() for p in (out / "records").glob("*.json")}
    assert 2 <= len(first) < 6
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=300)
    rows = _csv(out / "grades.csv")
    assert set(rows) == {f"s{i}" for i in range(6)} and all(r["total"] == "4" for r in rows.values())
    for name, text in first.items():  # grades finished before the kill were kept, not redone
        assert (out / "records" / name).read_text() == text
    leftovers = [p for p in (out / "records").iterdir() if p.name.startswith(".")]
    assert leftovers == []
