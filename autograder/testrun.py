"""Run one test in the trusted process, with Otter's semantics and none of the student's code.

Otter runs a test inside the student's kernel with the notebook's globals. Here the test runs in the grader
and every name it takes from the notebook is resolved through the sandbox:

* a function (anything callable) becomes a proxy: each call is sent into the kernel and only plain data
  comes back (`plaindata`);
* a variable is fetched as plain data (a value that cannot cross, e.g. a live torch module, fails the test
  and says so);
* a module (`np`) is imported here, trusted, if the master itself uses it;
* a name the notebook lacks is `None` for exception-based tests, as in Otter, and a NameError in doctests.

Both of Otter's test forms run this way: exception-based tests (a function whose parameters are notebook
names) and OK-format doctests (`>>> ...` examples, compared with doctest's rules). Test code imports its
helpers (`from mfdl_checks import check`, `import mfdl_reference as ref`, a set's own modules) from the
build's trusted copies; a module only the student's side has (a submitted `.py`) is reached through the
kernel like a namespace. Any exception a test raises fails that test with its message, never the submission.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import doctest
import importlib
import io
import sys
import time
import traceback
import types
from dataclasses import asdict, dataclass

from .kernel import IteratorExhausted, IteratorHandle, StudentCallError
from .mfdl_checks.checker import TestFailure

# Modules a notebook name may stand for and that the grader imports itself (besides those the master imports).
ALWAYS_TRUSTED_MODULES = frozenset({"numpy", "math", "cmath", "random", "statistics", "fractions", "decimal",
                                    "collections", "itertools", "functools", "operator", "string", "re"})
_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass
class TestOutcome:
    question: str
    test: str
    description: str
    hidden: bool
    points: float
    score: float
    passed: bool
    message: str = ""
    seconds: float = 0.0
    cannot_cross: bool = False  # failed because a notebook value cannot cross the plain-data channel

    def to_dict(self):
        return asdict(self)


TestOutcome.__test__ = False  # not a pytest class


class ReferenceLoadError(RuntimeError):
    """The master's own code could not be loaded as the reference (one line, for the instructor)."""


def load_reference(source: str, files_dir=None) -> types.ModuleType:
    """The master's solution code as a module (`import mfdl_reference as ref` in hidden tests). It runs quietly
    (what it prints is the master's business, not the TA's console), in a scratch folder holding a copy of the
    master's support files (`files_dir`), as the master ran beside them."""
    import os
    import shutil
    import tempfile
    module = types.ModuleType("mfdl_reference")
    sink = io.StringIO()
    here = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="mfdl-reference-")
    try:
        if files_dir is not None and os.path.isdir(files_dir):
            shutil.copytree(files_dir, scratch, dirs_exist_ok=True)
        os.chdir(scratch)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exec(compile(source, "<reference solution>", "exec"), module.__dict__)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise ReferenceLoadError(f"the master notebook's code imports {missing!s}, which is not installed where the "
                                 f"grader runs: install it (and list it in the assignment's requirements)") from None
    except Exception as exc:
        line = ""
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename == "<reference solution>":
                line = f" (reference line {frame.lineno}: {(frame.line or '').strip()[:120]})"
                break
        raise ReferenceLoadError(f"the master notebook's code raised {type(exc).__name__}: {str(exc)[:300]}{line}; "
                                 "run the master top to bottom to fix it") from None
    finally:
        os.chdir(here)
        shutil.rmtree(scratch, ignore_errors=True)
    return module


def imported_modules(*sources: str) -> set[str]:
    """Top-level names of the modules these sources import (the modules the master itself trusts)."""
    found = set()
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


# ---------------------------------------------------------------------------------------------------------
# The student's side, as the test sees it
# ---------------------------------------------------------------------------------------------------------
class Unsendable(Exception):
    """A notebook value the test needs cannot cross the plain-data channel."""


