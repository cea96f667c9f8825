"""The Gradescope autograder zip, run for real inside a container laid out like Gradescope's
(/autograder/source, /autograder/submission, /autograder/results), with no network while grading."""
import json
import os
import shutil
import subprocess
import zipfile

import nbformat
import pytest

from autograder import docker_backend
from autograder.authoring import parse_master, write_outputs
from autograder.config import load_config

from conftest import require_backend

IMAGE = "mfdl-gradescope-test:latest"
BASE = os.environ.get("MFDL_BASE_IMAGE", "mfdl-base:bookworm")  # Debian + python3 (docker/make-base-image.sh)

# Gradescope "Autograder Specifications": the keys results.json may carry.
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def _pip_cert() -> str | None:
    cert = os.environ.get("PIP_CERT")
    if not cert:
        out = subprocess.run(["pip", "config", "list"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("global.cert="):
                cert = line.split("=", 1)[1].strip("'\"")
    return cert if cert and os.path.isfile(cert) else None


@pytest.fixture(scope="module")
def ps1():
    ps = load_config().problem_set("ps1")
    write_outputs(parse_master(ps.master_path), ps)
    return ps


@pytest.fixture(scope="module")
def gradescope_image(ps1, tmp_path_factory):
    require_backend("docker")
    client = docker_backend.docker_client()
    client.images.get(BASE)  # built by `make docker-image`
    ctx = tmp_path_factory.mktemp("gradescope")
    shutil.copy(ps1.build_dir / "gradescope" / f"{ps1.folder}-autograder.zip", ctx / "autograder.zip")
    cert = _pip_cert()
    (ctx / "ca.crt").write_bytes(open(cert, "rb").read() if cert else b"")
    (ctx / "Dockerfile").write_text(
        f"FROM {BASE}\n"
        "COPY ca.crt autograder.zip /tmp/\n"
        "RUN set -e; mkdir -p /autograder/source /autograder/submission /autograder/results; "
        "cd /autograder/source && python3 -m zipfile -e /tmp/autograder.zip . && "
        "chmod +x setup.sh run_autograder && cp run_autograder /autograder/run_autograder && "
        "if [ -s /tmp/ca.crt ]; then export PIP_CERT=/tmp/ca.crt; fi && bash ./setup.sh\n")
    subprocess.run(["docker", "build", "--network", "host", "--force-rm", "-q", "-t", IMAGE, str(ctx)], check=True,
                   capture_output=True, timeout=900)
    return IMAGE


def run_gradescope(image, tmp_path, files: dict) -> dict:
    sub, res = tmp_path / "submission", tmp_path / "results"
    sub.mkdir(parents=True)
    res.mkdir()
    for name, data in files.items():
        (sub / name).write_bytes(data)
    docker_backend.docker_client().containers.run(
        image, ["/autograder/run_autograder"], remove=True, network_mode="none",
        volumes={str(sub): {"bind": "/autograder/submission", "mode": "ro"},
                 str(res): {"bind": "/autograder/results", "mode": "rw"}})
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


def test_zip_layout(ps1):
    with zipfile.ZipFile(ps1.build_dir / "gradescope" / f"{ps1.folder}-autograder.zip") as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "problem/tests.json", "problem/reference.py",
                "mfdl/autograder/engine.py"} <= names
        assert zf.getinfo("run_autograder").external_attr >> 16 & 0o111


def test_reference_scores_full_marks(gradescope_image, ps1, tmp_path):
    ref = (ps1.autograder_dir / "reference.ipynb").read_bytes()
    results = run_gradescope(gradescope_image, tmp_path, {ps1.notebook: ref})
    check_spec(results)
    assert results["score"] == 34
    hidden = [t for t in results["tests"] if t["name"].endswith("hidden tests")]
    assert hidden and all(t["visibility"] == "after_published" for t in hidden)
    details = [t for t in results["tests"] if t["name"].endswith("(hidden)")]
    assert details and all(t["visibility"] == "hidden" and t["max_score"] == 0 for t in details)


def test_exported_zip_and_stub(gradescope_image, ps1, tmp_path):
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(ps1.notebook, (ps1.autograder_dir / "reference.ipynb").read_bytes())
        zf.writestr(".OTTER_LOG", b"\x80\x04 never unpickled")
    results = run_gradescope(gradescope_image, tmp_path / "a", {"ps1_backprop_2026_11_29.zip": buf.getvalue()})
    check_spec(results)
    assert results["score"] == 34
    stub = (ps1.assignment_dir / ps1.notebook).read_bytes()
    results = run_gradescope(gradescope_image, tmp_path / "b", {ps1.notebook: stub})
    check_spec(results)
    assert results["score"] == 0


def test_hostile_submission_cannot_reach_sources_or_results(gradescope_image, ps1, tmp_path):
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
    results = run_gradescope(gradescope_image, tmp_path, {ps1.notebook: nbformat.writes(nb).encode()})
    check_spec(results)
    outputs = " ".join(t["output"] for t in results["tests"])
    assert "PROBE:PermissionError|PermissionError|PermissionError" in outputs
    assert "ref." not in outputs and "WROTE" not in outputs
    assert results["score"] < 34
