"""`mfdl assign`: Otter Assign v1 masters read as otter-grader 7 reads them; student notebook equal to Otter's;
the build's manifest with Otter's points; every ASSIGNMENT CONFIG key implemented or refused by name."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from autograder.authoring import (REFERENCE_MODULE, AuthoringError, assign_path, manifest, parse_master,
                                  reference_module_text, reference_source)
from autograder.otter_format import replace_solutions, strip_ignored, student_notebook

from conftest import CANARY

HERE = Path(__file__).parent
MASTERS = HERE / "fixtures" / "otter_masters"
KERNEL = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}


def write_master(tmp_path, cells, name="m.ipynb") -> Path:
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells, metadata=KERNEL), str(path))
    return path


def code(src, out=None):
    cell = new_code_cell(src)
    if out is not None:
        cell.outputs = [new_output("execute_result", data={"text/plain": out}, execution_count=1)]
    return cell


def question(name_yaml, solution, tests=(), manual=False):
    cells = [new_raw_cell(f"# BEGIN QUESTION\n{name_yaml}"), new_markdown_cell("Prompt.")]
    if solution is not None:
        cells += [new_raw_cell("# BEGIN SOLUTION"), solution, new_raw_cell("# END SOLUTION")]
    if tests:
        cells += [new_raw_cell("# BEGIN TESTS"), *tests, new_raw_cell("# END TESTS")]
    return cells + [new_raw_cell("# END QUESTION")]


def config(text):
    return new_raw_cell("# ASSIGNMENT CONFIG\n" + text)


def sources(nb):
    return [c.source for c in nb.cells]


def points(path) -> dict:
    m = manifest(parse_master(path))
    return {q["name"]: (q["points"], [t["points"] for t in q["tests"]]) for q in m["questions"]}


# ---------------------------------------------------------------------------------------------------------
# The configured tiny set (legacy master: exception tests without `tests: ok_format: false`)
# ---------------------------------------------------------------------------------------------------------
def test_tiny_set_student_notebook_is_otters_and_has_no_solutions(tiny_ps):
    text = (tiny_ps.assignment_dir / tiny_ps.notebook).read_text()
    assert "return 2 * np.asarray(x)" not in text and "np.asarray(a) + np.asarray(b)" not in text
    assert CANARY not in text and "ref.double" not in text
    assert "2(a+b) = 2a + 2b" not in text
    nb = nbformat.reads(text, as_version=4)
    assert nb.cells[0].source == '# Initialize Otter\nimport otter\ngrader = otter.Notebook("tiny.ipynb")'
    assert 'grader.check("q1")' in sources(nb) and 'grader.check("q2")' in sources(nb)
    assert nb.metadata["otter"]["assignment_name"] == "tiny" and nb.metadata["otter"]["OK_FORMAT"] is False
    assert set(nb.metadata["otter"]["tests"]) == {"q1", "q2"}
    assert "test_double_small" in nb.metadata["otter"]["tests"]["q1"]
    answers = [c for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", [])]
    assert [c.cell_type for c in answers] == ["code", "code", "markdown"]
    assert answers[0].source == 'def double(x):\n    """Return 2 x."""\n    ...'


def test_tiny_set_build_has_all_tests_and_the_reference(tiny_ps):
    m = json.loads((tiny_ps.autograder_dir / "tests.json").read_text())
    hidden = [t for q in m["questions"] for t in q["tests"] if t["hidden"]]
    assert len(hidden) == 2 and any(CANARY in t["description"] for t in hidden)
    assert all(t["kind"] == "function" and t["function"] == t["name"] for q in m["questions"] for t in q["tests"])
    assert "return 2 * np.asarray(x)" in (tiny_ps.autograder_dir / "reference.py").read_text()
    assert {q["name"]: (q["points"], q["manual"]) for q in m["questions"]} == {
        "q1": (2.0, False), "q2": (2.0, False), "q3": (3.0, True)}
    t = m["questions"][0]["tests"][1]
    assert t["params"] == ["double", "ref", "check", "np"]  # old-style names kept as ordinary parameters
    assert m["checks"] and m["seed"] == {"value": None, "variable": None}


def test_build_folder_is_git_ignored():
    ignored = (HERE.parent / ".gitignore").read_text().split()
    assert "build/" in ignored


# ---------------------------------------------------------------------------------------------------------
# Solution syntax (Otter's rules)
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("src, want", [
    ("x = 2 # SOLUTION", "x = ..."),
    ("a, b = 1, 2  # SOLUTION", "a, b = ..."),
    ("d['k'] = 3 # SOLUTION", "d['k'] = ..."),
    ("    return x + 1 # SOLUTION", "    ..."),
    ("def f(x):\n    # BEGIN SOLUTION\n    y = x\n    return y\n    # END SOLUTION\nz = 1", "def f(x):\n    ...\nz = 1"),
    ("def f(x):\n    # BEGIN SOLUTION NO PROMPT\n    return x\n    # END SOLUTION", "def f(x):"),
    ("plt.plot(x) # SOLUTION NO PROMPT\n\"\"\" # BEGIN PROMPT\nplt.plot(...)\n\"\"\" # END PROMPT", "plt.plot(...)"),
    ("np.random.seed(4) # SEED\nz = 1", "z = 1"),
])
def test_solution_lines_become_prompts(src, want):
    assert "\n".join(replace_solutions(src.split("\n"))) == want


def test_ignored_lines_and_blocks_leave_every_notebook():
    src = "a = 1\nprint(a) # IGNORE\n# BEGIN IGNORE\nb = 2\n# END IGNORE\nc = 3"
    assert strip_ignored(src.split("\n")) == ["a = 1", "c = 3"]
    with pytest.raises(AuthoringError, match="BEGIN IGNORE` without"):
        strip_ignored(["# BEGIN IGNORE", "x"])


def test_unclosed_solution_block_is_one_line_error(tmp_path):
    path = write_master(tmp_path, [config("name: m")] + question(
        "name: q1", code("def f():\n    # BEGIN SOLUTION\n    return 1"), [code("f()", "1")]))
    with pytest.raises(AuthoringError, match="BEGIN SOLUTION` without `# END SOLUTION") as exc:
        student_notebook(parse_master(path).master)
    assert "\n" not in str(exc.value)


def test_student_cells_answer_tags_manual_prompt_and_dropped_cells(tmp_path):
    cells = [config("name: m"), code("## ignore ##\nsecret = 1"), code("# ignore this cell too")]
    cells += question("name: q1", code("x = 2 # SOLUTION"), [code("x", "2")])
    cells += question("name: q2\nmanual: true\npoints: 2", new_markdown_cell("Model answer."))
    nb = student_notebook(parse_master(write_master(tmp_path, cells)).master)
    src = sources(nb)
    assert "secret = 1" not in "\n".join(src) and "Model answer." not in src
    assert "x = ..." in src and "_Type your answer here, replacing this text._" in src
    tagged = [c.source for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", [])]
    assert tagged == ["x = ...", "_Type your answer here, replacing this text._"]
    assert "<!-- BEGIN QUESTION -->" in src[src.index("_Type your answer here, replacing this text._") - 1]
    assert nb.metadata["otter"]["tests"]["q1"]["suites"][0]["cases"][0]["code"] == ">>> x\n2"


def test_markdown_fenced_config_cells(tmp_path):
    cells = [new_markdown_cell("```otter\n# ASSIGNMENT CONFIG\nname: fenced\n```"),
             new_markdown_cell("```otter\n# BEGIN QUESTION\nname: q1\n```\n\n**Q1** text"),
             new_raw_cell("# BEGIN SOLUTION"), code("x = 1 # SOLUTION"), new_raw_cell("# END SOLUTION"),
             new_raw_cell("# BEGIN TESTS"), code("x", "1"), new_raw_cell("# END TESTS"),
             new_markdown_cell("```otter\n# END QUESTION\n```")]
    a = parse_master(write_master(tmp_path, cells))
    assert a.name == "fenced" and [q.name for q in a.questions] == ["q1"]
    assert "**Q1** text" in sources(student_notebook(a.master))


# ---------------------------------------------------------------------------------------------------------
# Tests: doctests and exception-based tests
# ---------------------------------------------------------------------------------------------------------
def test_doctest_cases_hidden_flags_and_messages(tmp_path):
    tests = [code("x + 1", "3"), code("# HIDDEN\nx * 2", "4"),
             code('""" # BEGIN TEST CONFIG\nhidden: true\nsuccess_message: good\nfailure_message: bad\n'
                  '""" # END TEST CONFIG\nassert x == 2')]
    m = manifest(parse_master(write_master(tmp_path, [config("name: m")] + question(
        "name: q1", code("x = 2 # SOLUTION"), tests))))
    got = [(t["name"], t["kind"], t["source"], t["hidden"], t["success_message"], t["failure_message"])
           for t in m["questions"][0]["tests"]]
    assert got == [("q1 - 1", "doctest", ">>> x + 1\n3", False, None, None),
                   ("q1 - 2", "doctest", ">>> x * 2\n4", True, None, None),
                   ("q1 - 3", "doctest", ">>> assert x == 2\n", True, "good", "bad")]


