"""The Docker backend: same scores as the local backend, containers always cleaned up, clear messages, and an
image whose autograders are invisible to student uids. These tests run in CI (never skipped)."""
import csv
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from autograder import docker_backend
from autograder.authoring import parse_master, write_outputs
from autograder.batch import BatchGrader
from autograder.config import load_config

from conftest import require_backend, with_cell

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module", autouse=True)
def engine():
    require_backend("docker")


def _ours(label=docker_backend.LABEL_BATCH):
    client = docker_backend.docker_client()
    return client.containers.list(all=True, filters={"label": label})


def _rows(path):
    with open(path) as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def test_docker_and_local_backends_give_identical_grades_on_the_ps1_examples(tmp_path):
    ps = load_config().problem_set("ps1")
    write_outputs(parse_master(ps.master_path), ps)  # a clean checkout has no build yet
    # Every example but the one that hangs (its timeouts cost a minute per backend; hangs are compared on
    # both backends by the hostile corpus).
    folder = tmp_path / "examples"
    folder.mkdir()
    src = os.path.join(REPO, "examples", "ps1_backprop", "submissions")
    for name in os.listdir(src):
        if "infinite_loop" not in name:
            (folder / name).write_bytes(open(os.path.join(src, name), "rb").read())
    grades = {}
    for backend in ("local", "docker"):
        out = tmp_path / backend
        BatchGrader(ps, out, jobs=2, backend=backend).run(folder)
        grades[backend] = _rows(out / "grades.csv")
    assert grades["local"] == grades["docker"]
    assert len(grades["docker"]) == 13
    assert _ours() == []


def _slow_class(tmp_path, reference_nb, n=6):
    folder = tmp_path / "subs"
    folder.mkdir()
    slow = with_cell(reference_nb, "import time\ntime.sleep(1.5)\n")
    for i in range(n):
        nbformat.write(slow, str(folder / f"s{i}.ipynb"))
    return folder


def _grade_cmd(tiny_root, folder, out):
    return [sys.executable, "-m", "autograder.cli", "--config", str(tiny_root / "grader_config.yaml"),
            "grade", "tiny", str(folder), "--out", str(out), "--jobs", "2", "--backend", "docker"]


def _wait_for_records(out, n, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(list((out / "records").glob("*.json"))) < n:
        time.sleep(0.1)


def test_ctrl_c_leaves_no_container_behind(tmp_path, tiny_root, reference_nb):
    folder, out = _slow_class(tmp_path, reference_nb), tmp_path / "results"
    proc = subprocess.Popen(_grade_cmd(tiny_root, folder, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _wait_for_records(out, 1)
    assert _ours(), "containers should be running mid-batch"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the whole foreground group
    proc.wait(timeout=60)
    time.sleep(1)
    assert _ours() == []


def test_containers_of_a_killed_batch_are_swept_by_the_next(tmp_path, tiny_root, reference_nb):
    folder, out = _slow_class(tmp_path, reference_nb), tmp_path / "results"
    proc = subprocess.Popen(_grade_cmd(tiny_root, folder, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _wait_for_records(out, 1)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up
    proc.wait()
    subprocess.run(_grade_cmd(tiny_root, folder, out), check=True, stdout=subprocess.DEVNULL, timeout=300)
    assert _ours() == []
    assert len(_rows(out / "grades.csv")) == 6


def test_cli_names_the_backend_and_why_docker_cannot_run(tmp_path, tiny_root, reference_nb):
    folder = tmp_path / "subs"
    folder.mkdir()
    nbformat.write(reference_nb, str(folder / "a.ipynb"))
    base = [sys.executable, "-m", "autograder.cli", "--config", str(tiny_root / "grader_config.yaml"), "grade", "tiny",
            str(folder), "--out", str(tmp_path / "r")]
    run = subprocess.run(base + ["--backend", "docker", "--image", "no-such-image:1"], capture_output=True, text=True)
    assert run.returncode == 2 and "not built" in run.stdout and "--backend local" in run.stdout
    run = subprocess.run(base + ["--backend", "docker"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "backend: docker (Docker engine" in run.stdout
    run = subprocess.run(base + ["--out", str(tmp_path / "r2")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "backend: local" in run.stdout
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent.sock")
    run = subprocess.run(base + ["--backend", "docker"], capture_output=True, text=True, env=env)
    assert run.returncode == 2 and "no Docker engine reachable" in run.stdout


def test_image_holds_autograders_that_student_uids_cannot_read():
    client = docker_backend.docker_client()
    path = "/srv/mfdl/build/ps1_backprop/autograder/tests.json"
    out = client.containers.run(docker_backend.DEFAULT_IMAGE, ["test", "-s", path], remove=True, network_mode="none")
    assert out == b""  # exists and is non-empty, for root (the grader)
    for target in (path, "/srv/mfdl/solutions/ps1_backprop/ps1_backprop.ipynb"):
        code = ("import sys\ntry:\n    open(sys.argv[1]).read()\n    print('READ')\n"
                "except PermissionError:\n    print('DENIED')\n")
        out = client.containers.run(docker_backend.DEFAULT_IMAGE, ["python", "-c", code, target], user="61000:61000",
                                    remove=True, network_mode="none")
        assert out.strip() == b"DENIED"
