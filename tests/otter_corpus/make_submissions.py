"""Write the corpus's honest submissions: full, partial and blank, per graded master.

    python tests/otter_corpus/make_submissions.py          # rewrite tests/otter_corpus/submissions/
    python tests/otter_corpus/make_submissions.py --list   # show each master's answer cells (to edit WRONG)

Each submission starts from the student notebook stock `otter assign` writes (run into a temp dir):
* blank:   that notebook as released;
* full:    every code answer cell (tag otter_answer_cell) replaced by the master's solution code for it, i.e. the
           code of the matching solution cell with Otter's markers removed (`# SOLUTION` comments, BEGIN/END
           SOLUTION lines, prompt blocks, `# IGNORE` lines and blocks, `# SEED` lines, which students never see);
* partial: as full, except the answer cells listed in WRONG below, which hold a wrong answer a student could
           plausibly write (deterministic, hand-written; every one terminates: a wrong answer that loops
           forever would test the time limit, not the scoring).
Markdown (manual) answers stay as released: neither Otter nor we score them automatically.
A master with student_files gets full/partial as a zip (notebook + those files, as grader.export() would);
the blank submission is the released notebook alone.
"""
from __future__ import annotations

import argparse
import copy
import io
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

ANSWER_TAG = "otter_answer_cell"

# master -> {index of the code answer cell (0-based, in notebook order): wrong source}
# Shared shape of Otter's test masters: 0 x (q1), 1 plt (q2, manual), 2 square/nine (q3), 3 circle (question5, no
# tests), then z (q8) and add / s (q9) where the master has them.
_SKELETON_WRONG = {
    0: "x = 3",                                               # an int in range, but not the smallest prime
    2: "def square(x):\n    y = x * 2\n    return y\n\nnine = square(3)",   # doubles instead of squaring
}
WRONG = {
    "example": {**_SKELETON_WRONG,
                4: "z = np.random.normal(4, 2, 9)\nz",          # one number short
                6: "s = add(2, 1) + 1"},                       # add is right, s is not
    "exception-example": {0: "x = 1",                          # not prime: both tests fail
                          4: "z = np.random.normal(2, 4, 10)\nz"},  # right length, wrong distribution
    "generate-otter": {0: "x = 3"},
    "generate-pdf": {2: "def square(x):\n    y = x ** 3\n    return y\n\nnine = square(3)"},
    "master-skeleton": dict(_SKELETON_WRONG),
    "no-pdf-ack": {0: "x = 2.0"},                              # right value, wrong type
    "assign-full-example-v1": {
        0: ("def sieve(n):\n    \"\"\"\n    Generate a set of prime numbers less than or equal to a positive integer.\n"
            "    \"\"\"\n    return {p for p in range(2, n) if all(p % d for d in range(2, p))}"),  # misses n itself
        3: ("def gcd(a, b):\n    \"\"\"\n    Find the GCD of two positive integers.\n    \"\"\"\n"
            "    return min(a, b)"),                               # right only when one divides the other
    },
    "demo": {0: "def square(x):\n    return x * 2",             # doubles: right for 0 only
             2: ("data = pd.DataFrame({\n    \"flavor\": [\"chocolate\", \"vanilla\", \"chocolate\", \"strawberry\"],\n"
                 "    \"scoops\": [1, 1, 2, 1],\n    \"price\": [2, 1.5, 3, 2]\n})\n"
                 "price_by_flavor = data.groupby(\"flavor\").mean()[\"price\"]\nprice_by_flavor")},  # 4 rows typed
    "env-validation": {0: ("def hailstone(n):\n    l = [n]\n    while n > 2:\n        if n % 2 == 0: n = n // 2\n"
                           "        else: n = 3 * n + 1\n        l.append(n)\n    return l\n\nhailstone(7)")},  # stops at 2
}

_PROMPT_OPEN = re.compile(r'^"""\s*#\s*BEGIN PROMPT\s*$', re.I)
_PROMPT_CLOSE = re.compile(r'^"""\s*;?\s*#\s*END PROMPT\s*$', re.I)
_IGNORE_OPEN = re.compile(r"^#\s*BEGIN IGNORE\s*$", re.I)
_IGNORE_CLOSE = re.compile(r"^#\s*END IGNORE\s*$", re.I)
_SOLUTION_LINE = re.compile(r"^#\s*(BEGIN SOLUTION(\s+NO PROMPT)?|END SOLUTION)\s*$", re.I)
_DROP_LINE = re.compile(r"#\s*(IGNORE|SEED)\s*$", re.I)
_SOLUTION_TAIL = re.compile(r"\s*#\s*SOLUTION(\s+NO PROMPT)?\s*$", re.I)