def test_exception_tests_function_params_call_line_and_hidden(tmp_path):
    tests = [code('def test_a(x, f):\n    """x and f agree"""\n    # keep this comment\n    assert f(x) == 3\n\n'
                  "test_a(x, f)"),
             code("# HIDDEN\ndef test_b(f):\n    assert f(0) == 1")]
    path = write_master(tmp_path, [config("name: m\ntests:\n    ok_format: false")] + question(
        "name: q1", code("x = 2 # SOLUTION\ndef f(v):\n    return v + 1 # SOLUTION"), tests))
    t1, t2 = manifest(parse_master(path))["questions"][0]["tests"]
    assert (t1["name"], t1["kind"], t1["function"], t1["params"], t1["hidden"]) == ("test_a", "function", "test_a",
                                                                                    ["x", "f"], False)
    assert t1["source"] == 'def test_a(x, f):\n    """x and f agree"""\n    # keep this comment\n    assert f(x) == 3\n'
    assert t1["description"] == "x and f agree" and t2["hidden"] and t2["description"] == "test_b"
    assert "def test_b" not in json.dumps(student_notebook(parse_master(path).master).metadata["otter"])


def test_exception_test_cell_must_be_a_function(tmp_path):
    path = write_master(tmp_path, [config("name: m\ntests:\n    ok_format: false")] + question(
        "name: q1", code("x = 2 # SOLUTION"), [code("assert x == 2")]))
    with pytest.raises(AuthoringError, match=r"^cell \d+ \(a test of question q1\): an exception-based test cell"):
        parse_master(path)


