"""The Gradescope autograder zip of every problem set, run for real inside containers laid out like
Gradescope's (/autograder/source, /autograder/submission, /autograder/results) and built the way Gradescope
builds them: a minimal base holding only python3 (no python3-venv, no bubblewrap, no apt lists; Debian
bookworm's Python 3.11 and trixie's 3.13, made with mmdebstrap by docker/make-gradescope-base.sh), the zip's
setup.sh run in it with the network (docker/build-gradescope-image.sh), then each submission graded with
`--network none`. Images are built once and cached by the content hash of the zip, the base and the scripts.

With the privileges bubblewrap needs the real sandbox runs (asserted from results.json); under Docker's default
confinement the uid fallback runs (asserted too) and still keeps the hidden tests and results out of reach."""
import hashlib
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.authoring import parse_master, write_outputs
from autograder.config import load_config
from autograder.gradescope import RUN_AUTOGRADER, SETUP_SH, derived_requirements, runtime_requirements

from conftest import REPO, require_backend

SETS = ["ps1", "ps2", "ps3", "ps4"]
SUITES = {"bookworm": "3.11", "trixie": "3.13"}  # Debian suite -> its python3
# What bubblewrap needs inside a container: mount namespaces (CAP_SYS_ADMIN, no seccomp/AppArmor filter), a
# fresh /proc (Docker's masked /proc paths otherwise forbid mounting one) and the loopback of its new network
# namespace (CAP_NET_ADMIN; without it: "loopback: Failed RTM_NEWADDR").
BWRAP_PRIVILEGES = ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--security-opt", "systempaths=unconfined", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"]
# Gradescope's allowance for one submission is 10 min by default; the slowest set here grades in ~10 s.
RUN_TIMEOUT_S = 600

# Gradescope "Autograder Specifications": the keys results.json may carry.
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="session")
def built_sets():
    """Every problem set's autograder build and Gradescope zip, written once per session."""
    config = load_config()
    out = {}
    for key in SETS:
        ps = config.problem_set(key)
        write_outputs(parse_master(ps.master_path), ps)
        out[key] = ps
    return out


def zip_path(ps) -> Path:
    return ps.build_dir / "gradescope" / f"{ps.folder}-autograder.zip"


def _sh(*cmd, timeout=1800) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)


_BASES: dict = {}
_IMAGES: dict = {}


def base_image(suite: str) -> str:
    """The Gradescope-like base for a Debian suite (built once; `docker image inspect` finds it afterwards)."""
    if suite not in _BASES:
        require_backend("docker")
        tag = f"mfdl-gs-base:{suite}"
        proc = _sh(str(REPO / "docker" / "make-gradescope-base.sh"), suite, tag)
        assert proc.returncode == 0, f"base image {tag}: {proc.stderr[-2000:]}"
        _BASES[suite] = tag
    return _BASES[suite]


def gradescope_image(ps, suite: str) -> tuple[str, int]:
    """(image, setup.sh exit status) of `ps`'s zip set up on `suite`'s base, cached by content hash."""
    key = (ps.key, suite)
    if key not in _IMAGES:
        base = base_image(suite)
        h = hashlib.sha256()
        h.update(zip_path(ps).read_bytes())
        h.update(_sh("docker", "image", "inspect", base, "--format", "{{.Id}}").stdout.encode())
        h.update((REPO / "docker" / "build-gradescope-image.sh").read_bytes())
        tag = f"mfdl-gs-{ps.folder.replace('_', '-')}-{suite}:{h.hexdigest()[:16]}"
        proc = _sh(str(REPO / "docker" / "build-gradescope-image.sh"), str(zip_path(ps)), base, tag, timeout=3600)
        _IMAGES[key] = (tag, proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:])
        repo = tag.split(":")[0]  # older builds of the same set and suite (other code): removed, or disks fill up
        stale = [t for t in _sh("docker", "images", repo, "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
                 if t != tag]
        if stale:
            _sh("docker", "rmi", *stale)
    tag, status, log = _IMAGES[key]
    return tag, status


def run_gradescope(image, tmp_path, files: dict, privileged: bool = True) -> dict:
    sub, res = tmp_path / "submission", tmp_path / "results"
    sub.mkdir(parents=True)
    res.mkdir()
    for name, data in files.items():
        (sub / name).write_bytes(data)
    cmd = ["docker", "run", "--rm", "--network", "none", *(BWRAP_PRIVILEGES if privileged else []),
           "-v", f"{sub}:/autograder/submission:ro", "-v", f"{res}:/autograder/results", image,
           "/autograder/run_autograder"]
    proc = _sh(*cmd, timeout=RUN_TIMEOUT_S)
    assert (res / "results.json").exists(), f"no results.json; run_autograder said: {proc.stderr[-3000:]}"
    return json.loads((res / "results.json").read_text())


def check_spec(results: dict) -> None:
    assert set(results) <= TOP_KEYS
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], int)
    assert results["visibility"] in VISIBILITY and results["stdout_visibility"] in VISIBILITY
    for t in results["tests"]:
        assert set(t) <= TEST_KEYS and {"name", "score", "max_score", "status", "visibility"} <= set(t)
        assert t["status"] in ("passed", "failed") and t["visibility"] in VISIBILITY
        assert 0 <= t["score"] <= t["max_score"] or t["max_score"] == 0
    assert abs(sum(t["score"] for t in results["tests"]) - results["score"]) < 1e-9


