"""The reference solution of a master notebook as a Python module, `mfdl_reference.py`, which hidden tests import
(`import mfdl_reference as ref`). Otter ships it with the autograder only (ASSIGNMENT CONFIG
`autograder_files: [mfdl_reference.py]`), so stock `otter run` has it; our grader compiles the same source.

What goes in: every code cell of the master outside test blocks, with its solutions kept (Otter's solution
markers and prompt blocks removed, as in Otter's autograder notebook), except cells tagged `otter_ignore`
(slow training the grader never runs), cells whose first line is Otter's `# ignore`, and IPython magics.

    python -m autograder.reference_source solutions/ps1_backprop/ps1_backprop.ipynb   # rewrites its mfdl_reference.py
    python -m autograder.reference_source --check solutions/*/*.ipynb                 # exit 1 if one is stale
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

REFERENCE_FILE = "mfdl_reference.py"
IGNORE_TAG = "otter_ignore"

_BLOCK = re.compile(r"^\s*#\s*(BEGIN|END)\s+(QUESTION|TESTS|SOLUTION|PROMPT)\b", re.IGNORECASE)
_IGNORE_CELL = re.compile(r"(##\s*ignore\s*##\s*|#\s*ignore\s*)", re.IGNORECASE)


def solution_lines(source: str) -> list[str]:
    """The lines of a code cell with its solutions kept: marker lines dropped, prompt blocks and `# IGNORE` lines removed
    (Otter's suffix rules: a line *ending* in the marker)."""
    out, prompt, ignore = [], False, False
    for line in source.split("\n"):
        tail = line.rstrip()
        if tail.endswith("# BEGIN PROMPT"):
            prompt = True
            continue
        if tail.endswith("# END PROMPT"):
            prompt = False
            continue
        if re.match(r"\s*#\s*BEGIN\s*IGNORE", line, re.IGNORECASE):
            ignore = True
            continue
        if tail.endswith("# END IGNORE"):
            ignore = False
            continue
        if prompt or ignore or tail.endswith("# IGNORE"):
            continue
        if re.match(r"\s*# BEGIN SOLUTION( NO PROMPT)?\s*$", line) or tail.endswith("# END SOLUTION"):
            continue
        # `x = value  # SOLUTION` keeps its code without the marker (also `# SOLUTION NO PROMPT`, `# SEED`)
        line = re.sub(r"\s*# ?SOLUTION( NO PROMPT)?\s*$", "", line)
        line = re.sub(r"\s*# SEED\s*$", "", line)
        out.append(line)
    return out


def reference_source(master: Path | str) -> str:
    """The text of mfdl_reference.py for the master notebook at `master`."""
    master = Path(master)
    nb = nbformat.read(str(master), as_version=4)
    parts, in_tests = [], False
    for cell in nb.cells:
        src = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        first = src.lstrip().split("\n", 1)[0] if src.strip() else ""
        if cell.cell_type != "code":
            if cell.cell_type == "raw" and (m := _BLOCK.match(first)) and m.group(2).upper() == "TESTS":
                in_tests = m.group(1).upper() == "BEGIN"
            continue
        if in_tests or IGNORE_TAG in cell.metadata.get("tags", []) or _IGNORE_CELL.match(first):
            continue
        lines = [ln for ln in solution_lines(src) if not ln.lstrip().startswith(("%", "!"))]
        text = "\n".join(lines).strip("\n")
        if text:
            parts.append(text)
    header = (f'"""Reference solution of {master.name}, generated from it (do not edit; regenerate with\n'
              f'`python -m autograder.reference_source solutions/{master.parent.name}/{master.name}`). Hidden tests\n'
              'import it as `import mfdl_reference as ref`; Otter ships it in the autograder only."""\n')
    return header + "\n\n".join(parts) + "\n"


def reference_path(master: Path | str) -> Path:
    return Path(master).with_name(REFERENCE_FILE)


def write_reference(master: Path | str) -> Path:
    path = reference_path(master)
    path.write_text(reference_source(master))
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in argv
    masters = [a for a in argv if a != "--check"]
    if not masters:
        print("usage: python -m autograder.reference_source [--check] MASTER.ipynb ...", file=sys.stderr)
        return 2
    stale = []
    for m in masters:
        if check:
            path = reference_path(m)
            if not path.is_file() or path.read_text() != reference_source(m):
                stale.append(str(path))
        else:
            print(write_reference(m))
    for s in stale:
        print(f"{s} is not current: run python -m autograder.reference_source on its master", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
