"""The Otter compatibility corpus: which masters it holds and how stock Otter is run on them.

Shared by make_submissions.py, record_otter_scores.py, compare_table.py and tests/test_otter_corpus.py, so the
four agree on names and paths. Everything here is plain Python + nbformat; stock Otter runs as a subprocess
(the `otter` command beside the running interpreter, else on PATH).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MASTERS_DIR = HERE / "masters"
SUBMISSIONS_DIR = HERE / "submissions"
SCORES_PATH = HERE / "otter_scores.json"
SUBMISSION_KINDS = ("full", "partial", "blank")


@dataclass(frozen=True)
class Master:
    name: str                         # folder under masters/ and submissions/
    notebook: str                     # the master's file name inside its folder
    graded: bool = True               # False: Otter writes no autograder for it (generate: false): assign only
    student_files: tuple[str, ...] = ()   # files a student hands in with the notebook (ASSIGNMENT CONFIG
                                          # student_files): full/partial submissions are zips holding them

    @property
    def folder(self) -> Path:
        return MASTERS_DIR / self.name

    @property
    def path(self) -> Path:
        return self.folder / self.notebook


CORPUS = (
    Master("example", "example.ipynb", student_files=("student_file.py",)),
    Master("exception-example", "exception-example.ipynb"),
    Master("generate-otter", "generate-otter.ipynb"),
    Master("generate-pdf", "generate-pdf.ipynb"),
    Master("master-skeleton", "master-skeleton.ipynb"),
    Master("no-pdf-ack", "master.ipynb"),
    Master("assign-full-example-v1", "assign-full-example-v1.ipynb"),
    Master("demo", "demo.ipynb"),
    Master("env-validation", "env-validation.ipynb"),
    Master("lecture-notebook", "lecture-notebook.ipynb", graded=False),
)
GRADED = tuple(m for m in CORPUS if m.graded)
BY_NAME = {m.name: m for m in CORPUS}


def tool(name: str) -> str:
    """A console script of the running environment (the venv's otter/mfdl), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"`{name}` is not installed in this environment (pip install -e '.[dev]')")
    return found


def run_otter_assign(master: Master, workdir: Path) -> Path:
    """Copy the master's folder into workdir and run stock `otter assign` there; returns the dist folder."""
    src = workdir / "master"
    shutil.copytree(master.folder, src)
    dist = workdir / "dist"
    proc = subprocess.run([tool("otter"), "assign", master.notebook, str(dist)], cwd=src,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"otter assign {master.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return dist


def submissions(master: Master) -> dict[str, Path]:
    """kind -> committed submission file (.ipynb, or .zip when the master asks for student files)."""
    out = {}
    for kind in SUBMISSION_KINDS:
        hits = [p for p in (SUBMISSIONS_DIR / master.name).glob(f"{kind}.*") if p.suffix in (".ipynb", ".zip")]
        if len(hits) != 1:
            raise FileNotFoundError(f"submissions/{master.name}/{kind}.ipynb|zip missing (run make_submissions.py)")
        out[kind] = hits[0]
    return out