def reference_files(ps) -> dict:
    """The reference notebook, with the trained-model files the set asks for (PS4: the catalogue's
    `submitted_files`, as `mfdl validate` attaches them), uploaded beside it as a student may."""
    import yaml
    files = {ps.notebook: (ps.autograder_dir / "reference.ipynb").read_bytes()}
    catalogue = yaml.safe_load((ps.solutions_dir / "mutants.yaml").read_text())
    for name, rel in (catalogue.get("submitted_files") or {}).items():
        files[name] = (ps.solutions_dir / rel).read_bytes()
    return files


# ----------------------------------------------------------------------------------------------------------
# The zip itself (no container)
# ----------------------------------------------------------------------------------------------------------
def test_zip_layout(built_sets):
    ps1 = built_sets["ps1"]
    with zipfile.ZipFile(zip_path(ps1)) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "problem/tests.json", "problem/reference.py",
                "mfdl/autograder/engine.py", "mfdl/autograder/notebooks.py"} <= names
        assert zf.getinfo("run_autograder").external_attr >> 16 & 0o111


def _requirements(ps) -> dict:
    with zipfile.ZipFile(zip_path(ps)) as zf:
        lines = zf.read("requirements.txt").decode().splitlines()
    return {line.split("#")[0].strip().split("==")[0].split(">=")[0].lower(): line for line in lines if line.strip()}


def test_requirements_follow_what_each_set_imports(built_sets):
    reqs = {k: _requirements(ps) for k, ps in built_sets.items()}
    for key in ("ps2", "ps4"):  # PS2's hidden tests compare with torch.optim; PS4's notebook is torch code
        assert reqs[key]["torch"].split("#")[0].strip() == "torch==2.13.0", reqs[key]
    assert "torch" not in reqs["ps1"] and "docker" not in reqs["ps1"]
    for key, ps in built_sets.items():
        assert {"numpy", "nbformat", "jupyter_client", "ipykernel", "pyzmq", "pyyaml"} <= set(reqs[key])
        derived = derived_requirements(ps.autograder_dir)
        for req in derived:  # whatever a set's code imports is installed (by its pip name)
            assert req.split("==")[0].lower() in reqs[key], (key, req)
    ps3_imports = set()
    for p in built_sets["ps3"].autograder_dir.rglob("*.py"):
        ps3_imports |= {m for m in ("gymnasium",) if f"import {m}" in p.read_text()}
    assert ("gymnasium" in reqs["ps3"]) == bool(ps3_imports)


def test_import_names_map_to_pip_names(tmp_path):
    from autograder.gradescope import imported_names
    src = "import numpy as np\nfrom sklearn.linear_model import Ridge\n%matplotlib inline\n!pip list\n" \
          "def f():\n    import yaml, PIL.Image\n    from . import local\n"
    assert imported_names([src]) == {"numpy", "sklearn", "yaml", "PIL"}
    build = tmp_path / "build"
    build.mkdir()
    (build / "settings.json").write_text(json.dumps({"name": "x", "preload": ["torch"]}))
    (build / "tests.json").write_text(json.dumps({"questions": [{"tests": [{"source": src}]}],
                                                  "requirements": ["scipy>=1.10"]}))
    got = derived_requirements(build)
    names = {r.split("==")[0].split(">=")[0].lower() for r in got}
    assert {"numpy", "scikit-learn", "pyyaml", "pillow", "scipy"} <= names
    assert "torch==2.13.0" in got and got["torch==2.13.0"] == ["preload"]
    assert runtime_requirements(build)[-1].startswith("scipy>=1.10")


# ----------------------------------------------------------------------------------------------------------
# run_autograder's own guarantees, on this host (no container): a results.json whatever fails
# ----------------------------------------------------------------------------------------------------------
def _run_script(tmp_path, venv: Path, setup_failed: str | None = None) -> dict:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    if setup_failed is not None:
        (root / "source" / "SETUP_FAILED").write_text(setup_failed)
    script = tmp_path / "run_autograder"
    script.write_text(RUN_AUTOGRADER)
    env = dict(os.environ, MFDL_GRADESCOPE_ROOT=str(root), MFDL_VENV=str(venv))
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_results_json_when_setup_did_not_complete(tmp_path):
    res = _run_script(tmp_path, tmp_path / "no-venv")
    assert res["score"] == 0 and res["tests"] == []
    assert "setup did not complete" in res["output"] and "Ubuntu 24.04" in res["output"]


