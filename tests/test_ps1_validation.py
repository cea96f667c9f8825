"""`mfdl validate ps1` in CI: the reference earns 100%, every correct variant too, the released stub earns 0,
every catalogued bug loses exactly the points of the questions it breaks, and the student notebook runs in
plain Jupyter (self-checks and export included)."""
from conftest import mutants_caught, validation_report


def test_validate_ps1():
    lines = validation_report("ps1")
    assert mutants_caught(lines) >= 10