def solution_code(source: str) -> str:
    """The master's solution cell as the student who solved it would have it."""
    out, closing = [], None
    for line in source.split("\n"):
        s = line.strip()
        if closing is not None:
            if closing.match(s):
                closing = None
            continue
        if _PROMPT_OPEN.match(s):
            closing = _PROMPT_CLOSE
        elif _IGNORE_OPEN.match(s):
            closing = _IGNORE_CLOSE
        elif _SOLUTION_LINE.match(s) or _DROP_LINE.search(line):
            pass
        else:
            out.append(_SOLUTION_TAIL.sub("", line))
    return "\n".join(out).strip("\n")


def master_solution_cells(master_nb) -> list[str]:
    """Code cells between raw `# BEGIN SOLUTION` / `# END SOLUTION` delimiters, in order."""
    cells, inside = [], False
    for cell in master_nb.cells:
        head = cell.source.strip().lower()
        if cell.cell_type == "raw" and head.startswith("# begin solution"):
            inside = True
        elif cell.cell_type == "raw" and head.startswith("# end solution"):
            inside = False
        elif inside and cell.cell_type == "code":
            cells.append(cell.source)
    return cells


def answer_cells(student_nb) -> list:
    return [c for c in student_nb.cells if c.cell_type == "code" and ANSWER_TAG in c.metadata.get("tags", [])]


def build(master: corpus.Master, dist: Path) -> dict[str, object]:
    """{kind: notebook node} from the dist folder `otter assign` wrote for the master."""
    student_path = dist / "student" / master.notebook
    released = nbformat.read(student_path, as_version=4)
    solutions = [solution_code(s) for s in master_solution_cells(nbformat.read(master.path, as_version=4))]
    n_answers = len(answer_cells(released))
    if n_answers != len(solutions):
        raise SystemExit(f"{master.name}: {n_answers} code answer cells in the student notebook but "
                         f"{len(solutions)} solution code cells in the master: fix the pairing before writing")
    wrong = WRONG.get(master.name, {})
    bad = sorted(set(wrong) - set(range(n_answers)))
    if bad:
        raise SystemExit(f"{master.name}: WRONG names answer cells {bad}, the notebook has {n_answers}")
    out = {"blank": released}
    for kind in ("full", "partial"):
        nb = nbformat.read(student_path, as_version=4)
        for i, cell in enumerate(answer_cells(nb)):
            cell.source = wrong[i] if kind == "partial" and i in wrong else solutions[i]
        out[kind] = nb
    return out


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))   # fixed: reruns give equal bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def encode(master: corpus.Master, kind: str, nb) -> tuple[str, bytes]:
    """(file name, bytes) of one submission as committed."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if "id" in cell:   # Otter draws nbformat 4.5 cell ids at random: fixed ones keep reruns byte-equal
            cell["id"] = f"cell-{i}"
    text = nbformat.writes(nb).encode()
    if master.student_files and kind != "blank":
        members = {master.notebook: text}
        members.update({f: (master.folder / f).read_bytes() for f in master.student_files})
        return f"{kind}.zip", _zip_bytes(members)
    return f"{kind}.ipynb", text


def write(master: corpus.Master, notebooks: dict) -> list[Path]:
    folder = corpus.SUBMISSIONS_DIR / master.name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    written = []
    for kind, nb in notebooks.items():
        name, data = encode(master, kind, nb)
        (folder / name).write_bytes(data)
        written.append(folder / name)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print each master's code answer cells and solutions")
    ap.add_argument("names", nargs="*", help="masters to do (default: every graded one)")
    args = ap.parse_args(argv)
    masters = [corpus.BY_NAME[n] for n in args.names] if args.names else list(corpus.GRADED)
    for master in masters:
        with tempfile.TemporaryDirectory() as tmp:
            nbs = build(master, corpus.run_otter_assign(master, Path(tmp)))
            if args.list:
                released = answer_cells(nbs["blank"])
                for i, (r, f) in enumerate(zip(released, answer_cells(nbs["full"]))):
                    print(f"== {master.name} [{i}]\n-- released:\n{r.source}\n-- solution:\n{f.source}")
                continue
            for p in write(master, nbs):
                print(p.relative_to(corpus.HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
