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

import sys
from pathlib import Path

REFERENCE_FILE = "mfdl_reference.py"

def reference_source(master: Path | str) -> str:
    """The text of mfdl_reference.py for the master notebook at `master` (the same code the trusted grader
    compiles as the reference: `authoring.reference_source`)."""
    from .authoring import parse_master, reference_module_text
    return reference_module_text(parse_master(master))


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
