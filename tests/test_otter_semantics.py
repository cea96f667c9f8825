"""Grading semantics equal to Otter's on honest submissions, decided in the trusted process.

Each test builds a small manifest (the shape `mfdl assign` writes) by hand, so the grader's rules are pinned
independently of the authoring side: names resolve to student functions (proxies), variables (plain data) or
modules (trusted imports); any exception raised by test code fails only that test; doctests follow doctest's
rules against the same proxies; values that cannot cross fail the test that needs them, saying so; Otter's
points rules (all-or-nothing) and grading-time seeding apply."""
from __future__ import annotations

import dataclasses
import json

import nbformat
import pytest

from autograder.engine import Autograder, KernelFactory, grade_notebook, seeded_cells
from autograder.sandbox import Limits
from autograder.testrun import ReferenceLoadError, doctest_free_names, load_reference


def function_test(name, source, params, points=1.0, hidden=False, **extra):
    return {"name": name, "kind": "function", "source": source, "function": name, "params": params,
            "points": points, "hidden": hidden, "success_message": None, "failure_message": None,
            "description": name, **extra}


def doctest_case(name, source, points=1.0, hidden=False, **extra):
    return {"name": name, "kind": "doctest", "source": source, "function": None, "params": [], "points": points,
            "hidden": hidden, "success_message": None, "failure_message": None, "description": name, **extra}


QUESTIONS = [
    {"name": "q1", "points": 3.0, "manual": False, "all_or_nothing": False, "tests": [
        function_test("test_square", "def test_square(square):\n    assert square(3) == 9, 'square(3) is not 9'\n",
                      ["square"]),
        function_test("test_x_value", "def test_x_value(x, np):\n    assert np.isclose(x, 2.5)\n", ["x", "np"]),
        function_test("test_raises_value_error",
                      "def test_raises_value_error(square):\n    int('not a number')\n", ["square"]),
    ]},
    {"name": "q2", "points": 2.0, "manual": False, "all_or_nothing": False, "tests": [
        doctest_case("q2 - 1", ">>> square(4)\n16\n>>> shout('hi')\nHI!\n"),
        doctest_case("q2 - 2", ">>> x + 1\n3.5\n>>> int(arr.sum())\n6\n"),
    ]},
    {"name": "q3", "points": 2.0, "manual": False, "all_or_nothing": True, "tests": [
        doctest_case("q3 - 1", ">>> square(2)\n4\n"),
        doctest_case("q3 - 2", ">>> square(-1)\n1\n"),
    ]},
    {"name": "q4", "points": 2.0, "manual": False, "all_or_nothing": False, "tests": [
        function_test("test_gen", "def test_gen(gen, counter):\n    assert list(gen) == [0, 1]\n"
                      "    c = counter()\n    assert next(c) == 0 and next(c) == 1\n", ["gen", "counter"]),
        function_test("test_box", "def test_box(box):\n    assert box is not None\n", ["box"]),
    ]},
    {"name": "q5", "points": 1.0, "manual": False, "all_or_nothing": False, "tests": [
        function_test("test_missing_is_none", "def test_missing_is_none(undefined_name):\n"
                      "    assert undefined_name is None\n", ["undefined_name"]),
    ]},
    {"name": "q6", "points": 1.0, "manual": False, "all_or_nothing": False, "tests": [
        doctest_case("q6 - 1", ">>> import mfdl_reference as ref\n>>> ref.square(-5) == square(-5)\nTrue\n"),
    ]},
    {"name": "q7", "points": 1.0, "manual": False, "all_or_nothing": False, "tests": [
        # a module the student submitted (Otter's student_files): reached in the kernel, never imported here
        doctest_case("q7 - 1", ">>> import helper_mod\n>>> helper_mod.FOO\n1\n>>> helper_mod.twice(4)\n8\n"),
    ]},
    {"name": "q8", "points": 1.0, "manual": False, "all_or_nothing": False, "tests": [
        # a module the grader lacks is never looked up in the student's kernel, even if the notebook has one
        doctest_case("q8 - 1", ">>> import not_installed_mod\n>>> not_installed_mod.ok()\nTrue\n"),
    ]},
]

REFERENCE = "import numpy as np\n\ndef square(v):\n    return v * v\n"


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


GOOD = notebook("import numpy as np", "def square(v):\n    return v * v",
                "def shout(s):\n    print(s.upper() + '!')", "x = 2.5\narr = np.array([1, 2, 3])",
                "gen = (i for i in range(2))\nclass Box:\n    pass\nbox = Box()",
                "def counter():\n    n = 0\n    while True:\n        yield n\n        n += 1",
                # importable in the sandbox, but not a file the assignment takes from the student
                "open('not_installed_mod.py', 'w').write('def ok():\\n    return True\\n')\nimport not_installed_mod")


@pytest.fixture(scope="module")
def ag():
    manifest = {"assignment": "semantics", "questions": QUESTIONS, "checks": {}, "submission_files": [],
                "seed": {"value": None, "variable": None}, "support_modules": [],
                "student_files": ["helper_mod.py"]}
    limits = dataclasses.replace(Limits(), cell_timeout_s=30, test_timeout_s=20, notebook_timeout_s=120)
    return Autograder._build("semantics", json.dumps(manifest), REFERENCE, limits, ["numpy"], {})