# ---------------------------------------------------------------------------------------------------------
# Points (Otter's rules)
# ---------------------------------------------------------------------------------------------------------
def _pts_master(tmp_path, q_yaml, test_points):
    tests = []
    for p in test_points:
        head = f'""" # BEGIN TEST CONFIG\npoints: {p}\n""" # END TEST CONFIG\n' if p is not None else ""
        tests.append(code(head + "x", "1"))
    return write_master(tmp_path, [config("name: m")] + question(q_yaml, code("x = 1 # SOLUTION"), tests))


@pytest.mark.parametrize("q_yaml, test_points, want", [
    ("name: q1", [None, None], (1.0, [0.5, 0.5])),                        # no points: the question is worth 1
    ("name: q1\npoints: 4", [None, None], (4.0, [2.0, 2.0])),
    ("name: q1\npoints: 4", [1, None], (4.0, [1.0, 3.0])),
    ("name: q1", [2, None], (2.0, [2.0, 0.0])),                           # unpointed beside pointed: 0
    ("name: q1\npoints:\n    each: 0.75", [None, None, None], (2.25, [0.75, 0.75, 0.75])),
    ("name: q1\npoints: [1, 2.5]", [None, None], (3.5, [1.0, 2.5])),
])
def test_points_forms(tmp_path, q_yaml, test_points, want):
    assert points(_pts_master(tmp_path, q_yaml, test_points))["q1"] == want


def test_public_test_worth_zero_when_only_hidden_carry_points(tmp_path):
    tests = [code("x", "1"), code('""" # BEGIN TEST CONFIG\nhidden: true\npoints: 2\n""" # END TEST CONFIG\nx', "1")]
    path = write_master(tmp_path, [config("name: m")] + question("name: q1", code("x = 1 # SOLUTION"), tests))
    assert points(path)["q1"] == (2.0, [0.0, 2.0])


@pytest.mark.parametrize("q_yaml, test_points, msg", [
    ("name: q1\npoints: 1", [3, None], "add up to 3, more than the question's 1"),
    ("name: q1\npoints: [1, 2, 3]", [None, None], "lists 3 values but the question has 2 tests"),
    ("name: q1\npoints: lots", [None], "`points` must be a number"),
])
def test_points_errors(tmp_path, q_yaml, test_points, msg):
    with pytest.raises(AuthoringError, match=msg):
        parse_master(_pts_master(tmp_path, q_yaml, test_points))


