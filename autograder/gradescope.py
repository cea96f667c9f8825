"""Gradescope: the autograder zip that `mfdl assign` builds, and the runner it calls.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once when it builds the image, then for
each submission runs /autograder/run_autograder with the student's files in /autograder/submission and reads
/autograder/results/results.json (format: Gradescope's "Autograder Specifications"). Our run_autograder runs
this module: the trusted engine, not an in-kernel checker.

Sandboxing inside Gradescope's container: bubblewrap when namespaces can be created there; otherwise the kernel
runs as an unprivileged uid with rlimits, and /autograder/source and /autograder/results are made root-only
before any student code runs, so the hidden tests, the reference and the results file stay out of reach.
"""
from __future__ import annotations

import json
import os
import sys
import time
import zipfile
from pathlib import Path

SETUP_SH = """#!/usr/bin/env bash
# Runs once, as root, when Gradescope builds the autograder image (cwd: /autograder/source).
set -euo pipefail
cd /autograder/source
if ! python3 -m venv --help >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-venv
fi
command -v bwrap >/dev/null 2>&1 || apt-get install -y bubblewrap >/dev/null 2>&1 || true
python3 -m venv /opt/mfdl
/opt/mfdl/bin/pip install --disable-pip-version-check -r requirements.txt
/opt/mfdl/bin/pip install --disable-pip-version-check --no-deps ./mfdl
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Runs for every submission, as root: the trusted engine grades /autograder/submission.
exec /opt/mfdl/bin/python -m autograder.gradescope /autograder
"""

def runtime_requirements(preload: list) -> list[str]:
    """This package's own dependencies (as installed), without the Docker SDK (not used inside Gradescope)
    and without torch unless the problem set preloads it; the package itself installs with --no-deps."""
    import re
    from importlib.metadata import PackageNotFoundError, requires
    try:
        reqs = [r for r in (requires("mfdl-autograder") or []) if "extra ==" not in r]
    except PackageNotFoundError:
        reqs = ["numpy", "nbformat", "jupyter_client", "ipykernel", "pyzmq", "pyyaml", "rich"]
    name = lambda r: re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower()  # noqa: E731
    return [r for r in reqs if name(r) not in {"docker", "nbclient"} and (name(r) != "torch" or "torch" in preload)]


PACKAGE_PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "mfdl-autograder"
version = "0.1.0"
requires-python = ">=3.11"

