"""Files submitted with the notebook (Otter's `export_cell: files`), e.g. a trained network: they travel in the
export zip, reach the tests as parsed JSON (never unpickled, size-capped), and a missing or broken file costs
only the questions that need it. Cells tagged `otter_ignore` (minutes of training) are never run by the grader."""
from __future__ import annotations

import io
import json
import shutil
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

from pathlib import Path

import autograder.mfdl_checks as mfdl_checks
from autograder.authoring import AuthoringError, parse_master, write_outputs
from autograder.batch import BatchGrader
from autograder.config import load_config
from autograder.engine import Autograder, KernelFactory, grade_bytes, grade_notebook
from autograder.submissions import read_loose_files, read_submission
from autograder.submitted_files import MAX_FILE_BYTES

from conftest import scores

CONFIG = """
defaults:
  limits: {memory_mb: 1024, cell_timeout_s: 5, test_timeout_s: 5, notebook_timeout_s: 60}
problem_sets:
  files:
    title: "Problem set with a submitted file"
    folder: withfiles
    notebook: withfiles.ipynb
    preload: [numpy]
"""
CHECKS = "analytic: {rule: higham_rounding, input_roundings: 1}\n"

TRAIN = ("# Train (slow), then save the result: the grader grades answer.json and never runs this cell\n"
         "import json\nwith open('answer.json', 'w') as fh:\n    json.dump({'value': solve()}, fh)")


def _master(files_line: str = "  files: [answer.json]\n"):
    raw, md, code = nbformat.v4.new_raw_cell, nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    train = code(TRAIN)
    train.metadata["tags"] = ["otter_ignore"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        raw("# ASSIGNMENT CONFIG\nname: withfiles\ntests:\n  ok_format: false\nfiles: [mfdl_checks, checks.yaml]\n"
            "export_cell:\n  pdf: false\n" + files_line),
        code("import numpy as np"),
        raw("# BEGIN QUESTION\nname: q1\npoints: 1"),
        raw("# BEGIN SOLUTION"),
        code("def solve():\n    # BEGIN SOLUTION\n    return 42\n    # END SOLUTION"),
        raw("# END SOLUTION"),
        raw("# BEGIN TESTS"),
        code('""" # BEGIN TEST CONFIG\npoints: 1\n""" # END TEST CONFIG\n'
             'def test_solve(solve):\n    """solve() is 42"""\n    from mfdl_checks import check\n'
             '    check.true(solve() == 42, "solve() should return 42")'),
        raw("# END TESTS"), raw("# END QUESTION"),
        raw("# BEGIN QUESTION\nname: q2\npoints: 2"),
        train,
        raw("# BEGIN TESTS"),
        code('""" # BEGIN TEST CONFIG\npoints: 2\n""" # END TEST CONFIG\n'
             'def test_saved_answer():\n    """answer.json holds the value 42"""\n'
             '    from mfdl_checks import check, submitted_file\n'
             '    data = submitted_file("answer.json")\n'
             '    check.true(isinstance(data, dict) and data.get("value") == 42, f"answer.json holds {data!r}")'),
        raw("# END TESTS"), raw("# END QUESTION"),
    ]
    return nb


@pytest.fixture(scope="module")
def ps(tmp_path_factory):
    root = tmp_path_factory.mktemp("withfiles")
    (root / "grader_config.yaml").write_text(CONFIG)
    (root / "solutions" / "withfiles").mkdir(parents=True)
    (root / "solutions" / "withfiles" / "checks.yaml").write_text(CHECKS)
    (root / "solutions" / "withfiles" / "mfdl_checks").symlink_to(Path(mfdl_checks.__file__).parent)
    nbformat.write(_master(), str(root / "solutions" / "withfiles" / "withfiles.ipynb"))
    ps = load_config(root / "grader_config.yaml").problem_set("files")
    write_outputs(parse_master(ps.master_path), ps)
    return ps


