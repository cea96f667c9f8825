"""Record stock Otter's per-question scores on every corpus submission into otter_scores.json.

    python tests/otter_corpus/record_otter_scores.py

For each graded master: stock `otter assign` (into a temp dir) builds the autograder zip, then
`otter run -a <zip> -o <tmp> <submission>` grades each committed submission (full, partial, blank) in-process,
offline (the corpus masters need no network and no PDF: see README.md for the edits that made that so).
Otter's results.json lists one entry per autograded question (manual questions and questions without tests
get none); those scores and maxima are what is recorded:

    {"otter_grader": "7.0.0",
     "scores":     {master: {submission: {question: score}}},
     "max_points": {master: {question: max}}}
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

SUMMARY_ENTRY = "Public Tests"   # Otter's summary of the public tests: not a question


def otter_run(zip_path: Path, submission: Path, out: Path) -> dict:
    out.mkdir(parents=True)
    proc = subprocess.run([corpus.tool("otter"), "run", "-a", str(zip_path), "-o", str(out), str(submission)],
                          capture_output=True, text=True, timeout=600)
    results = out / "results.json"
    if proc.returncode != 0 or not results.exists():
        raise RuntimeError(f"otter run on {submission} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(results.read_text())


def per_question(results: dict) -> tuple[dict, dict]:
    scores, maxima = {}, {}
    for entry in results["tests"]:
        if entry["name"] == SUMMARY_ENTRY:
            continue
        scores[entry["name"]] = round(float(entry["score"]), 6)
        maxima[entry["name"]] = round(float(entry["max_score"]), 6)
    return scores, maxima


def record(masters) -> dict:
    data = {"otter_grader": version("otter-grader"), "scores": {}, "max_points": {}}
    for master in masters:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            dist = corpus.run_otter_assign(master, tmp)
            (zip_path,) = (dist / "autograder").glob("*.zip")
            data["scores"][master.name] = {}
            for kind, sub in corpus.submissions(master).items():
                scores, maxima = per_question(otter_run(zip_path, sub, tmp / f"run-{kind}"))
                data["scores"][master.name][kind] = scores
                if data["max_points"].setdefault(master.name, maxima) != maxima:
                    raise RuntimeError(f"{master.name}: Otter reported different maxima for {kind}")
                print(f"{master.name:24s} {kind:8s} " + ", ".join(f"{q}={s:g}" for q, s in scores.items()))
    return data


def main() -> int:
    data = record(corpus.GRADED)
    corpus.SCORES_PATH.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {corpus.SCORES_PATH.relative_to(corpus.HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