[tool.setuptools.packages.find]
include = ["autograder", "autograder.*"]
"""


def write_zip(ps) -> Path:
    """Pack the Gradescope autograder for problem set `ps` (after its autograder build is written)."""
    out_dir = ps.build_dir / "gradescope"
    out_dir.mkdir(parents=True, exist_ok=True)
    zpath = out_dir / f"{ps.folder}-autograder.zip"
    reqs = runtime_requirements(ps.preload)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, text, mode: int = 0o644):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
        add("setup.sh", SETUP_SH, 0o755)
        add("run_autograder", RUN_AUTOGRADER, 0o755)
        add("requirements.txt", "\n".join(reqs) + "\n")
        for src in sorted(ps.autograder_dir.rglob("*")):  # the whole build: tests, reference, settings, files
            if src.is_file() and "__pycache__" not in src.parts:
                add(f"problem/{src.relative_to(ps.autograder_dir).as_posix()}", src.read_bytes())
        add("mfdl/pyproject.toml", PACKAGE_PYPROJECT)
        package = Path(__file__).parent
        for src in sorted(package.rglob("*.py")):  # this package with its subpackages, as installed
            if "__pycache__" not in src.parts:
                add(f"mfdl/autograder/{src.relative_to(package).as_posix()}", src.read_text())
    return zpath


# ----------------------------------------------------------------------------------------------------------
# The runner (inside Gradescope's container)
# ----------------------------------------------------------------------------------------------------------
def find_submission(folder: Path, notebook: str) -> Path:
    candidates = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".ipynb", ".zip")
                        and ".ipynb_checkpoints" not in p.parts and "__MACOSX" not in p.parts)
    named = [p for p in candidates if p.name == notebook]
    if named:
        return named[0]
    if len(candidates) == 1:
        return candidates[0]
    from .engine import InvalidSubmission
    if not candidates:
        raise InvalidSubmission(f"no notebook found in the submission (expected {notebook})")
    raise InvalidSubmission(f"several files could be the submission ({', '.join(p.name for p in candidates[:5])}); "
                            f"name the notebook {notebook}")


def results_json(record: dict, note: str) -> dict:
    """Gradescope's results format: per public test a visible entry with its message; per question one entry
    for its hidden tests, visible only once grades are published and saying only how many failed; the
    individual hidden tests as instructor-only ("hidden") entries."""
    tests = []
    by_q: dict[str, list] = {}
    for t in record.get("tests", []):
        by_q.setdefault(t["question"], []).append(t)
    for qname, q in record["questions"].items():
        if q["manual"]:
            continue
        for t in by_q.get(qname, []):
            if t["hidden"]:
                continue
            tests.append({"name": f"{qname}: {t['description']}", "score": t["score"], "max_score": t["points"],
                          "status": "passed" if t["passed"] else "failed", "visibility": "visible",
                          "output": t["message"] or "passed", "tags": [qname]})
        hidden = [t for t in by_q.get(qname, []) if t["hidden"]]
        if hidden:
            failed = sum(not t["passed"] for t in hidden)
            tests.append({"name": f"{qname}: hidden tests", "score": sum(t["score"] for t in hidden),
                          "max_score": sum(t["points"] for t in hidden),
                          "status": "failed" if failed else "passed", "visibility": "after_published",
                          "output": f"{failed} of {len(hidden)} hidden tests failed" if failed
                          else f"all {len(hidden)} hidden tests passed", "tags": [qname]})
            for t in hidden:
                tests.append({"name": f"{qname}: {t['description']} (hidden)", "score": 0.0, "max_score": 0.0,
                              "status": "passed" if t["passed"] else "failed", "visibility": "hidden",
                              "output": t["message"] or "passed", "tags": [qname, "hidden-detail"]})
        if not by_q.get(qname):  # no test ran (invalid submission): keep the question visible at 0
            tests.append({"name": f"{qname}", "score": 0.0, "max_score": q["max"], "status": "failed",
                          "visibility": "visible", "output": "not graded", "tags": [qname]})
    issues = record.get("issues", [])
    output = record.get("status", "")
    if issues:
        output += "\n" + "\n".join(f"- {i}" for i in issues)
    return {"score": record["total"], "execution_time": int(round(record.get("seconds", 0))),
            "output": output, "output_format": "md", "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"sandbox": note, "possible": record["possible"]}, "tests": tests}


def main(root: str = "/autograder") -> int:
    from . import sandbox
    from .engine import Autograder, InvalidSubmission, KernelFactory, grade_bytes, zero_record
    from .submissions import read_loose_files, read_submission
    root_p = Path(root)
    source, submission, results = root_p / "source", root_p / "submission", root_p / "results"
    results.mkdir(parents=True, exist_ok=True)
    for p in (source, results):  # out of reach of the student's uid (the uid fallback shares this filesystem)
        os.chmod(p, 0o700)
    started = time.monotonic()
    ag = Autograder.from_bundle(source / "problem")
    settings = json.loads((source / "problem" / "settings.json").read_text())
    try:
        sandbox.check_available()
        backend, note = "local", "bubblewrap namespaces + unprivileged uid + rlimits"
    except sandbox.SandboxUnavailable as exc:
        backend, note = "uid", f"unprivileged uid + rlimits (no namespaces here: {exc})"
    factory = KernelFactory(ag, backend=backend)
    try:
        try:
            path = find_submission(submission, settings["notebook"])
            data, files = read_submission(path, settings["notebook"], ag.files_from_student)
            if path.suffix.lower() != ".zip":  # the notebook uploaded with its files beside it
                files = read_loose_files(submission, ag.files_from_student)
            record = grade_bytes(data, ag, factory, files)
        except InvalidSubmission as exc:
            record = zero_record(ag, str(exc))
    finally:
        factory.close()
    record["seconds"] = time.monotonic() - started
    out = results_json(record, note)
    tmp = results / ".results.json.tmp"
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, results / "results.json")
    print(f"{settings.get('title', settings['name'])}: {record['total']:g}/{record['possible']:g} ({record['status']}); sandbox: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/autograder"))