@pytest.fixture(scope="module")
def factory(ag):
    f = KernelFactory(ag, slot=11)
    yield f
    f.close()


def by_test(record):
    return {t["test"]: t for t in record["tests"]}


HELPER = {"helper_mod.py": b"FOO = 1\ndef twice(v):\n    return 2 * v\n"}


def test_names_resolve_to_functions_values_and_modules(ag, factory):
    rec = grade_notebook(GOOD, ag, factory, HELPER)
    tests = by_test(rec)
    assert tests["test_square"]["passed"] and tests["test_x_value"]["passed"], rec["tests"]
    assert tests["q2 - 1"]["passed"], tests["q2 - 1"]["message"]  # printed output of a student call is compared
    assert tests["q2 - 2"]["passed"], tests["q2 - 2"]["message"]
    assert tests["q6 - 1"]["passed"], tests["q6 - 1"]["message"]
    assert tests["q7 - 1"]["passed"], tests["q7 - 1"]["message"]
    import sys
    assert "helper_mod" not in sys.modules  # the student's module never ran in the grader
    assert not tests["q8 - 1"]["passed"] and "ModuleNotFoundError" in tests["q8 - 1"]["message"]
    assert tests["test_missing_is_none"]["passed"]  # Otter passes None for a name the notebook lacks
    # An exception raised by test code fails that test only, with its message and line.
    bad = tests["test_raises_value_error"]
    assert not bad["passed"] and "ValueError" in bad["message"] and "line 2" in bad["message"]
    # Generators stay in the kernel and are stepped one plain item at a time (a notebook variable, and one a
    # student function returns); an object of the student's own class cannot cross: that test fails saying so.
    assert tests["test_gen"]["passed"], tests["test_gen"]["message"]
    box = tests["test_box"]
    assert not box["passed"] and box["cannot_cross"] and "cannot receive" in box["message"] and "Box" in box["message"]
    assert rec["questions"]["q1"]["score"] == 2.0
    assert rec["questions"]["q2"]["score"] == 2.0
    assert rec["questions"]["q3"]["score"] == 2.0


def test_failures_cost_only_their_tests_and_all_or_nothing(ag, factory):
    wrong = notebook("import numpy as np", "def square(v):\n    return v * abs(v)",
                     "def shout(s):\n    print(s + '!')", "x = 2.5\narr = np.array([1, 2, 3])")
    rec = grade_notebook(wrong, ag, factory)
    tests = by_test(rec)
    assert tests["test_square"]["passed"]  # square(3) == 9 still holds
    assert not tests["q2 - 1"]["passed"] and "Expected:" in tests["q2 - 1"]["message"]  # doctest transcript
    # q3 is all-or-nothing: square(2) passes, square(-1) fails -> 0, not half.
    assert tests["q3 - 1"]["passed"] and not tests["q3 - 2"]["passed"]
    assert rec["questions"]["q3"]["score"] == 0.0
    assert rec["questions"]["q6"]["score"] == 0.0
    assert rec["questions"]["q7"]["score"] == 0.0  # no helper_mod.py submitted: the import fails, as in Otter


def test_assertion_in_test_never_fails_the_submission(ag, factory):
    empty = notebook("pass")
    rec = grade_notebook(empty, ag, factory)
    assert rec["total"] == 1.0  # only "undefined_name is None" holds for an empty notebook
    assert all(isinstance(t["message"], str) for t in rec["tests"])


def test_doctest_free_names_skip_what_the_doctest_binds():
    import doctest
    examples = doctest.DocTestParser().get_examples(
        ">>> import math\n>>> y = f(x)\n>>> def g(a):\n...     return a + y\n>>> g(z) + len([w for w in q])\n")
    assert doctest_free_names(examples) == ["f", "x", "z", "q"]
    # A test function kept as a doctest with its call line (Otter without ok_format: false): the call's
    # argument is a notebook name even though the function's own parameter has the same name.
    examples = doctest.DocTestParser().get_examples(
        ">>> def test_low_primes(sieve):\n...     assert sieve(1) == set() and helper(2)\n>>> test_low_primes(sieve)\n")
    assert doctest_free_names(examples) == ["helper", "sieve"]


def test_seeding_matches_otter():
    cells = ["x = 1", "%%time\ny = 2"]
    assert seeded_cells(cells, {"value": None}) == cells
    seeded = seeded_cells(cells, {"value": 42, "variable": None})
    assert seeded[0].startswith("import numpy as") and "random.seed(42)" in seeded[1] and seeded[2] == cells[1]
    assert seeded_cells(cells, {"value": 7, "variable": "rng_seed"}) == ["rng_seed = 7\nx = 1", cells[1]]


def test_reference_loads_quietly_and_import_errors_are_one_line(capsys):
    ref = load_reference("print('noise from the master')\ndef f():\n    return 1\n")
    assert ref.f() == 1 and capsys.readouterr().out == ""
    with pytest.raises(ReferenceLoadError) as err:
        load_reference("import not_a_real_module_xyz\n")
    assert "not_a_real_module_xyz" in str(err.value) and "\n" not in str(err.value)