@pytest.fixture(scope="module")
def ag(ps):
    return Autograder.load(ps)


@pytest.fixture(scope="module")
def kernels(ag):
    f = KernelFactory(ag, slot=9)
    f.prestart()
    yield f
    f.close()


@pytest.fixture(scope="module")
def reference(ps):
    return nbformat.read(str(ps.autograder_dir / "reference.ipynb"), as_version=4)


def _zip(nb, files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("withfiles.ipynb", nbformat.writes(nb))
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _grade_zip(tmp_path, ag, kernels, nb, files):
    path = tmp_path / "student.zip"
    path.write_bytes(_zip(nb, files))
    data, got = read_submission(path, "withfiles.ipynb", ag.submission_files)
    return grade_bytes(data, ag, kernels, got)


def test_the_declared_file_is_graded_and_the_ignored_cell_never_runs(tmp_path, ag, kernels, reference):
    assert ag.submission_files == ["answer.json"]
    nb = reference
    assert any("otter_ignore" in c.metadata.get("tags", []) for c in nb.cells)
    # The ignored cell would fail in the grader (no answer to write, and this one raises): it is not run.
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    boom = nbformat.v4.new_code_cell("raise RuntimeError('an otter_ignore cell ran during grading')")
    boom.metadata["tags"] = ["otter_ignore"]
    nb.cells.insert(2, boom)
    rec = _grade_zip(tmp_path, ag, kernels, nb, {"answer.json": json.dumps({"value": 42})})
    assert scores(rec) == {"q1": 1.0, "q2": 2.0}
    assert rec["issues"] == [] and rec["submitted_files"] == ["answer.json"]


def test_reference_source_leaves_out_ignored_cells(ps):
    source = (ps.autograder_dir / "reference.py").read_text()
    assert "def solve" in source and "answer.json" not in source


@pytest.mark.parametrize("content, message", [
    (None, "answer.json is not in your submission"),
    (b"{not json", "answer.json is not a valid JSON file"),
    (b"\xff\xfe\x00binary", "answer.json is not a valid JSON file"),
    (b"[" * 100_000 + b"]" * 100_000, "answer.json is not a valid JSON file"),  # deep nesting
    (json.dumps({"value": 41}).encode(), "answer.json holds {'value': 41}"),
    (b" " * (MAX_FILE_BYTES + 10), "over the 5 MB limit"),
])
def test_a_missing_or_broken_file_costs_only_its_question(tmp_path, ag, kernels, reference, content, message):
    files = {} if content is None else {"answer.json": content}
    rec = _grade_zip(tmp_path, ag, kernels, reference, files)
    assert scores(rec) == {"q1": 1.0, "q2": 0.0}
    (failed,) = [t for t in rec["tests"] if not t["passed"]]
    assert message in failed["message"]


def test_a_bare_notebook_carries_no_files_and_says_how_to_submit_them(tmp_path, ag, kernels, ps):
    path = tmp_path / "alice.ipynb"
    shutil.copy(ps.autograder_dir / "reference.ipynb", path)
    data, files = read_submission(path, "withfiles.ipynb", ag.submission_files)
    assert files == {}
    rec = grade_bytes(data, ag, kernels, files)
    assert scores(rec) == {"q1": 1.0, "q2": 0.0}
    assert "grader.export()" in [t for t in rec["tests"] if not t["passed"]][0]["message"]


def test_zip_reading_caps_each_file_and_prefers_the_copy_beside_the_notebook(tmp_path, ag):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sub/withfiles.ipynb", "{}")
        zf.writestr("answer.json", "outer")
        zf.writestr("sub/answer.json", "inner")
        zf.writestr("__MACOSX/sub/answer.json", "resource fork")
        zf.writestr("sub/other.json", "not declared")
    _, files = read_submission(path, "withfiles.ipynb", ["answer.json"])
    assert files == {"answer.json": b"inner"}
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("withfiles.ipynb", "{}")
        zf.writestr("answer.json", b"0" * (200 * 2**20))  # 200 MB of zeros, compresses to ~200 KB
    _, files = read_submission(bomb, "withfiles.ipynb", ["answer.json"])
    assert len(files["answer.json"]) == MAX_FILE_BYTES + 1  # read stops at the cap


def test_gradescope_reads_files_uploaded_beside_the_notebook(tmp_path):
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "answer.json").write_text('{"value": 42}')
    (tmp_path / "unrelated.json").write_text("{}")
    assert read_loose_files(tmp_path, ["answer.json", "missing.json"]) == {"answer.json": b'{"value": 42}'}
    (tmp_path / "nested" / "answer.json").unlink()
    (tmp_path / "secret.json").write_text('{"hidden": 1}')
    (tmp_path / "nested" / "answer.json").symlink_to(tmp_path / "secret.json")  # a link out is not followed
    assert read_loose_files(tmp_path, ["answer.json"]) == {}