def test_manual_untested_and_all_or_nothing(tmp_path):
    cells = [config("name: m")]
    cells += question("name: q1\nall_or_nothing: true", code("x = 1 # SOLUTION"), [code("x", "1")])
    cells += question("name: q2\nmanual: true", new_markdown_cell("answer"))
    cells += question("name: q3", code("y = 1 # SOLUTION"))
    m = manifest(parse_master(write_master(tmp_path, cells)))
    qs = {q["name"]: q for q in m["questions"]}
    assert qs["q1"]["all_or_nothing"] and qs["q2"]["manual"] and qs["q2"]["points"] == 0
    assert "q3" not in qs and m["untested_questions"] == ["q3"]  # Otter writes no test file: never scored


# ---------------------------------------------------------------------------------------------------------
# ASSIGNMENT CONFIG keys
# ---------------------------------------------------------------------------------------------------------
def _one_q(tmp_path, cfg_text, extra=(), solution="x = 1 # SOLUTION"):
    return write_master(tmp_path, [config(cfg_text), *extra] + question(
        "name: q1", code(solution), [code("x", "1")]))


@pytest.mark.parametrize("cfg, msg", [
    ("name: m\nnot_a_key: 1", "unknown ASSIGNMENT CONFIG key `not_a_key`"),
    ("name: m\nplugins:\n    - a.B", "`plugins` is not supported"),
    ("name: m\ngenerate:\n    points_possible: 10", "`generate.points_possible` is not supported"),
    ("name: m\ngenerate:\n    grade_from_log: true", "`generate.grade_from_log` is not supported"),
    ("name: m\ngenerate:\n    nope: 1", "unknown key `generate.nope`"),
    ("name: m\ntests:\n    format: ok", "unknown key `tests.format`"),
    ("name: m\nexport_cell:\n    zip: true", "unknown key `export_cell.zip`"),
    ("name: m\nseed:\n    value: 3", "unknown key `seed.value`"),
    ("name: m\nruns_on: colab", "`runs_on: colab` needs `tests: files: true`"),
    ("name: m\nruns_on: moon", "`runs_on` must be default, colab or jupyterlite"),
    ("name: m\nfiles: data.csv", "`files` must be a list"),
    ("name: m\nfiles: [missing.csv]", "'missing.csv' does not exist"),
])
def test_config_mistakes_are_refused_by_name(tmp_path, cfg, msg):
    with pytest.raises(AuthoringError, match=msg) as exc:
        assign_path(_one_q(tmp_path, cfg), tmp_path / "out")
    assert "\n" not in str(exc.value)


def test_name_is_optional_as_in_otter(tmp_path):
    a = parse_master(_one_q(tmp_path, "init_cell: false"))
    nb = student_notebook(a.master)
    assert a.name == "m" and "assignment_name" not in nb.metadata["otter"]
    assert not any("otter.Notebook" in s for s in sources(nb))


def test_config_file_check_all_export_and_init_cells(tmp_path):
    (tmp_path / "conf.yml").write_text("check_all_cell: true\nexport_cell:\n  pdf: false\n  files: [model.json]\n")
    nb = student_notebook(parse_master(_one_q(tmp_path, "name: m\nconfig_file: conf.yml")).master)
    src = sources(nb)
    assert src[0] == '# Initialize Otter\nimport otter\ngrader = otter.Notebook("m.ipynb")'
    assert "grader.check_all()" in src
    assert ("# Save your notebook first, then run this cell to export your submission.\n"
            "grader.export(pdf=False, run_tests=True, files=['model.json'])") in src
    assert manifest(parse_master(tmp_path / "m.ipynb"))["submission_files"] == ["model.json"]
    with pytest.raises(AuthoringError, match="`export_cell.files` must be plain .json file names"):
        parse_master(_one_q(tmp_path, "name: m\nexport_cell:\n  files: [../x.json]"))
    nb = student_notebook(parse_master(_one_q(tmp_path, "name: m\nexport_cell: false")).master)
    assert not any("grader.export" in s for s in sources(nb))


def test_seed_variable_and_seed_lines(tmp_path):
    path = _one_q(tmp_path, "name: m\nseed:\n  variable: s\n  autograder_value: 7\n  student_value: 1",
                  extra=[code("s = 42\nimport random")], solution="random.seed(s) # SEED\nx = 1 # SOLUTION")
    a = parse_master(path)
    assert manifest(a)["seed"] == {"value": 7, "variable": "s"}
    src = sources(student_notebook(a.master))
    assert "s = 1\nimport random" in src and "x = ..." in src
    with pytest.raises(AuthoringError, match="`# SEED` line but no integer seed"):
        parse_master(_one_q(tmp_path, "name: m", solution="np.random.seed(1) # SEED\nx = 1 # SOLUTION"))
    assert manifest(parse_master(_one_q(tmp_path, "name: m\ngenerate:\n  seed: 3")))["seed"] == {
        "value": 3, "variable": None}


