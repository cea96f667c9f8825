"""`mfdl validate ps2` in CI: the reference earns 100%, every correct variant too (float32 included), the released
stub earns 0, every catalogued optimizer bug loses exactly the points of the questions it breaks, and the student
notebook runs in plain Jupyter (self-checks and export included)."""
from conftest import mutants_caught, validation_report


def test_validate_ps2():
    lines = validation_report("ps2")
    assert mutants_caught(lines) >= 12
    assert any(line.startswith("  [ok] variant: float32") for line in lines)
