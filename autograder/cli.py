"""`mfdl`: assign, grade and validate problem sets."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from .config import ConfigError, load_config
from .otter_format import AuthoringError
from .testrun import ReferenceLoadError

console = Console(stderr=False, soft_wrap=True)


def cmd_assign(args) -> int:
    from .authoring import assign_path, parse_master, write_outputs
    target = Path(args.problem_set)
    if target.suffix == ".ipynb":  # any Otter master: `mfdl assign MASTER.ipynb --out DIR`
        if not target.exists():
            raise FileNotFoundError(f"no master notebook at {target}")
        out_dir = Path(args.out or target.parent / "dist")
        res = assign_path(target, out_dir)
        a, label = res["assignment"], target.name
        out = {"student": res["student"], "autograder": res["autograder"]}
    else:
        if args.out:
            console.print("error: --out is for a master notebook path; a problem set writes to assignments/ and "
                          "build/", markup=False)
            return 2
        ps = load_config(args.config).problem_set(args.problem_set)
        a = parse_master(ps.master_path)
        out = write_outputs(a, ps)
        label = ps.key
    for note in a.notices:
        console.print(f"note: {note}", markup=False)
    n_auto = sum(not q.manual for q in a.questions)
    n_tests = sum(len(q.tests) for q in a.questions)
    n_hidden = sum(t.hidden for q in a.questions for t in q.tests)
    console.print(f"{label}: {len(a.questions)} questions ({n_auto} autograded, {len(a.questions) - n_auto} manual), "
                  f"{n_tests} tests ({n_hidden} hidden), {a.auto_points:g} autograded points", markup=False)
    if a.untested:
        console.print(f"questions without tests (not graded, as in Otter): {', '.join(a.untested)}", markup=False)
    console.print(f"student notebook: {out['student']}", markup=False)
    if "handout" in out:
        console.print(f"for students to download (notebook + support files): {out['handout']}", markup=False)
    console.print(f"autograder (hidden tests, keep private): {out['autograder']}", markup=False)
    if "gradescope" in out:
        console.print(f"Gradescope autograder zip (keep private): {out['gradescope']}", markup=False)
    return 0


def _ensure_built(ps) -> None:
    if not (ps.autograder_dir / "tests.json").exists() or \
            (ps.master_path.stat().st_mtime > (ps.autograder_dir / "tests.json").stat().st_mtime):
        from .authoring import parse_master, write_outputs
        console.print(f"building the autograder for {ps.key} from {ps.master_path.name}")
        write_outputs(parse_master(ps.master_path), ps)


def parse_jobs(value) -> int | None:
    """--jobs: a whole number >= 1 (None: the default). Anything else is a one-line error."""
    if value is None:
        return None
    try:
        jobs = int(value)
    except ValueError:
        raise UsageError(f"--jobs must be a whole number of workers (at least 1), not {value!r}") from None
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1 (got {jobs})")
    return jobs


class UsageError(ValueError):
    """A command line mistake: printed as one line, exit status 2."""


def cmd_grade(args) -> int:
    from . import sandbox
    from .batch import BatchGrader, BuildFolder
    from .submissions import discover
    jobs = parse_jobs(args.jobs)
    subs = discover(Path(args.submissions))  # before anything is started: nothing to grade is an error
    if Path(args.problem_set).is_dir():
        ps = BuildFolder(Path(args.problem_set))
    else:
        ps = load_config(args.config).problem_set(args.problem_set)
    if args.backend == "docker":
        from . import docker_backend
        try:
            detail = docker_backend.check_available(args.image or docker_backend.DEFAULT_IMAGE)
        except docker_backend.DockerUnavailable as exc:
            console.print(f"cannot grade with --backend docker: {exc}. The local backend (--backend local) needs "
                          "no engine.")
            return 2
        console.print(f"backend: docker ({detail}; one container per submission: no network, read-only root, "
                      "unprivileged uid, memory/pids/CPU limits)")
    else:
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            console.print(f"cannot grade: the local sandbox is unavailable: {exc}")
            return 2
        console.print("backend: local (bubblewrap sandbox: no network, private filesystem view, unprivileged uid, "
                      "resource limits; the default, needs no Docker engine)")
    if not isinstance(ps, BuildFolder):
        _ensure_built(ps)
    grader = BatchGrader(ps, Path(args.out), jobs=jobs, console=console, backend=args.backend,
                         image=args.image)
    folders = [s for s in subs if s.path.is_dir()]
    if folders:
        console.print(f"{len(folders)} per-student folder(s): each graded under the folder's name "
                      "(its notebook or zip, and declared files beside it)", markup=False)
    summary = grader.run(Path(args.submissions))
    out = Path(args.out)
    console.print(f"graded {summary['graded']} (skipped {summary['skipped']} already graded) in "
                  f"{summary['seconds']:.1f} s")
    wrong = _wrong_assignment_rows(out / "grades.csv")
    if wrong:
        console.print(f"warning: {len(wrong)} submission(s) belong to another assignment (scored 0, status "
                      f"'wrong assignment'): {', '.join(wrong[:10])}", markup=False)
    console.print(f"grades:          {out / 'grades.csv'}")
    console.print(f"question stats:  {out / 'question_stats.csv'}")
    console.print(f"feedback:        {out / 'feedback'}/")
    console.print(f"run log:         {out / 'run.log'}")
    return 0


def _wrong_assignment_rows(csv_path: Path) -> list[str]:
    import csv
    try:
        with open(csv_path, newline="") as fh:
            return [r["student"] for r in csv.DictReader(fh) if r.get("status", "").startswith("wrong assignment")]
    except OSError:
        return []


def cmd_validate(args) -> int:
    from .validate import validate
    ps = load_config(args.config).problem_set(args.problem_set)
    ok = validate(ps, console, plain_run=not args.skip_plain_run)
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mfdl", description="Autograder for Mathematical Foundations of Deep Learning")
    parser.add_argument("--config", default=None, help="path to grader_config.yaml (default: the repository's)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("assign", help="write the student notebook and the autograder from the master notebook")
    p.add_argument("problem_set", help="a problem set of grader_config.yaml, or the path of an Otter master .ipynb")
    p.add_argument("--out", default=None, help="output folder for a master path (default: dist/ beside it)")
    p.set_defaults(func=cmd_assign)
    p = sub.add_parser("grade", help="grade every .ipynb / .zip in a folder")
    p.add_argument("problem_set", help="a problem set of grader_config.yaml, or an autograder build folder")
    p.add_argument("submissions", help="a folder of .ipynb/.zip files or of per-student folders, or one "
                   ".ipynb/.zip file")
    p.add_argument("--out", default="results")
    p.add_argument("--jobs", default=None, help="parallel workers, at least 1 (default: min(2, cores))")
    p.add_argument("--backend", default="local", choices=["local", "docker"],
                   help="local: bubblewrap sandbox (default); docker: one container per submission")
    p.add_argument("--image", default=None, help="grading image for --backend docker (default: mfdl-grader:latest)")
    p.set_defaults(func=cmd_grade)
    p = sub.add_parser("validate", help="prove the test suite: reference 100%%, stub 0, every catalogued bug caught")
    p.add_argument("problem_set")
    p.add_argument("--skip-plain-run", action="store_true", help="skip executing the notebooks in plain Jupyter")
    p.set_defaults(func=cmd_validate)
    args = parser.parse_args(argv)
    from .submissions import NoSubmissions
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, AuthoringError, ReferenceLoadError, NoSubmissions, UsageError) as exc:
        console.print(f"error: {' '.join(str(exc).split())}", markup=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