class StudentFunction:
    """Callable stand-in for a student's function: each call is an RPC into the sandboxed kernel. What the call
    prints is echoed on this side's stdout (doctests compare it; elsewhere it is discarded). As in Otter, the call
    can change the test's own arguments: arrays, lists and dicts the student's function modified in place are
    written back into the objects the test passed (`kernel.call_function_printing`), so a test such as
    `x0 = x.copy(); f(x); assert np.array_equal(x, x0)` checks what it says."""

    def __init__(self, name: str, side, deadline: float):
        self._name, self._side, self._deadline = name, side, deadline

    def __call__(self, *args, **kwargs):
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise StudentCallError("timeout", f"time limit for this test reached before calling {self._name}")
        value, printed = self._side.call_printing(self._name, args, kwargs, remaining)
        if printed:
            sys.stdout.write(printed)
        return live(value, self._side, self._deadline)

    def __repr__(self):
        return f"<student function {self._name.removeprefix('import:')}>"


class StudentIterator:
    """An iterator that stays in the student's kernel (a generator): `next()` fetches one plain-data item."""

    def __init__(self, handle: IteratorHandle, side, deadline: float):
        self._handle, self._side, self._deadline = handle, side, deadline

    def __iter__(self):
        return self

    def __next__(self):
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise StudentCallError("timeout", "time limit for this test reached while stepping your iterator")
        try:
            return self._side.next_item(self._handle.handle, remaining)
        except IteratorExhausted:
            raise StopIteration from None

    def __repr__(self):
        return f"<student {self._handle.type_name}>"


def live(value, side, deadline: float):
    """A value from the kernel as the test uses it: iterator handles become StudentIterators."""
    return StudentIterator(value, side, deadline) if isinstance(value, IteratorHandle) else value


class StudentModule:
    """A module that only the student's side has (e.g. a submitted helper file): attributes are resolved in the
    kernel like notebook names."""

    def __init__(self, name: str, resolver):
        self._name, self._resolver = name, resolver

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        full = f"{self._name}.{attr}"
        value = self._resolver.resolve([f"import:{full}"])[f"import:{full}"]
        if value is _MISSING:
            raise AttributeError(f"module {self._name!r} has no attribute {attr!r}")
        return value

    def __repr__(self):
        return f"<student module {self._name}>"


_MISSING = object()


class Resolver:
    """Turns notebook names into what a test receives: proxies, plain data, trusted modules."""

    def __init__(self, side, deadline: float, trusted_modules: set[str], support: dict,
                 student_modules: frozenset = frozenset()):
        self.side, self.deadline = side, deadline
        self.trusted_modules, self.support = trusted_modules, support
        self.student_modules = student_modules  # modules the submission itself carries (Otter's student_files)

    def _trusted_module(self, name: str, module: str):
        top = module.split(".")[0]
        if top in self.support:
            return self.support[top]
        if top not in self.trusted_modules and top not in ALWAYS_TRUSTED_MODULES:
            raise Unsendable(f"`{name}` is the module {module}, which the grader does not import for tests")
        try:
            return importlib.import_module(module)
        except ImportError:
            raise Unsendable(f"`{name}` is the module {module}, which is not installed where the grader runs") from None

    def resolve(self, names: list[str]) -> dict:
        """{name: value} with _MISSING for names the notebook does not define; raises Unsendable."""
        names = list(dict.fromkeys(names))
        if not names:
            return {}
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise StudentCallError("timeout", "time limit for this test reached before reading your notebook")
        described = self.side.describe(names, remaining)
        out = {}
        for name in names:
            entry = described.get(name, {"kind": "missing"})
            shown = name.removeprefix("import:")
            kind = entry["kind"]
            if kind == "function":
                out[name] = StudentFunction(name, self.side, self.deadline)
            elif kind == "value":
                out[name] = live(entry["value"], self.side, self.deadline)
            elif kind == "module" and name.startswith("import:"):  # a module only the student's side has
                out[name] = StudentModule(shown, self)
            elif kind == "module":
                out[name] = self._trusted_module(shown, entry["module"])
            elif kind == "unsendable":
                raise Unsendable(
                    f"`{shown}` is a {entry.get('type', '?')}, which the grader cannot receive (only plain data crosses "
                    f"from your notebook: numbers, strings, lists, tuples, sets, dicts, numpy arrays, pandas "
                    f"Series/DataFrames, and iterators one item at a time): {entry.get('message', '')}")
            else:
                out[name] = _MISSING
        return out


