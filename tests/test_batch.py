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


# ----------------------------------------------------------------------------------------------------------
# Reading real notebooks (autograder/notebooks.py): encodings, outputs, sizes
# ----------------------------------------------------------------------------------------------------------
def _latin_notebook(reference_nb):
    """The reference with one cp1252 byte (0xE9) in a comment, as a Windows editor saves it."""
    nb = with_cell(reference_nb, "# caf\u00e9 notes: double was checked by hand\ny_check = 2\n",
                   after_function="double")
    data = nbformat.writes(nb).encode("utf-8").replace("caf\u00e9".encode(), b"caf\xe9")
    cell = next(i for i, c in enumerate(nb.cells, start=1) if "caf" in c.source)
    return data, cell


def test_non_utf8_byte_is_replaced_graded_and_located(tmp_path, tiny_ps, reference_nb):
    data, cell = _latin_notebook(reference_nb)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "lea.ipynb").write_bytes(data)
    out = tmp_path / "results"
    BatchGrader(tiny_ps, out, jobs=1).run(folder)
    row = _csv(out / "grades.csv")["lea"]
    assert row["total"] == "4"
    assert row["status"].startswith("graded; note: 1 byte") and f"cell {cell} line 1" in row["status"]
    assert f"cell {cell} line 1" in (out / "feedback" / "lea.md").read_text()


def _with_outputs(nb, total):
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    chunk = "[0.1234 0.5678 0.9012]\n" * 40000  # ~1 MB of printed arrays
    png = "iVBORw0KGgo" + "A" * 2**20
    i = 0
    while sum(len(o.get("text", "")) + len(o.get("data", {}).get("image/png", "")) for c in code for o in c.outputs) < total:
        cell = code[i % len(code)]
        cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": png}) if i % 2 else
                            nbformat.v4.new_output("stream", name="stdout", text=chunk))
        i += 1
    markdown = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if markdown is not None:  # a pasted image
        markdown.attachments = {"plot.png": {"image/png": png}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": png}}}
    return nb


def test_30mb_of_outputs_is_graded_and_read_in_two_copies_at_most(tmp_path, tiny_ps, reference_nb):
    import tracemalloc
    from autograder.submissions import read_submission
    size = 30 * 2**20
    path = tmp_path / "subs" / "max.ipynb"
    path.parent.mkdir()
    nbformat.write(_with_outputs(reference_nb, size), str(path))
    assert path.stat().st_size > size
    tracemalloc.start()
    data, _ = read_submission(path, tiny_ps.notebook)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the file's bytes and their decoded text (ASCII: one byte a character) are the only full copies
    assert peak < 2.2 * path.stat().st_size, (peak, path.stat().st_size)
    assert len(data) < 100_000 and b"iVBORw0KGgo" not in data  # outputs, attachments, widget state dropped
    out = tmp_path / "results"
    BatchGrader(tiny_ps, out, jobs=1).run(path.parent)
    row = _csv(out / "grades.csv")["max"]
    assert row["total"] == "4" and row["status"] == "graded"


def test_only_source_beyond_the_cap_is_refused(tmp_path, tiny_ag, reference_nb):
    from autograder.notebooks import MAX_SOURCE_BYTES, InvalidSubmission, read_notebook
    generated = with_cell(reference_nb, "# " + "x" * (MAX_SOURCE_BYTES + 10) + "\n")
    with pytest.raises(InvalidSubmission, match=r"MB of source .* over the 5 MB limit"):
        read_notebook(nbformat.writes(generated).encode())
    near = with_cell(reference_nb, "# " + "x" * (MAX_SOURCE_BYTES - 10_000) + "\n")
    assert read_notebook(nbformat.writes(near).encode()).cells  # just under: accepted
    for junk, words in [(b"%PDF-1.5\n" + bytes(range(256)) * 100, "not a text notebook"),
                        (b"\xef\xbb\xbf" + nbformat.writes(reference_nb).encode(), None)]:  # a UTF-8 BOM is fine
        if words:
            with pytest.raises(InvalidSubmission, match=words):
                read_notebook(junk)
        else:
            assert read_notebook(junk).cells


def test_a_students_own_reading_notes_are_not_trusted(reference_nb):
    from autograder.notebooks import NOTES_KEY, notes, read_notebook, stripped
    nb = nbformat.reads(nbformat.writes(reference_nb), as_version=4)
    nb.metadata[NOTES_KEY] = ["forged"]
    assert notes(read_notebook(stripped(nbformat.writes(nb).encode()))) == []


@pytest.fixture(scope="module")
def new_ps1_examples(tmp_path_factory):
    """The bundled PS1 examples added for real submissions, graded as `make demo` grades them."""
    from autograder.authoring import parse_master, write_outputs
    from autograder.config import load_config
    from conftest import REPO
    ps = load_config().problem_set("ps1")
    write_outputs(parse_master(ps.master_path), ps)
    folder = tmp_path_factory.mktemp("ps1_examples")
    for name in ("lea_cp1252_byte.ipynb", "max_30mb_of_outputs.ipynb", "nia_overwrites_x.ipynb", "ada_perfect.ipynb"):
        shutil.copy(REPO / "examples" / "ps1_backprop" / "submissions" / name, folder / name)
    out = folder / "results"
    BatchGrader(ps, out, jobs=2).run(folder)
    return _csv(out / "grades.csv"), out


def test_bundled_non_utf8_and_30mb_examples_keep_full_marks(new_ps1_examples):
    rows, out = new_ps1_examples
    from conftest import REPO
    assert (REPO / "examples" / "ps1_backprop" / "submissions" / "max_30mb_of_outputs.ipynb").stat().st_size > 30e6
    assert rows["lea_cp1252_byte"]["total"] == "36" and "cell 6 line 1" in rows["lea_cp1252_byte"]["status"]
    assert rows["lea_cp1252_byte"]["status"].startswith("graded; note:")
    assert rows["max_30mb_of_outputs"]["total"] == "36" and rows["max_30mb_of_outputs"]["status"] == "graded"


def test_bundled_argument_overwriting_example_loses_q7(new_ps1_examples):
    rows, _ = new_ps1_examples
    assert rows["ada_perfect"]["q7"] == "4"
    assert float(rows["nia_overwrites_x"]["q7"]) < 4 and rows["nia_overwrites_x"]["q1"] == "5"