def test_results_json_names_the_base_image_when_python_is_too_old(tmp_path):
    res = _run_script(tmp_path, tmp_path / "no-venv", setup_failed='Python 3.10.12 is too old (needs "3.11"): '
                                                                   'choose the Ubuntu 24.04 base image')
    assert res["score"] == 0 and "Python 3.10.12 is too old" in res["output"] and "Ubuntu 24.04" in res["output"]
    assert '"3.11"' in res["output"]  # quotes survive the JSON escaping


def test_results_json_when_the_grader_crashes(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".mfdl-setup-complete").touch()
    fake = venv / "bin" / "python"
    fake.write_text("#!/bin/sh\necho 'Traceback: engine exploded\\tbadly' >&2\nexit 3\n")
    fake.chmod(0o755)
    res = _run_script(tmp_path, venv)
    assert res["score"] == 0 and "exit status 3" in res["output"] and "engine exploded" in res["output"]


def test_setup_refuses_an_old_python_with_the_base_image_to_choose(tmp_path):
    """setup.sh on a host whose python3 is 3.10 (a stand-in script): fails, and says which image to choose."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "python3").write_text("#!/bin/sh\ncase \"$2\" in *platform*) echo 3.10.12;; *) exit 1;; esac\n")
    (fakebin / "python3").chmod(0o755)
    (root / "source" / "setup.sh").write_text(SETUP_SH)
    env = dict(os.environ, MFDL_GRADESCOPE_ROOT=str(root), MFDL_VENV=str(tmp_path / "venv"),
               PATH=f"{fakebin}:{os.environ['PATH']}")
    proc = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    failed = (root / "source" / "SETUP_FAILED").read_text()
    assert "Python 3.10.12 is too old" in failed and "Ubuntu 24.04" in failed
    res = _run_script(tmp_path / "run", tmp_path / "venv", setup_failed=failed)
    assert "Ubuntu 24.04" in res["output"]


# ----------------------------------------------------------------------------------------------------------
# Every set, two Python versions, the real sandbox
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suite", list(SUITES))
@pytest.mark.parametrize("key", SETS)
def test_every_set_grades_on_gradescope(built_sets, key, suite, tmp_path):
    ps = built_sets[key]
    image, status = gradescope_image(ps, suite)
    assert status == 0, _IMAGES[(key, suite)][2]
    py = _sh("docker", "run", "--rm", image, "/opt/mfdl/bin/python", "-c",
             "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    assert py == SUITES[suite]
    # bubblewrap and python3-venv (ensurepip) are installed by setup.sh after apt-get update, not by the base
    for probe in ("command -v bwrap", "python3 -c 'import ensurepip'", "ls /var/lib/apt/lists/*_Packages*"):
        assert _sh("docker", "run", "--rm", base_image(suite), "sh", "-c", probe).returncode != 0, probe
    ref = run_gradescope(image, tmp_path / "ref", reference_files(ps))
    check_spec(ref)
    possible = ref["extra_data"]["possible"]
    assert ref["score"] == possible, [t["output"] for t in ref["tests"] if t["status"] == "failed"]
    assert ref["extra_data"]["sandbox"].startswith("bubblewrap"), ref["extra_data"]["sandbox"]
    stub = run_gradescope(image, tmp_path / "stub", {ps.notebook: (ps.assignment_dir / ps.notebook).read_bytes()})
    check_spec(stub)
    assert stub["score"] == 0 and stub["extra_data"]["sandbox"].startswith("bubblewrap")


def test_reference_details_and_exported_zip(built_sets, tmp_path):
    ps1 = built_sets["ps1"]
    image, status = gradescope_image(ps1, "bookworm")
    assert status == 0
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(ps1.notebook, (ps1.autograder_dir / "reference.ipynb").read_bytes())
        zf.writestr(".OTTER_LOG", b"\x80\x04 never unpickled")
    results = run_gradescope(image, tmp_path, {"ps1_backprop_2026_11_29.zip": buf.getvalue()})
    check_spec(results)
    assert results["score"] == full_marks(ps1)
    hidden = [t for t in results["tests"] if t["name"].endswith("hidden tests")]
    assert hidden and all(t["visibility"] == "after_published" for t in hidden)
    details = [t for t in results["tests"] if t["name"].endswith("(hidden)")]
    assert details and all(t["visibility"] == "hidden" and t["max_score"] == 0 for t in details)


def full_marks(ps) -> float:
    """The autograded points of a set's build (what a reference earns)."""
    manifest = json.loads((ps.autograder_dir / "tests.json").read_text())
    return sum(q["points"] for q in manifest["questions"] if not q["manual"])


