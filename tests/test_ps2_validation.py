"""`mfdl validate ps2` in CI: the reference earns 100%, every correct variant too (float32 included), the released
stub earns 0, every catalogued optimizer bug loses exactly the points of the questions it breaks, and the student
notebook runs in plain Jupyter (self-checks and export included)."""
from autograder.config import load_config
from autograder.validate import validate


class Collect:
    def __init__(self):
        self.lines = []

    def print(self, text, **_):
        self.lines.append(text)


def test_validate_ps2():
    out = Collect()
    ok = validate(load_config().problem_set("ps2"), out)
    assert ok, "\n".join(out.lines)
    assert sum(line.startswith("  [ok] mutant:") for line in out.lines) >= 12
    assert any(line.startswith("  [ok] variant: float32") for line in out.lines)