def test_support_files_reach_student_and_build(tmp_path):
    (tmp_path / "helpers.py").write_text("def twice(v):\n    return 2 * v\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("A = 1\n")
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "grading_only.py").write_text("B = 2\n")
    (tmp_path / "notes.txt").write_text("for students\n")
    path = _one_q(tmp_path, "name: m\nfiles: [helpers.py, pkg, data.csv]\nautograder_files: [grading_only.py]\n"
                            "student_files: [notes.txt]\nrequirements: [numpy]")
    out = assign_path(path, tmp_path / "out")
    stu, build = out["student"].parent, out["autograder"]
    assert {p.name for p in stu.iterdir()} == {"m.ipynb", "helpers.py", "pkg", "data.csv", "notes.txt"}
    def listing(sub):
        return {p.relative_to(build / sub).as_posix() for p in (build / sub).rglob("*") if p.is_file()}
    # `files` go beside the notebook (the sandbox gets them); `autograder_files` only to the trusted side.
    assert listing("files") == {"helpers.py", "pkg/__init__.py", "data.csv"}
    assert listing("support") == {"grading_only.py"}
    files = {f"files/{f}" for f in listing("files")} | {f"support/{f}" for f in listing("support")}
    m = json.loads((build / "tests.json").read_text())
    assert m["support_modules"] == ["grading_only", "helpers", "pkg"] and m["requirements"] == ["numpy"]
    assert m["student_files"] == ["notes.txt"]
    assert (build / "requirements.txt").read_text() == "numpy"
    assert json.loads((build / "settings.json").read_text())["support_files"] == sorted(files)
    nb = nbformat.read(str(out["student"]), as_version=4)
    assert "files=['notes.txt']" in nb.cells[-2].source


def test_support_files_must_stay_in_the_masters_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write_master(tmp_path / "sub", [config("name: m\nfiles: [../outside.py]")] + question(
        "name: q1", code("x = 1 # SOLUTION"), [code("x", "1")]))
    (tmp_path / "outside.py").write_text("")
    with pytest.raises(AuthoringError, match="outside the master's folder"):
        assign_path(path, tmp_path / "out")


def test_test_files_written_when_asked(tmp_path):
    out = assign_path(_one_q(tmp_path, "name: m\ntests:\n  files: true"), tmp_path / "out")
    assert (out["student"].parent / "tests" / "q1.py").read_text().startswith("OK_FORMAT = True\n\ntest = ")
    assert "tests" not in nbformat.read(str(out["student"]), as_version=4).metadata["otter"]


def test_noted_keys_are_reported_not_silent(tmp_path):
    a = parse_master(_one_q(tmp_path, "name: m\nsolutions_pdf: true\ngenerate:\n  show_stdout: true"))
    assert any(n.startswith("solutions_pdf:") for n in a.notices)
    assert any("generate.show_stdout" in n for n in a.notices)


# ---------------------------------------------------------------------------------------------------------
# Block structure errors, reference, CLI
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cells, msg", [
    ([new_raw_cell("# END QUESTION")], r"^cell 1: END QUESTION without a BEGIN QUESTION"),
    ([new_raw_cell("# BEGIN TESTS")], r"^cell 1: BEGIN TESTS outside a question"),
    (question("name: q1", None, [new_markdown_cell("text")]), r"a non-code cell in a tests block"),
    ([new_raw_cell("# BEGIN QUESTION\nmanual: true")], r"^cell 1 \(BEGIN QUESTION\): the question has no `name`"),
    (question("name: q1", code("x = 1")) + question("name: q1", code("y = 1")), r"question name q1 is used twice"),
    ([new_raw_cell("# BEGIN QUESTION\nname: q1")], r"never closed; add an END QUESTION cell"),
    (question("name: q1", None, [code("x ===", None)]), r"a test of question q1\): not valid Python"),
])
def test_block_errors_name_the_cell(tmp_path, cells, msg):
    with pytest.raises(AuthoringError, match=msg):
        parse_master(write_master(tmp_path, [config("name: m")] + cells))


