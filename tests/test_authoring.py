"""`mfdl assign`: the student notebook carries no solutions and no hidden tests; the build has everything."""
import json

import nbformat
import pytest

from autograder.authoring import AuthoringError, parse_master, strip_solution

from conftest import CANARY


def test_student_notebook_has_no_solutions_and_no_hidden_tests(tiny_ps):
    text = (tiny_ps.assignment_dir / tiny_ps.notebook).read_text()
    assert "return 2 * np.asarray(x)" not in text and "np.asarray(a) + np.asarray(b)" not in text
    assert CANARY not in text and "ref.double" not in text
    assert "2(a+b) = 2a + 2b" not in text  # the manual question's model answer
    nb = nbformat.reads(text, as_version=4)
    tests = {t["name"] for q in nb.metadata["mfdl"]["questions"] for t in q["tests"]}
    assert tests == {"test_double_small", "test_add_small"}
    sources = [c.source for c in nb.cells]
    assert any("grader = Notebook('tiny.ipynb')" in s for s in sources)
    assert 'grader.check("q1")' in sources and 'grader.check("q2")' in sources
    assert any("grader.export()" in s for s in sources)
    assert any("Type your answer here" in s for s in sources)


def test_autograder_build_has_all_tests_and_the_reference(tiny_ps):
    manifest = json.loads((tiny_ps.autograder_dir / "tests.json").read_text())
    hidden = [t for q in manifest["questions"] for t in q["tests"] if t["hidden"]]
    assert len(hidden) == 2 and any(CANARY in t["description"] for t in hidden)
    assert "return 2 * np.asarray(x)" in (tiny_ps.autograder_dir / "reference.py").read_text()
    points = {q["name"]: (q["points"], q["manual"]) for q in manifest["questions"]}
    assert points == {"q1": (2.0, False), "q2": (2.0, False), "q3": (3.0, True)}


def test_build_folder_is_git_ignored():
    from pathlib import Path
    ignored = (Path(__file__).parent.parent / ".gitignore").read_text().split()
    assert "build/" in ignored


def test_solution_markers():
    src = "def f(x):\n    # BEGIN SOLUTION\n    y = x + 1\n    return y\n    # END SOLUTION\nz = 3  # SOLUTION\n"
    assert strip_solution(src) == "def f(x):\n    ...\nz = ..."


def _master(tmp_path, test_cell, points=1):
    cells = [nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\nname: m"),
             nbformat.v4.new_raw_cell(f"# BEGIN QUESTION\nname: q1\npoints: {points}"),
             nbformat.v4.new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION"),
             nbformat.v4.new_raw_cell("# BEGIN TESTS"), nbformat.v4.new_code_cell(test_cell),
             nbformat.v4.new_raw_cell("# END TESTS"), nbformat.v4.new_raw_cell("# END QUESTION")]
    path = tmp_path / "m.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))
    return path


def test_public_test_may_not_use_the_reference(tmp_path):
    with pytest.raises(AuthoringError, match="public test cannot use `ref`"):
        parse_master(_master(tmp_path, "def test_a(f, ref):\n    assert f(1) == ref.f(1)"))


def test_points_must_add_up(tmp_path):
    cell = '""" # BEGIN TEST CONFIG\npoints: 3\n""" # END TEST CONFIG\ndef test_a(f):\n    pass'
    with pytest.raises(AuthoringError, match="add up to 3"):
        parse_master(_master(tmp_path, cell, points=1))


def test_test_cell_must_be_one_function(tmp_path):
    with pytest.raises(AuthoringError, match="exactly one function"):
        parse_master(_master(tmp_path, "x = 1\ndef test_a(f):\n    pass"))


def test_public_tests_share_question_points(tmp_path):
    a = parse_master(_master(tmp_path, "def test_a(f):\n    pass", points=4))
    assert a.questions[0].tests[0].points == 4