def test_authoring_rejects_file_names_with_folders(tmp_path):
    path = tmp_path / "m.ipynb"
    nbformat.write(_master("  files: [../secrets/answer.json]\n"), str(path))
    with pytest.raises(AuthoringError, match="plain .json file names"):
        parse_master(path)


def _student_folder(tmp_path, ps):
    """The released folder as a student has it (notebook + support files)."""
    folder = tmp_path / "student"
    shutil.copytree(ps.assignment_dir, folder)
    return folder


def test_student_checks_the_saved_file_and_export_zips_it(tmp_path, ps, ag, kernels):
    """The student runs everything (the training cell too), self-checks pass, and the exported zip grades full."""
    folder = _student_folder(tmp_path, ps)
    nb = nbformat.read(str(ps.autograder_dir / "reference.ipynb"), as_version=4)
    nb.metadata["otter"] = nbformat.read(str(ps.assignment_dir / ps.notebook), as_version=4).metadata["otter"]
    path = folder / ps.notebook
    nbformat.write(nb, str(path))
    tmp_path = folder
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    checks = ["".join(o.get("data", {}).get("text/plain", "") for o in c.get("outputs", []))
              for c in nb.cells if c.cell_type == "code" and c.source.startswith("grader.check(")]
    assert len(checks) == 2 and all("All test cases passed" in c for c in checks), checks
    (zpath,) = tmp_path.glob("withfiles_*.zip")
    with zipfile.ZipFile(zpath) as zf:
        assert {"answer.json", "withfiles.ipynb"} <= set(zf.namelist())  # and Otter's log, never read
    data, files = read_submission(zpath, ps.notebook, ag.submission_files)
    assert scores(grade_bytes(data, ag, kernels, files)) == {"q1": 1.0, "q2": 2.0}


def test_student_export_fails_when_the_file_is_missing(tmp_path, ps):
    """Stock Otter's export stops on a declared file that does not exist, naming it."""
    tmp_path = _student_folder(tmp_path, ps)
    path = tmp_path / ps.notebook
    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if "otter_ignore" not in c.metadata.get("tags", [])]  # never trained
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    export = [c for c in nb.cells if c.cell_type == "code" and "grader.export(" in c.source][0]
    errors = [o for o in export.outputs if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "FileNotFoundError" and "answer.json" in errors[0]["evalue"]


def test_batch_grades_zips_with_files(tmp_path, ps):
    subs = tmp_path / "subs"
    subs.mkdir()
    ref = nbformat.read(str(ps.autograder_dir / "reference.ipynb"), as_version=4)
    (subs / "ada.zip").write_bytes(_zip(ref, {"answer.json": '{"value": 42}'}))
    (subs / "bo.zip").write_bytes(_zip(ref, {}))
    out = tmp_path / "out"
    BatchGrader(ps, out, jobs=1).run(subs)
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1].startswith("ada,1,2,3") and rows[2].startswith("bo,1,0,1")
    assert "not in your submission" in (out / "feedback" / "bo.md").read_text()