def _test_builtins(support: dict, resolver: Resolver) -> dict:
    """Builtins for test code: `import` finds the build's trusted support modules first (mfdl_checks,
    mfdl_reference, the set's own modules), then the grader's installed modules, and last a module that only
    the student's side has, reached through the kernel."""
    real_import = builtins.__import__

    def test_import(name, globals=None, locals=None, fromlist=(), level=0):
        top = name.split(".")[0]
        if level == 0 and top in support:
            module = support[top]
            if name == top:
                return module
            importlib.import_module(f"{module.__name__}{name[len(top):]}")
            return module if not fromlist else sys.modules[f"{module.__name__}{name[len(top):]}"]
        try:
            return real_import(name, globals, locals, fromlist, level)
        except ModuleNotFoundError:
            # Only a module the submission carries is looked up in the kernel: a module the grader lacks is never
            # replaced by whatever the student's side calls by that name.
            if level or "." in name or name not in resolver.student_modules:
                raise
            module = resolver.resolve([f"import:{name}"])[f"import:{name}"]
            if module is _MISSING:
                raise
            return module

    table = dict(vars(builtins))
    table["__import__"] = test_import
    return table


# ---------------------------------------------------------------------------------------------------------
# Running a test
# ---------------------------------------------------------------------------------------------------------
def _failure_message(exc: BaseException, filename: str, source: str) -> str:
    """Otter's shape: the test line that failed and the exception; our own verdicts (TestFailure, raised by
    `check`) already explain themselves."""
    if isinstance(exc, StudentCallError):
        return {
            "error": f"your code raised an error: {exc}",
            "timeout": f"{exc} (an infinite loop, or far too slow)",
            "died": f"{exc} (it exited or crashed the Python process)",
        }.get(exc.kind, str(exc))
    if isinstance(exc, TestFailure):
        return str(exc)
    lineno = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            lineno = frame.lineno
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if lineno is not None:
        lines = source.splitlines()
        if 0 < lineno <= len(lines):
            return f"line {lineno}: {lines[lineno - 1].strip()}\n{text}"
    return text


def _run_function_test(test: dict, resolver: Resolver, support: dict) -> tuple[bool, str, bool]:
    filename = f"<test {test['name']}>"
    namespace = {"__name__": "mfdl_test", "__builtins__": _test_builtins(support, resolver)}
    try:
        exec(compile(test["source"], filename, "exec"), namespace)
        func = namespace[test["function"]]
        params = list(test.get("params") or [])
        wanted = [p for p in params if p != "env"]
        found = resolver.resolve(wanted)
        kwargs = {p: (None if found[p] is _MISSING else found[p]) for p in wanted}
        if "env" in params:  # Otter passes the whole global environment to a parameter named `env`
            kwargs["env"] = _LazyEnv(resolver)
        func(**kwargs)
    except Unsendable as exc:
        return False, str(exc), True
    except Exception as exc:
        return False, _failure_message(exc, filename, test["source"]), False
    return True, "", False


class _LazyEnv(dict):
    """Otter's `env` parameter: the notebook's globals, each fetched when the test asks for it."""

    def __init__(self, resolver: Resolver):
        super().__init__()
        self._resolver = resolver

    def __missing__(self, key):
        value = self._resolver.resolve([key])[key]
        if value is _MISSING:
            raise KeyError(key)
        self[key] = value
        return value

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        return self.get(key, _MISSING) is not _MISSING