def test_reference_keeps_solutions_drops_prompts_ignored_cells_and_tests(tmp_path):
    ignored = code("train_for_hours()")
    ignored.metadata["tags"] = ["otter_ignore"]
    path = write_master(tmp_path, [config("name: m\nautograder_files: [mfdl_reference.py]"), ignored] + question(
        "name: q1", code('def f():\n    return 1 # SOLUTION NO PROMPT\n    """ # BEGIN PROMPT\n    return ...\n'
                         '    """ # END PROMPT'), [code("f() + 0", "1")]))
    a = parse_master(path)
    assert reference_source(a) == "def f():\n    return 1 # SOLUTION NO PROMPT\n"
    out = assign_path(path, tmp_path / "out")
    text = (tmp_path / REFERENCE_MODULE).read_text()
    assert text == reference_module_text(a)
    assert "return 1" in text and "return ..." not in text and "train_for_hours" not in text and "f() + 0" not in text
    assert (out["autograder"] / "support" / REFERENCE_MODULE).exists()  # trusted side only
    assert not (out["autograder"] / "files" / REFERENCE_MODULE).exists()
    assert json.loads((out["autograder"] / "tests.json").read_text())["support_modules"] == ["mfdl_reference"]


def test_committed_reference_modules_are_current():
    for master in sorted((HERE.parent / "solutions").glob("*/*.ipynb")):
        ref = master.parent / REFERENCE_MODULE
        if ref.exists():
            assert ref.read_text() == reference_module_text(parse_master(master)), f"rerun mfdl assign for {master}"


def _mfdl(*args, cwd):
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(HERE.parent)})


def test_cli_assign_master_path_and_one_line_errors(tmp_path):
    path = _one_q(tmp_path, "name: m")
    r = _mfdl("assign", str(path), "--out", str(tmp_path / "dist"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "dist" / "student" / "m.ipynb").exists() and (tmp_path / "dist" / "autograder" /
                                                                     "tests.json").exists()
    bad = write_master(tmp_path, [config("name: m\nbogus: 1")], name="bad.ipynb")
    r = _mfdl("assign", str(bad), "--out", str(tmp_path / "d2"), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout.strip().count("\n") == 0 and "bogus" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------------------
# Equality with stock `otter assign`
# ---------------------------------------------------------------------------------------------------------
def _is_master(path: Path) -> bool:
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:
        return False
    return any(c.cell_type in ("raw", "markdown") and ("BEGIN QUESTION" in c.source or "ASSIGNMENT CONFIG" in
                                                       c.source) for c in nb.cells)


OTTER_MASTERS = sorted(MASTERS.glob("*.ipynb")) + sorted(
    p for p in (HERE / "otter_corpus").rglob("*.ipynb") if "student" not in p.parts and "autograder" not in p.parts
    and "submissions" not in p.parts and _is_master(p))
OTTER = Path(sys.executable).parent / "otter"


def _cells(nb):
    return [(c.cell_type, "\n".join(l.rstrip() for l in c.source.rstrip().split("\n")),
             sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.skipif(not OTTER.exists(), reason="otter-grader is not installed beside this Python")
@pytest.mark.parametrize("master", OTTER_MASTERS, ids=lambda p: p.relative_to(HERE).as_posix())
def test_student_notebook_equals_otters(tmp_path, master):
    work = tmp_path / "src"
    shutil.copytree(master.parent, work)
    r = subprocess.run([str(OTTER), "assign", "--no-pdfs", "--no-run-tests", master.name, str(tmp_path / "otter")],
                       cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ours = assign_path(work / master.name, tmp_path / "ours")
    theirs = nbformat.read(str(tmp_path / "otter" / "student" / master.name), as_version=4)
    mine = nbformat.read(str(ours["student"]), as_version=4)
    assert _cells(mine) == _cells(theirs)
    assert mine.metadata.get("otter") == theirs.metadata.get("otter")
    for d in ("student/tests", "autograder/tests"):
        if (tmp_path / "otter" / d).exists() and d.startswith("student"):
            for f in (tmp_path / "otter" / d).iterdir():
                assert (tmp_path / "ours" / d / f.name).read_text() == f.read_text()


def test_client_cells_are_recognised(tmp_path):
    from autograder.otter_format import is_otter_client_cell
    path = _one_q(tmp_path, "name: m\ncheck_all_cell: true\nexport_cell:\n  files: [a.json]")
    nb = student_notebook(parse_master(path).master)
    client = [c.source for c in nb.cells if c.cell_type == "code" and is_otter_client_cell(c.source)]
    assert len(client) == 4 and not is_otter_client_cell("x = ...") and not is_otter_client_cell(
        'grader.check("q1")\nimport os')
