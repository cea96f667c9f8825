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

import functools
import json
import os
import sys
import time
import zipfile
from pathlib import Path

# The base image to tell an instructor to choose: Gradescope's Ubuntu 24.04 image has Python 3.12.
BASE_IMAGE_ADVICE = ("choose the Ubuntu 24.04 base image (Python 3.12) in the Gradescope autograder settings "
                     "and upload the zip again")
MIN_PYTHON = (3, 11)


def _script(text: str) -> str:
    return (text.replace("@ADVICE@", BASE_IMAGE_ADVICE).replace("@MIN@", ".".join(map(str, MIN_PYTHON)))
            .replace("@MIN_TUPLE@", repr(MIN_PYTHON)))


SETUP_SH = _script(r"""#!/usr/bin/env bash
# Runs once, as root, when Gradescope builds the autograder image (cwd: /autograder/source). Gradescope's base
# images hold python3 but neither python3-venv nor bubblewrap, and their apt lists are empty: update first.
# Any failure is recorded in SETUP_FAILED (run_autograder then reports it in every results.json) and fails
# the build, so the instructor sees it when uploading.
set -uo pipefail
root=${MFDL_GRADESCOPE_ROOT:-/autograder}
venv=${MFDL_VENV:-/opt/mfdl}
cd "$root/source"
rm -f SETUP_FAILED
fail() { echo "mfdl setup failed: $*" >&2; echo "$*" > "$root/source/SETUP_FAILED"; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "this image has no python3: @ADVICE@"
version=$(python3 -c 'import platform; print(platform.python_version())')
python3 -c 'import sys; sys.exit(sys.version_info < @MIN_TUPLE@)' || \
    fail "Python $version is too old (this autograder needs Python >= @MIN@): @ADVICE@"
export DEBIAN_FRONTEND=noninteractive
apt-get update || fail "apt-get update failed (no network while building the image?)"
apt-get install -y --no-install-recommends python3-venv || fail "apt-get could not install python3-venv"
# bubblewrap gives the student's kernel its own namespaces where the container allows them; without it the
# grader falls back to an unprivileged uid with rlimits (said in every results.json).
apt-get install -y --no-install-recommends bubblewrap || echo "note: bubblewrap not installed: uid fallback sandbox"
python3 -m venv "$venv" || fail "python3 -m venv failed"
"$venv/bin/pip" install --disable-pip-version-check -r requirements.txt || \
    fail "pip could not install requirements.txt (see the build log)"
"$venv/bin/pip" install --disable-pip-version-check --no-deps ./mfdl || fail "pip could not install the grader"
"$venv/bin/python" -c 'import autograder.gradescope, autograder.engine' || fail "the grader does not import"
"$venv/bin/python" -m autograder.gradescope --measure-preloads problem/settings.json > "$venv/.mfdl-preload-vm-kb" || \
    fail "the set's preloaded modules do not import"
touch "$venv/.mfdl-setup-complete"
""")

RUN_AUTOGRADER = _script(r"""#!/usr/bin/env bash
# Runs for every submission, as root: the trusted engine grades /autograder/submission. Whatever fails (setup
# incomplete, the grader crashing), a results.json saying why is written: Gradescope shows nothing without one.
root=${MFDL_GRADESCOPE_ROOT:-/autograder}
venv=${MFDL_VENV:-/opt/mfdl}
results="$root/results/results.json"
mkdir -p "$root/results"
report() {  # $1: the message, escaped here into a JSON string
    msg=$(printf '%s' "$1" | tr '\t\r\n' '   ' | sed 's/\\/\\\\/g; s/"/\\"/g')
    printf '{"score": 0, "output": "%s", "visibility": "visible", "stdout_visibility": "visible", "tests": []}\n' \
        "$msg" > "$results"
    echo "$1" >&2
}
if [ -s "$root/source/SETUP_FAILED" ]; then
    report "The autograder could not be set up, so this submission was not graded: $(cat "$root/source/SETUP_FAILED")"
    exit 0
fi
if [ ! -x "$venv/bin/python" ] || [ ! -e "$venv/.mfdl-setup-complete" ]; then
    report "The autograder's setup did not complete (setup.sh stopped before the grader was installed), so this submission was not graded. If the image's Python is older than @MIN@: @ADVICE@."
    exit 0
fi
rm -f "$results"
log=$(mktemp)
"$venv/bin/python" -m autograder.gradescope "$root" 2>"$log"
status=$?
cat "$log" >&2  # the grader's log, for the instructor (stdout_visibility)
if [ ! -s "$results" ]; then
    report "The autograder failed (exit status $status) before writing a result, so this submission was not graded: $(tail -n 3 "$log" | tr '\n' ' ' | cut -c1-600)"
fi
rm -f "$log"
exit 0
""")

