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
    {"name": "q8", "points": 4.0, "manual": False, "all_or_nothing": False, "tests": [
        # Arguments after the call, as in Otter: what the student's function did to its arguments is what the
        # test's own objects look like afterwards.
        function_test("test_otter_style_unchanged", "def test_otter_style_unchanged(zero_out, pure):\n"
                      "    import numpy as np\n    x = np.array([1.0, 2.0, 3.0])\n    x0 = x.copy()\n"
                      "    pure(x)\n    zero_out(x)\n"
                      "    assert np.array_equal(x, x0), 'x was modified'\n", ["zero_out", "pure"]),
        function_test("test_written_back_in_place", "def test_written_back_in_place(fill):\n"
                      "    import numpy as np\n    a, inner, w = np.zeros(3), np.zeros(2), np.zeros((2, 2))\n"
                      "    lst, d = [1, inner], {'w': w, 'n': 1}\n    assert fill(a, lst, d=d) == 'done'\n"
                      "    assert np.array_equal(a, [1.0, 2.0, 3.0]), a\n"
                      "    assert lst[1] is inner and np.array_equal(inner, [5.0, 5.0]), lst\n"
                      "    assert lst[0] == 7 and lst[2] == 'new' and len(lst) == 3, lst\n"
                      "    assert d['w'] is w and np.all(w == 9.0) and d['n'] == 2 and d['added'] == (1, 2), d\n",
                      ["fill"]),
        function_test("test_read_only_untouched", "def test_read_only_untouched(pure):\n"
                      "    import numpy as np\n    x = np.arange(4.0)\n    x.flags.writeable = False\n"
                      "    assert pure(x) == 6.0\n", ["pure"]),
        function_test("test_reshaped_argument", "def test_reshaped_argument(reshape_in_place):\n"
                      "    import numpy as np\n    reshape_in_place(np.zeros((2, 3)))\n", ["reshape_in_place"]),
        function_test("test_changes_before_an_error_stay", "def test_changes_before_an_error_stay(append_then_fail):\n"
                      "    lst = []\n    try:\n        append_then_fail(lst)\n    except Exception as exc:\n"
                      "        assert 'after appending' in str(exc), exc\n    assert lst == [1], lst\n",
                      ["append_then_fail"]),
    ]},
    {"name": "q9", "points": 1.0, "manual": False, "all_or_nothing": False, "tests": [
        # a module the grader lacks is never looked up in the student's kernel, even if the notebook has one
        doctest_case("q9 - 1", ">>> import not_installed_mod\n>>> not_installed_mod.ok()\nTrue\n"),
    ]},
]

MUTATING = ("import numpy as np\n"
            "def pure(x):\n    return float(np.sum(x))\n"
            "def zero_out(x):\n    x[...] = 0\n"
            "def fill(a, lst, d=None):\n    a[:] = [1, 2, 3]\n    lst[1][:] = 5\n    lst[0] = 7\n"
            "    lst.append('new')\n    d['w'][...] = 9\n    d['n'] = 2\n    d['added'] = (1, 2)\n    return 'done'\n"
            "def reshape_in_place(x):\n    x.shape = (3, 2)\n"
            "def append_then_fail(lst):\n    lst.append(1)\n    raise ValueError('after appending')\n")

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
    assert not tests["q9 - 1"]["passed"] and "ModuleNotFoundError" in tests["q9 - 1"]["message"]
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


def test_arguments_changed_in_place_reach_the_test(ag, factory):
    """A student function runs on a copy in the sandbox; what it does to that copy is written back into the test's
    own objects, so Otter's `x0 = x.copy(); f(x); assert np.array_equal(x, x0)` fails exactly when f modifies x."""
    rec = grade_notebook(notebook(MUTATING), ag, factory)
    tests = by_test(rec)
    unchanged = tests["test_otter_style_unchanged"]
    assert not unchanged["passed"] and "x was modified" in unchanged["message"], unchanged
    assert tests["test_written_back_in_place"]["passed"], tests["test_written_back_in_place"]["message"]
    # An argument the call left alone is never written back (a read-only array stays untouched).
    assert tests["test_read_only_untouched"]["passed"], tests["test_read_only_untouched"]["message"]
    # A shape change cannot be made to the caller's array: the call fails, saying so, and nothing crashes.
    reshaped = tests["test_reshaped_argument"]
    assert not reshaped["passed"] and "shape" in reshaped["message"] and "reshape_in_place" in reshaped["message"]
    assert tests["test_changes_before_an_error_stay"]["passed"], tests["test_changes_before_an_error_stay"]["message"]
    # The same test passes for a function that works on its own copy.
    pure = notebook(MUTATING + "def zero_out(x):\n    x = np.zeros_like(x)\n    return x\n")
    assert by_test(grade_notebook(pure, ag, factory))["test_otter_style_unchanged"]["passed"]


def test_write_back_rules_without_a_kernel():
    """The trusted side's half on its own: in place for arrays, lists, dicts and what tuples hold; a malformed or
    impossible report fails the call with StudentCallError, never an exception of another kind."""
    import numpy as np
    from autograder import plaindata
    from autograder.kernel import StudentCallError, _write_back
    x, inner = np.zeros(2), np.zeros(3)
    pair = (inner, 1)
    kw = {"opts": {"lr": 0.1}}
    _write_back("f", (x, pair), kw, {"0": plaindata.encode(np.array([1.0, 2.0])),
                                     "1": plaindata.encode((np.ones(3), 1)),
                                     "k:opts": plaindata.encode({"lr": 0.2, "new": [1]})})
    assert x.tolist() == [1.0, 2.0] and pair[0] is inner and inner.tolist() == [1.0] * 3
    assert kw["opts"] == {"lr": 0.2, "new": [1]}
    for bad in ({"5": plaindata.encode(1)}, {"k:nope": plaindata.encode(1)}, {"0": "not json"}, ["0"],
                {"0": plaindata.encode(np.zeros(3))}, {"0": plaindata.encode(np.zeros(2, dtype=np.int64))},
                {"0": plaindata.encode([1, 2])}):
        with pytest.raises(StudentCallError):
            _write_back("f", (np.zeros(2),), {}, bad)
    lst = [1, 2]
    with pytest.raises(StudentCallError, match="turned"):
        _write_back("f", (lst,), {}, {"0": plaindata.encode({"a": 1})})
    assert lst == [1, 2]  # a refused change leaves the caller's object as it was
    frozen = np.zeros(2)
    frozen.flags.writeable = False
    with pytest.raises(StudentCallError, match="read-only"):
        _write_back("f", (frozen,), {}, {"0": plaindata.encode(np.ones(2))})
