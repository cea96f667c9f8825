"""Batch grading: a pool of trusted worker processes, each driving one sandboxed kernel at a time (with
the next one booting). Every finished grade is written at once (atomic rename), so a killed batch re-run
resumes where it stopped and never loses or duplicates a grade. A crash of a worker costs at most a retry
of the submissions it held; a submission that crashes workers twice gets an error row."""
from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing as mp
import os
import statistics
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from . import feedback
from .config import load_config
from .engine import Autograder, InvalidSubmission, KernelFactory, grade_bytes, zero_record
from .submissions import Submission, discover, read_submission

_worker: dict = {}


class BuildFolder:
    """An autograder build graded directly (`mfdl grade BUILD_DIR ...`), e.g. from `mfdl assign MASTER --out DIR`:
    everything comes from the folder's settings.json, tests.json and reference.py."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not (self.path / "settings.json").is_file() or not (self.path / "tests.json").is_file():
            raise FileNotFoundError(f"{self.path} is neither a configured problem set nor an autograder build "
                                    "(no settings.json/tests.json): run `mfdl assign MASTER --out DIR` and pass DIR/autograder")
        settings = json.loads((self.path / "settings.json").read_text())
        self.key, self.notebook = settings["name"], settings["notebook"]
        self.title = settings.get("title") or settings["name"]

    def spec(self) -> tuple:
        return ("build", str(self.path))


def target_spec(ps) -> tuple:
    """A picklable description of what to grade, for worker processes."""
    return ps.spec() if isinstance(ps, BuildFolder) else ("config", str(ps.config_path), ps.key)


def load_target(spec: tuple):
    """(what to grade, its Autograder) from `target_spec`."""
    if spec[0] == "build":
        return BuildFolder(Path(spec[1])), Autograder.from_bundle(Path(spec[1]))
    ps = load_config(spec[1]).problem_set(spec[2])
    return ps, Autograder.load(ps)


def _init_worker(spec: tuple, slots, backend: str, image) -> None:
    ps, ag = load_target(spec)
    slot = slots.get()
    factory = KernelFactory(ag, slot=slot, backend=backend, image=image)
    factory.prestart()
    _worker.update(ag=ag, factory=factory, notebook=ps.notebook)
    import atexit
    atexit.register(factory.close)


def _grade_one(path: str) -> dict:
    ag, factory = _worker["ag"], _worker["factory"]
    try:
        data, files = read_submission(Path(path), _worker["notebook"], ag.files_from_student)
    except InvalidSubmission as exc:
        return zero_record(ag, str(exc))
    return grade_bytes(data, ag, factory, files)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


class BatchGrader:
    def __init__(self, ps, out: Path, *, jobs: int | None = None, console=None, backend: str = "local",
                 image: str | None = None):
        self.backend, self.image = backend, image
        self.ps = ps
        self.out = Path(out)
        self.jobs = max(1, jobs or min(2, os.cpu_count() or 1))
        self.spec = target_spec(ps)
        self.ag = load_target(self.spec)[1]
        self.records_dir = self.out / "records"
        self.feedback_dir = self.out / "feedback"
        self.console = console
        self.questions = [q["name"] for q in self.ag.manifest["questions"]]
        self.manual = {q["name"] for q in self.ag.manifest["questions"] if q["manual"]}

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _logger(self) -> logging.Logger:
        log = logging.getLogger(f"mfdl.batch.{id(self)}")
        log.setLevel(logging.INFO)
        handler = logging.FileHandler(self.out / "run.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        return log

    def _record_path(self, sub: Submission) -> Path:
        return self.records_dir / f"{sub.student}.json"

    def _done(self, sub: Submission, sha: str) -> bool:
        try:
            rec = json.loads(self._record_path(sub).read_text())
        except (OSError, ValueError):
            return False
        # Grader-side failures ("error: ...") are retried on the next run; the student's own are final.
        return (rec.get("submission_sha256") == sha and rec.get("autograder") == self.ag.fingerprint
                and not str(rec.get("status", "")).startswith("error"))

    def _save(self, sub: Submission, sha: str, rec: dict) -> None:
        rec = dict(rec, student=sub.student, file=sub.path.name, submission_sha256=sha,
                   autograder=self.ag.fingerprint, graded_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        _atomic_write(self._record_path(sub), json.dumps(rec, indent=1))
        _atomic_write(self.feedback_dir / f"{sub.student}.md", feedback.render(sub.student, self.ps.title, rec))

    def write_tables(self) -> None:
        records = []
        for p in sorted(self.records_dir.glob("*.json")):
            try:
                records.append(json.loads(p.read_text()))
            except ValueError:
                continue
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["student", *self.questions, "total", "status"])
        for r in records:
            row = [r["student"]]
            for q in self.questions:
                qa = r["questions"].get(q, {})
                row.append("manual" if q in self.manual else f"{qa.get('score', 0):g}")
            row += [f"{r['total']:g}", r["status"]]
            w.writerow(row)
        _atomic_write(self.out / "grades.csv", buf.getvalue())
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["question", "max_points", "graded", "mean", "median", "min", "max", "full_marks", "zero"])
        for q in self.questions:
            qmax = next(x["points"] for x in self.ag.manifest["questions"] if x["name"] == q)
            if q in self.manual:
                w.writerow([q, f"{qmax:g}", "manual", "", "", "", "", "", ""])
                continue
            scores = [r["questions"][q]["score"] for r in records if q in r["questions"]]
            if not scores:
                w.writerow([q, f"{qmax:g}", 0, "", "", "", "", "", ""])
                continue
            w.writerow([q, f"{qmax:g}", len(scores), f"{statistics.mean(scores):.3f}",
                        f"{statistics.median(scores):g}", f"{min(scores):g}", f"{max(scores):g}",
                        sum(s >= qmax - 1e-9 for s in scores), sum(s == 0 for s in scores)])
        _atomic_write(self.out / "question_stats.csv", buf.getvalue())

    # -- the run -------------------------------------------------------------------------------------
    def run(self, folder: Path) -> dict:
        for d in (self.out, self.records_dir, self.feedback_dir):
            d.mkdir(parents=True, exist_ok=True)
        log = self._logger()
        subs = discover(folder)
        todo, skipped = [], 0
        for sub in subs:
            sha = sub.sha256()
            if self._done(sub, sha):
                skipped += 1
            else:
                todo.append((sub, sha))
        log.info("batch %s: %d submissions, %d already graded, %d to grade, %d workers",
                 self.ps.key, len(subs), skipped, len(todo), self.jobs)
        self._say(f"{len(subs)} submissions in {folder}: {skipped} already graded, grading {len(todo)} "
                  f"with {self.jobs} worker(s)")
        attempts: dict[str, int] = {}
        pending = list(todo)
        started = time.monotonic()
        # This batch's own block of sandbox uids, held until it ends; the workers inherit it (see uidpool).
        from . import uidpool
        block = uidpool.reserve()
        inherited = os.environ.get(uidpool.ENV)
        os.environ[uidpool.ENV] = str(block.index)
        log.info("sandbox uids %d-%d (block %d)", block.first, block.first + uidpool.BLOCK_SIZE - 1, block.index)
        if self.backend == "docker":
            from . import docker_backend
            docker_backend.sweep_orphans()
            batch = docker_backend.batch_id()  # inherited by the workers: labels this batch's containers
        try:
            while pending:
                pending = self._run_pool(pending, attempts, log)
        finally:
            if self.backend == "docker":  # no container survives the batch, even after Ctrl-C
                docker_backend.remove_containers(batch)
                docker_backend.sweep_orphans()  # and late ones of a killed batch, created after our first sweep
            if inherited is None:
                os.environ.pop(uidpool.ENV, None)
            else:
                os.environ[uidpool.ENV] = inherited
            block.release()
        self.write_tables()
        elapsed = time.monotonic() - started
        log.info("batch done: %d graded in %.1f s", len(todo), elapsed)
        return {"submissions": len(subs), "graded": len(todo), "skipped": skipped, "seconds": elapsed}

    def _run_pool(self, pending, attempts, log):
        ctx = mp.get_context("spawn")
        slots = ctx.Queue()
        for i in range(self.jobs):
            slots.put(i)
        remaining = []
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(self.spec, slots, self.backend, self.image)) as pool:
            futures = {pool.submit(_grade_one, str(sub.path)): (sub, sha) for sub, sha in pending}
            not_done = set(futures)
            while not_done:
                done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
                for fut in done:
                    sub, sha = futures[fut]
                    try:
                        rec = fut.result()
                    except BrokenProcessPool:
                        attempts[sub.student] = attempts.get(sub.student, 0) + 1
                        if attempts[sub.student] >= 2:
                            rec = zero_record(self.ag, "the grading worker crashed twice on this submission",
                                              status="error: grading worker crashed")
                        else:
                            remaining.append((sub, sha))
                            continue
                    except Exception as exc:  # a grader bug must not cost the batch; record it
                        rec = zero_record(self.ag, f"internal grader error: {type(exc).__name__}: {exc}",
                                          status="error: internal grader error")
                        log.exception("internal error on %s", sub.student)
                    self._save(sub, sha, rec)
                    self.write_tables()
                    log.info("%s: %s, %g/%g, %.1f s%s", sub.student, rec["status"], rec["total"], rec["possible"],
                             rec.get("seconds", 0), "".join(f"; {i}" for i in rec.get("issues", [])[:5]))
                    self._say(f"  {sub.student}: {rec['total']:g}/{rec['possible']:g} ({rec['status']})")
        return remaining

    def _say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, markup=False, highlight=False)
