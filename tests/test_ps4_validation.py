"""`mfdl validate ps4` in CI (physics-informed networks, Deep Ritz): the reference earns 100%, every correct
variant too, the released stub earns 0, every catalogued bug loses exactly the points of the questions it breaks, and the student notebook runs in
plain Jupyter (self-checks and export included)."""
from autograder.config import load_config
from autograder.validate import validate


class Collect:
    def __init__(self):
        self.lines = []

    def print(self, text, **_):
        self.lines.append(text)


def test_validate_ps4():
    out = Collect()
    ok = validate(load_config().problem_set("ps4"), out)
    assert ok, "\n".join(out.lines)
    assert sum(line.startswith("  [ok] mutant:") for line in out.lines) >= 10
