"""Otter compatibility corpus: masters written for Otter by others (tests/otter_corpus/, see its README).

For every corpus master: `mfdl assign` (authoring.assign_path) accepts it; its student notebook equals, cell by
cell (type, source, tags), the one stock `otter assign` writes; and `mfdl grade` gives, per question, the score
stock `otter run` gave on each honest submission (recorded in otter_scores.json by record_otter_scores.py).
Slow (one `otter assign` per master): select with `-m otter_corpus`, leave out with `-m "not otter_corpus"`.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

CORPUS_DIR = Path(__file__).resolve().parent / "otter_corpus"
sys.path.insert(0, str(CORPUS_DIR))
import corpus  # noqa: E402
import make_submissions  # noqa: E402

pytestmark = pytest.mark.otter_corpus

ALL = [pytest.param(m, id=m.name) for m in corpus.CORPUS]
GRADED = [pytest.param(m, id=m.name) for m in corpus.GRADED]
SCORES = json.loads(corpus.SCORES_PATH.read_text())


def _copy_master(master, dest: Path) -> Path:
    """The master's folder copied out of the working tree, so nothing can write beside the committed one."""
    shutil.copytree(master.folder, dest)
    return dest / master.notebook


@pytest.fixture(scope="module")
def otter_dists(tmp_path_factory):
    """Stock `otter assign` output per master, run once per module (about 5 s each)."""
    cache = {}

    def get(master):
        if master.name not in cache:
            cache[master.name] = corpus.run_otter_assign(master, tmp_path_factory.mktemp(f"otter-{master.name}"))
        return cache[master.name]
    return get


@pytest.fixture(scope="module")
def mfdl_builds(tmp_path_factory):
    """Our assign per master: {"student": notebook, "autograder": build dir}."""
    from autograder.authoring import assign_path
    cache = {}

    def get(master):
        if master.name not in cache:
            work = tmp_path_factory.mktemp(f"mfdl-{master.name}")
            cache[master.name] = assign_path(_copy_master(master, work / "master"), work / "out")
        return cache[master.name]
    return get


def _cells(path: Path) -> list[tuple[str, str, list]]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, "\n".join(line.rstrip() for line in c.source.split("\n")).rstrip(),
             list(c.metadata.get("tags", []))) for c in nb.cells]


# -- the corpus itself (needs only stock Otter) --------------------------------------------------------------

def test_scores_cover_every_graded_master_and_submission():
    assert set(SCORES["scores"]) == {m.name for m in corpus.GRADED}
    for m in corpus.GRADED:
        assert set(SCORES["scores"][m.name]) == set(corpus.SUBMISSION_KINDS), m.name
        for kind, scores in SCORES["scores"][m.name].items():
            assert scores and set(scores) == set(SCORES["max_points"][m.name]), (m.name, kind)


@pytest.mark.parametrize("master", GRADED)
def test_submissions_are_honest(master):
    """full earns every point under Otter, partial some but not all, blank less than partial."""
    s, mx = SCORES["scores"][master.name], SCORES["max_points"][master.name]
    total = {kind: sum(s[kind].values()) for kind in corpus.SUBMISSION_KINDS}
    assert s["full"] == pytest.approx(mx)
    assert total["blank"] < total["partial"] < total["full"]


@pytest.mark.parametrize("master", GRADED)
def test_committed_submissions_are_current(master, otter_dists):
    """What make_submissions.py writes from today's `otter assign` output is what is committed."""
    nbs = make_submissions.build(master, otter_dists(master))
    committed = corpus.submissions(master)
    for kind, nb in nbs.items():
        name, data = make_submissions.encode(master, kind, nb)
        assert committed[kind].name == name
        assert committed[kind].read_bytes() == data, f"{master.name}/{name}: rerun make_submissions.py"


# -- our side ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("master", ALL)
def test_mfdl_assign_accepts(master, mfdl_builds):
    out = mfdl_builds(master)
    assert Path(out["student"]).is_file()
    assert Path(out["student"]).name == master.notebook
    assert (Path(out["autograder"]) / "tests.json").is_file()


@pytest.mark.parametrize("master", ALL)
def test_student_notebook_equals_otters(master, mfdl_builds, otter_dists):
    theirs = _cells(otter_dists(master) / "student" / master.notebook)
    ours = _cells(Path(mfdl_builds(master)["student"]))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"{master.name}: cell {i} differs\nours:  {a!r}\notter: {b!r}"
    assert len(ours) == len(theirs), f"{master.name}: {len(ours)} cells, Otter writes {len(theirs)}"


@pytest.mark.parametrize("master", GRADED)
def test_mfdl_grade_matches_otter_run(master, mfdl_builds, tmp_path):
    subs = tmp_path / "submissions"
    shutil.copytree(corpus.SUBMISSIONS_DIR / master.name, subs)
    results = tmp_path / "results"
    proc = subprocess.run([corpus.tool("mfdl"), "grade", str(mfdl_builds(master)["autograder"]), str(subs),
                           "--out", str(results)], capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(results / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    with open(results / "question_stats.csv", newline="") as f:
        maxima = {r["question"]: float(r["max_points"]) for r in csv.DictReader(f)}
    expected_max = SCORES["max_points"][master.name]
    for q, mx in expected_max.items():
        assert q in maxima, f"{master.name}: no column for {q} in grades.csv"
        assert maxima[q] == pytest.approx(mx, abs=1e-4), f"{master.name} {q}: max {maxima[q]}, Otter {mx}"
    mismatches = []
    for kind, otter_scores in SCORES["scores"][master.name].items():
        row = rows.get(kind)
        assert row is not None, f"{master.name}: {kind} not graded ({sorted(rows)})"
        for q, score in otter_scores.items():
            ours = float(row[q]) if row[q] not in ("", "manual") else None
            if ours is None or abs(ours - score) > 1e-4:
                mismatches.append(f"{kind} {q}: ours {row[q]}, Otter {score:g}")
    assert not mismatches, f"{master.name}: " + "; ".join(mismatches)