def _bound_here(body) -> set[str]:
    """Names a block binds in its own scope (assignments, imports, defs, loop and `with` targets), without
    looking into nested functions, classes or comprehensions, which have scopes of their own."""
    bound = set()
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return bound


def _free_loads(node, local: set[str], out: list) -> None:
    """Names read in `node` that no enclosing function scope binds (module-level names)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        params.update(a.arg for a in (args.vararg, args.kwarg) if a)
        inner = local | params | (_bound_here(node.body) if not isinstance(node, ast.Lambda) else set())
        for default in args.defaults + [d for d in args.kw_defaults if d]:
            _free_loads(default, local, out)
        for child in (node.body if not isinstance(node, ast.Lambda) else [node.body]):
            _free_loads(child, inner, out)
        return
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        for child in ast.iter_child_nodes(node):
            _free_loads(child, local | targets, out)
        return
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
        out.append(node.id)
    for child in ast.iter_child_nodes(node):
        _free_loads(child, local, out)


def doctest_free_names(examples) -> list[str]:
    """Names a doctest reads at module level (or from inside its own functions) and never binds itself: those
    come from the notebook."""
    trees = []
    for ex in examples:
        try:
            trees.append(ast.parse(ex.source))
        except SyntaxError:
            continue
    bound = set().union(*(_bound_here(t.body) for t in trees)) if trees else set()
    loads: list[str] = []
    for tree in trees:
        _free_loads(tree, set(), loads)
    return [n for n in dict.fromkeys(loads) if n not in bound and n not in _BUILTIN_NAMES]


def _run_doctest(test: dict, resolver: Resolver, support: dict) -> tuple[bool, str, bool]:
    """Otter's OK-format case: doctest examples run with verbose doctest rules; passed iff none failed."""
    source = test["source"]
    examples = [e for e in doctest.DocTestParser().parse(source, test["name"]) if isinstance(e, doctest.Example)]
    try:
        found = resolver.resolve(doctest_free_names(examples))
    except Unsendable as exc:
        return False, str(exc), True
    except StudentCallError as exc:
        return False, _failure_message(exc, "", source), False
    globs = {k: v for k, v in found.items() if v is not _MISSING}
    globs["__builtins__"] = _test_builtins(support, resolver)
    globs["__name__"] = "mfdl_doctest"
    case = doctest.DocTest(examples, globs, test["name"], None, None, source)
    runner = doctest.DocTestRunner(verbose=True)
    transcript = io.StringIO()
    with contextlib.redirect_stdout(transcript), contextlib.redirect_stderr(transcript):
        runner.run(case, clear_globs=False)
    if runner.failures == 0:
        return True, "", False
    return False, transcript.getvalue()[-8000:], False


def run_test(question: str, test: dict, *, side, support: dict, trusted_modules: set[str], test_timeout: float,
             notebook_deadline: float, student_modules: frozenset = frozenset()) -> TestOutcome:
    """Run one test of the manifest. `side` reaches the student's kernel (call_printing, describe);
    `support` maps importable names to the build's trusted modules."""
    start = time.monotonic()
    outcome = TestOutcome(question=question, test=test["name"], description=test.get("description") or test["name"],
                          hidden=bool(test["hidden"]), points=float(test["points"]), score=0.0, passed=False)
    deadline = min(start + test_timeout, notebook_deadline)
    if deadline <= start:
        outcome.message = "not run: the time limit for the whole notebook was reached"
        return outcome
    resolver = Resolver(side, deadline, trusted_modules, support, student_modules)
    runner = _run_doctest if test.get("kind") == "doctest" else _run_function_test
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):  # test prints stay off the console
        passed, message, outcome.cannot_cross = runner(test, resolver, support)
    outcome.passed = passed
    outcome.score = outcome.points if passed else 0.0
    if passed:
        outcome.message = test.get("success_message") or ""
    else:
        custom = test.get("failure_message")
        outcome.message = f"{custom}\n{message}".strip() if custom else message
    outcome.seconds = time.monotonic() - start
    return outcome
