"""Print a markdown table of Otter's and our per-question scores on the corpus (for the README).

    python tests/otter_corpus/compare_table.py               # ours by `mfdl assign` + `mfdl grade` (temp dirs)
    python tests/otter_corpus/compare_table.py --otter-only  # just the recorded Otter scores

Otter's scores are the ones recorded in otter_scores.json (record_otter_scores.py); ours come from building
each master with autograder.authoring.assign_path and grading the committed submissions with `mfdl grade`.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402


def mfdl_scores(master: corpus.Master) -> dict[str, dict[str, str]]:
    """{submission kind: {question: score as grades.csv writes it}}; raises with mfdl's message on failure."""
    from autograder.authoring import assign_path
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copytree(master.folder, tmp / "master")
        build = assign_path(tmp / "master" / master.notebook, tmp / "out")
        shutil.copytree(corpus.SUBMISSIONS_DIR / master.name, tmp / "subs")
        proc = subprocess.run([corpus.tool("mfdl"), "grade", str(build["autograder"]), str(tmp / "subs"),
                               "--out", str(tmp / "results")], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError((proc.stdout + proc.stderr).strip().splitlines()[-1])
        with open(tmp / "results" / "grades.csv", newline="") as f:
            return {r["student"]: r for r in csv.DictReader(f)}


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def table(otter_only: bool) -> str:
    """One row per notebook and submission; each cell lists `question score` (Otter's with /max)."""
    data = json.loads(corpus.SCORES_PATH.read_text())
    head = ["notebook", "submission", f"Otter {data['otter_grader']} (score/max)"]
    if not otter_only:
        head += ["mfdl grade", "same"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for master in corpus.GRADED:
        ours, why = {}, ""
        if not otter_only:
            try:
                ours = mfdl_scores(master)
            except Exception as exc:  # the table still shows Otter's side and why ours is missing
                msg = str(exc).strip()
                why = (msg if msg.startswith("error:") else f"error: {msg}")[:120].replace("|", "/")
        maxima = data["max_points"][master.name]
        for kind, scores in data["scores"][master.name].items():
            row = [master.name, kind, ", ".join(f"{q} {_fmt(s)}/{_fmt(maxima[q])}" for q, s in scores.items())]
            if not otter_only:
                mine = {q: ours.get(kind, {}).get(q, "missing") for q in scores}
                same = not why and all(_same(mine[q], s) for q, s in scores.items())
                row += [why or ", ".join(f"{q} {v}" for q, v in mine.items()), "yes" if same else "**no**"]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _same(mine: str, score: float) -> bool:
    try:
        return abs(float(mine) - score) <= 1e-4
    except ValueError:   # "manual", "missing", ""
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--otter-only", action="store_true", help="print only the recorded Otter scores")
    print(table(ap.parse_args(argv).otter_only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