def test_wrong_assignment_and_non_utf8_on_gradescope(built_sets, tmp_path):
    ps1, ps2 = built_sets["ps1"], built_sets["ps2"]
    image, _ = gradescope_image(ps1, "bookworm")
    other = run_gradescope(image, tmp_path / "other", {ps1.notebook: (ps2.assignment_dir / ps2.notebook).read_bytes()})
    assert other["score"] == 0 and "wrong assignment: ps2_optimizers" in other["output"]
    nb = nbformat.read(str(ps1.autograder_dir / "reference.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("# caf\u00e9 au lait\npass\n"))
    data = nbformat.writes(nb).encode("utf-8").replace("caf\u00e9".encode(), b"caf\xe9")
    res = run_gradescope(image, tmp_path / "latin", {ps1.notebook: data})
    assert res["score"] == full_marks(ps1) and f"cell {len(nb.cells)} line 1" in res["output"]


def test_hostile_submission_cannot_reach_sources_or_results_in_the_fallback(built_sets, tmp_path):
    """Under Docker's default confinement bubblewrap cannot create namespaces: the uid fallback runs (and says
    so), and the student's uid can neither read the hidden tests and reference nor write the results."""
    ps1 = built_sets["ps1"]
    image, _ = gradescope_image(ps1, "bookworm")
    nb = nbformat.read(str(ps1.autograder_dir / "reference.ipynb"), as_version=4)
    attack = (
        "import os, glob\n"
        "def affine_forward(x, w, b):\n"
        "    found = []\n"
        "    for p in ['/autograder/source/problem/tests.json', '/autograder/source/problem/reference.py']:\n"
        "        try:\n"
        "            found.append(open(p).read()[:200])\n"
        "        except OSError as e:\n"
        "            found.append(type(e).__name__)\n"
        "    try:\n"
        "        open('/autograder/results/results.json', 'w').write('{\"score\": 1000}')\n"
        "        found.append('WROTE')\n"
        "    except OSError as e:\n"
        "        found.append(type(e).__name__)\n"
        "    raise RuntimeError('PROBE:' + '|'.join(found))\n")
    nb.cells.append(nbformat.v4.new_code_cell(attack))
    results = run_gradescope(image, tmp_path, {ps1.notebook: nbformat.writes(nb).encode()}, privileged=False)
    check_spec(results)
    assert results["extra_data"]["sandbox"].startswith("unprivileged uid"), results["extra_data"]["sandbox"]
    outputs = " ".join(t["output"] for t in results["tests"])
    assert "PROBE:PermissionError|PermissionError|PermissionError" in outputs
    assert "ref." not in outputs and "WROTE" not in outputs
    assert results["score"] < full_marks(built_sets["ps1"])


def test_too_old_python_gets_a_results_json_naming_the_base_image(built_sets, tmp_path):
    """Debian bullseye's Python 3.9 stands for an old Gradescope image (Ubuntu 22.04 has 3.10): setup.sh fails
    with the reason (so the build fails where the instructor sees it), and every submission still gets a
    results.json telling which base image to choose."""
    ps1 = built_sets["ps1"]
    image, status = gradescope_image(ps1, "bullseye")
    assert status != 0
    res = run_gradescope(image, tmp_path, {ps1.notebook: (ps1.autograder_dir / "reference.ipynb").read_bytes()})
    assert res["score"] == 0 and res["tests"] == []
    assert "Python 3.9" in res["output"] and "too old" in res["output"] and "Ubuntu 24.04" in res["output"]


def test_address_space_limit_follows_the_image_torch_build(tmp_path, monkeypatch):
    """PyPI's CUDA torch reserves ~2.6 GB more address space on import than the CPU build the limits were
    calibrated with: the runner adds the measured difference (never subtracts)."""
    import autograder.gradescope as gs
    (tmp_path / gs.PRELOAD_VM_FILE).write_text(json.dumps({"preload": ["torch"], "vm_kb": 637796}))
    monkeypatch.setattr(gs.sys, "prefix", str(tmp_path))
    (tmp_path / ".mfdl-preload-vm-kb").write_text("3205404\n")
    assert gs.address_space_extra_mb(tmp_path) == (3205404 - 637796) // 1024
    (tmp_path / ".mfdl-preload-vm-kb").write_text("500000\n")
    assert gs.address_space_extra_mb(tmp_path) == 0
    (tmp_path / ".mfdl-preload-vm-kb").unlink()
    assert gs.address_space_extra_mb(tmp_path) == 0
    assert gs.preload_vm_kb(["json"]) > 0
