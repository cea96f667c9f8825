"""Run tests in the trusted process. Student functions are proxies that call into the sandboxed kernel and
return plain data; every comparison happens here, with trusted numpy and the configured tolerances."""
from __future__ import annotations

import time
import types
from dataclasses import asdict, dataclass

import numpy as np

from .checks import Checker, TestFailure
from .kernel import StudentCallError
from .plaindata import RemoteCode


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

    def to_dict(self):
        return asdict(self)


class Budget(Exception):
    """The per-test or per-notebook time budget ran out."""


class StudentFunction:
    """Callable stand-in for a student's function: each call is an RPC into the sandboxed kernel."""

    def __init__(self, name: str, caller, deadline: float):
        self._name, self._caller, self._deadline = name, caller, deadline

    def __call__(self, *args, **kwargs):
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise StudentCallError("timeout", f"time limit for this test reached before calling {self._name}")
        return self._caller(self._name, args, kwargs, remaining)

    def __repr__(self):
        return f"<student function {self._name}>"


def load_reference(source: str) -> types.SimpleNamespace:
    namespace: dict = {"__name__": "mfdl_reference"}
    exec(compile(source, "<reference solution>", "exec"), namespace)
    return types.SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


def compile_test(source: str, name: str):
    namespace: dict = {"__name__": "mfdl_test"}
    exec(compile(source, f"<test {name}>", "exec"), namespace)
    return namespace[name]


def test_arguments(params: list, *, checker: Checker, remote, student, reference=None, submitted_file=None) -> list:
    """The values injected into a test's parameters, by name: `check`, `np`, `remote`, `ref` (hidden tests,
    trusted side only), `submitted_file` (the submission's declared files, parsed JSON), and anything else is a
    student function, resolved by `student(name)`."""
    special = {"check": checker, "np": np, "remote": remote, "ref": reference, "submitted_file": submitted_file}
    return [special[p] if p in special else student(p) for p in params]


test_arguments.__test__ = False  # not a pytest test


def run_test(question: str, test: dict, *, checker: Checker, reference, caller, test_timeout: float,
             notebook_deadline: float, submitted_file=None) -> TestOutcome:
    """Run one test. `caller(name, args, kwargs, timeout)` performs a call into the student's kernel."""
    start = time.monotonic()
    outcome = TestOutcome(question=question, test=test["name"], description=test["description"],
                          hidden=test["hidden"], points=test["points"], score=0.0, passed=False)
    deadline = min(start + test_timeout, notebook_deadline)
    if deadline <= start:
        outcome.message = "not run: the time limit for the whole notebook was reached"
        return outcome
    func = compile_test(test["source"], test["name"])
    args = test_arguments(test["params"], checker=checker, remote=RemoteCode, reference=reference,
                          student=lambda name: StudentFunction(name, caller, deadline), submitted_file=submitted_file)
    try:
        func(*args)
        outcome.passed, outcome.score = True, test["points"]
    except TestFailure as exc:
        outcome.message = str(exc)
    except StudentCallError as exc:
        outcome.message = {
            "missing": f"{exc}",
            "error": f"your code raised an error: {exc}",
            "timeout": f"{exc} (an infinite loop, or far too slow)",
            "died": f"{exc} (it exited or crashed the Python process)",
            "output_limit": f"{exc}",
            "unsendable": f"{exc}",
        }.get(exc.kind, str(exc))
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, ArithmeticError) as exc:
        # The test could not read the student's result (wrong structure or type).
        outcome.message = f"the result has an unexpected structure or type ({type(exc).__name__}: {exc})"
    outcome.seconds = time.monotonic() - start
    return outcome