# Import names whose pip distribution is named differently (used when the module is not installed here, so
# that importlib.metadata cannot tell); pins for packages whose version the grading must match.
PIP_NAMES = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow", "cv2": "opencv-python-headless",
             "skimage": "scikit-image", "bs4": "beautifulsoup4", "zmq": "pyzmq", "IPython": "ipython",
             "dateutil": "python-dateutil", "attr": "attrs"}
PINNED = {"torch": "torch==2.13.0"}  # the version every tolerance of PS2/PS4 was validated against
OWN_MODULES = {"autograder", "mfdl_checks", "mfdl_reference", "otter", "__future__"}


def imported_names(sources) -> set[str]:
    """Top-level module names imported anywhere in these Python sources (nested imports included; IPython
    magics and shell lines are skipped, unparsable sources are scanned line by line)."""
    import ast
    import re
    names: set[str] = set()
    for src in sources:
        text = "\n".join(ln for ln in str(src).splitlines() if not ln.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            names.update(m.group(1) for m in re.finditer(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", text, re.M))
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names


def _pip_name(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    if module in PINNED:
        return PINNED[module]
    dists = _distributions().get(module) or []
    dist = dists[0] if dists else PIP_NAMES.get(module, module)
    try:
        return f"{dist}=={version(dist)}"  # the version the problem set was validated with here
    except PackageNotFoundError:
        return dist


@functools.lru_cache(maxsize=1)
def _distributions() -> dict:
    from importlib.metadata import packages_distributions
    return packages_distributions()


def derived_requirements(build_dir: Path) -> dict[str, list[str]]:
    """{pip requirement: [where it is imported]} for what a build's tests, reference, support files and
    notebook import, beyond the standard library and our own modules; plus the set's preloads and the master's
    own `requirements` list."""
    build_dir = Path(build_dir)
    manifest = json.loads((build_dir / "tests.json").read_text())
    settings = json.loads((build_dir / "settings.json").read_text())
    local = {p.stem for p in build_dir.rglob("*.py")} | {p.name for p in build_dir.rglob("*") if p.is_dir()}
    local |= set(manifest.get("support_modules", []))
    groups = {"tests": [t.get("source", "") for q in manifest["questions"] for t in q["tests"]],
              "reference": [(build_dir / "reference.py").read_text()] if (build_dir / "reference.py").exists() else [],
              "support files": [p.read_text(errors="replace") for p in sorted(build_dir.rglob("*.py"))
                                if p.name != "reference.py"],
              "notebook": [], "preload": [f"import {m}" for m in settings.get("preload", [])]}
    nb_path = build_dir / "reference.ipynb"
    if nb_path.exists():
        cells = json.loads(nb_path.read_text()).get("cells", [])
        groups["notebook"] = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                              for c in cells if c.get("cell_type") == "code"]
    out: dict[str, list[str]] = {}
    for where, sources in groups.items():
        for module in sorted(imported_names(sources)):
            if module in sys.stdlib_module_names or module in OWN_MODULES or module in local:
                continue
            out.setdefault(_pip_name(module), []).append(where)
    for line in manifest.get("requirements") or []:
        line = str(line).strip()
        if line and not line.startswith("#") and not line.endswith((".txt", ".yml", ".yaml")):
            out.setdefault(line, []).append("master's requirements")
    return out


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


def runtime_requirements(build_dir: Path) -> list[str]:
    """requirements.txt of a set's Gradescope zip: the grader's own dependencies (as this package declares
    them; not the Docker SDK or nbclient, unused inside Gradescope, nor torch or gymnasium unless the set
    imports them), then what the set's tests, reference and notebook import, each with where it is imported."""
    import re
    from importlib.metadata import PackageNotFoundError, requires
    try:
        reqs = [r for r in (requires("mfdl-autograder") or []) if "extra ==" not in r]
    except PackageNotFoundError:
        reqs = ["numpy>=1.26", "nbformat>=5.9", "jupyter_client>=8", "ipykernel>=6.29", "pyzmq>=25", "pyyaml>=6",
                "rich>=13"]
    name = lambda r: re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower().replace("_", "-")  # noqa: E731
    lines = [r for r in reqs if name(r) not in {"docker", "nbclient", "torch", "gymnasium"}]
    have = {name(r) for r in lines}
    for req, where in derived_requirements(build_dir).items():
        if name(req) not in have:
            have.add(name(req))
            lines.append(f"{req}  # imported by the set's {', '.join(dict.fromkeys(where))}")
    return lines


def write_zip(ps) -> Path:
    """Pack the Gradescope autograder for problem set `ps` (after its autograder build is written)."""
    out_dir = ps.build_dir / "gradescope"
    out_dir.mkdir(parents=True, exist_ok=True)
    zpath = out_dir / f"{ps.folder}-autograder.zip"
    reqs = runtime_requirements(ps.autograder_dir)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, text, mode: int = 0o644):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
        add("setup.sh", SETUP_SH, 0o755)
        add("run_autograder", RUN_AUTOGRADER, 0o755)
        add("requirements.txt", "\n".join(reqs) + "\n")
        add(PRELOAD_VM_FILE, json.dumps({"preload": list(ps.preload), "vm_kb": preload_vm_kb(list(ps.preload))}))
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


# Address space. The kernel's memory limit is RLIMIT_AS (grader_config.yaml: memory_mb), calibrated with the CPU
# build of torch, whose import reserves ~0.6 GB of address space. On Gradescope pip installs torch from PyPI,
# whose Linux wheel is the CUDA build: its libraries reserve ~3.2 GB of address space on import without using
# the memory (resident size 0.5 GB; measured with torch 2.13.0 on Python 3.13), so a 2 GB limit kills the kernel
# before the student's first cell. The zip records the address space that importing the set's preloads takes
# where it was built; setup.sh measures it in the image; the runner raises the limit by the difference (never
# lowers it), so the student's own code gets the same headroom as where the limits were calibrated.
PRELOAD_VM_FILE = "preload_vm_kb.json"


def preload_vm_kb(preload: list) -> int:
    """Peak virtual memory (kB) of a fresh Python that imports `preload`, measured in a subprocess."""
    import subprocess
    code = ("import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmPeak')][0])")
    out = subprocess.run([sys.executable, "-c", code, *preload], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    return int(out.split()[-1])


def address_space_extra_mb(source: Path) -> int:
    """MB to add to memory_mb in this image: the preloads' address space here minus where the zip was built."""
    try:
        built = json.loads((source / PRELOAD_VM_FILE).read_text())["vm_kb"]
        here = int((Path(sys.prefix) / ".mfdl-preload-vm-kb").read_text().split()[-1])
    except (OSError, ValueError, KeyError, IndexError):
        return 0
    return max(0, (here - built) // 1024)


def error_results(message: str) -> dict:
    """A results.json for a submission that could not be graded because of the autograder, not the student."""
    return {"score": 0.0, "execution_time": 0, "output": message, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "visible", "tests": []}


def _write_results(results: Path, out: dict) -> None:
    results.mkdir(parents=True, exist_ok=True)
    tmp = results / ".results.json.tmp"
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, results / "results.json")


def main(root: str = "/autograder") -> int:
    results = Path(root) / "results"
    if sys.version_info < MIN_PYTHON:
        _write_results(results, error_results(
            f"The autograder needs Python >= {'.'.join(map(str, MIN_PYTHON))} and this image has "
            f"{sys.version.split()[0]}; {BASE_IMAGE_ADVICE}. This submission was not graded."))
        return 0
    try:
        return grade(root)
    except BaseException as exc:  # whatever breaks in the grader: the student still gets a results.json
        import traceback
        traceback.print_exc()
        _write_results(results, error_results(
            f"The autograder failed while grading ({type(exc).__name__}: {' '.join(str(exc).split())[:400]}), so "
            "this submission was not graded; the course staff has been told by this message. Please resubmit later."))
        return 0


def grade(root: str = "/autograder") -> int:
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
    extra = address_space_extra_mb(source)
    if extra:  # e.g. PyPI's CUDA torch: same headroom for the student's code as where limits were calibrated
        import dataclasses
        ag.limits = dataclasses.replace(ag.limits, memory_mb=ag.limits.memory_mb + extra)
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
            record = zero_record(ag, str(exc), status=getattr(exc, "status", None))
    finally:
        factory.close()
    record["seconds"] = time.monotonic() - started
    if extra:
        note += f"; address-space limit raised by {extra} MB for this image's preloaded modules"
    _write_results(results, results_json(record, note))
    print(f"{settings.get('title', settings['name'])}: {record['total']:g}/{record['possible']:g} ({record['status']}); sandbox: {note}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure-preloads":  # setup.sh: this image's preload address space
        print(preload_vm_kb(json.loads(Path(sys.argv[2]).read_text()).get("preload", [])))
        sys.exit(0)
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/autograder"))
