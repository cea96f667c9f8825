"""Hostile and broken submissions: the grader survives each one, the attack gains no points, and the
questions the attack did not touch keep their points.

The honest part of every submission below is the tiny set's reference solution (q1 `double`, q2 `add`,
2 points each), so an attack that broke only q1 must still leave q2 = 2.
"""
from __future__ import annotations

import json
import pickle
import socket
import threading
import zipfile

import nbformat
import pytest

from autograder.engine import grade_bytes
from autograder.submissions import read_submission

from conftest import REPO, CANARY, scores, with_cell

WRONG_DOUBLE = "def double(x):\n    return 3 * np.asarray(x)\n"


def test_reference_scores_full_marks(grade, reference_nb):
    rec = grade(reference_nb)
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}
    assert rec["issues"] == []


def test_monkeypatching_numpy_comparisons_gains_nothing(grade, reference_nb):
    attack = WRONG_DOUBLE + (
        "np.allclose = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "np.array_equal = lambda *a, **k: True\n"
        "import doctest\n"
        "doctest.DocTestRunner.summarize = lambda *a, **k: doctest.TestResults(0, 1)\n"
        "import builtins\n"
        "builtins.abs = lambda x: 0\n")
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}


def test_objects_that_lie_in_comparisons_gain_nothing(grade, reference_nb):
    attack = (
        "class Liar(float):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __abs__(self): return 0.0\n"
        "    def __lt__(self, other): return True\n"
        "    def __le__(self, other): return True\n"
        "    def __sub__(self, other): return Liar(0.0)\n"
        "    __rsub__ = __sub__\n"
        "    def __array__(self, *a, **k): raise TypeError('no')\n"
        "class LiarArray(np.ndarray):\n"
        "    def __eq__(self, other): return np.ones(np.shape(other), bool)\n"
        "    def __abs__(self): return np.zeros(self.shape)\n"
        "    def __sub__(self, other): return np.zeros(np.shape(other))\n"
        "def double(x):\n"
        "    return Liar(1.0) if np.ndim(x) == 0 else np.zeros(np.shape(x)).view(LiarArray)\n"
        "def add(a, b):\n"
        "    return Liar(0.0)\n")
    rec = grade(with_cell(reference_nb, attack))
    assert scores(rec) == {"q1": 0.0, "q2": 0.0}


def test_hidden_tests_and_references_are_invisible(grade, reference_nb, tiny_root):
    paths = [str(tiny_root / "build" / "tiny" / "autograder" / "tests.json"),
             str(tiny_root / "build" / "tiny" / "autograder" / "reference.py"),
             str(tiny_root / "solutions" / "tiny" / "tiny.ipynb"),
             str(tiny_root / "grader_config.yaml"), str(REPO / "solutions"), "/root", "/proc/1/environ"]
    attack = (
        "import os, time\n"
        "def _hunt():\n"
        "    found, t0 = [], time.monotonic()\n"
        f"    for p in {paths!r}:\n"
        "        try:\n"
        "            if os.path.isdir(p): found.append(p + ':' + ','.join(os.listdir(p)))\n"
        "            else: found.append(open(p, errors='replace').read())\n"
        "        except Exception as e: pass\n"
        "    n = 0\n"
        "    for root, dirs, files in os.walk('/'):\n"
        "        dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'usr', 'dev')]\n"
        "        for f in files:\n"
        "            n += 1\n"
        "            if n > 20000 or time.monotonic() - t0 > 1.5: return found  # within the test's budget\n"
        "            try:\n"
        "                text = open(os.path.join(root, f), errors='replace').read(2_000_000)\n"
        f"                if {CANARY!r}[:6] + {CANARY!r}[6:] in text or 'ref.double' in text: found.append(text)\n"
        "            except Exception: pass\n"
        "    return found\n"
        "def double(x):\n"
        "    raise RuntimeError('LEAK:' + repr(_hunt())[:5000])\n")
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    messages = " ".join(t["message"] for t in rec["tests"])
    assert "LEAK:" in messages  # the attack did run
    # The hidden test's canary and body appear only in the build folder and the master notebook.
    assert CANARY not in messages and "ref.double" not in messages
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}


def test_rewriting_tests_on_disk_is_impossible(grade, reference_nb, tiny_root):
    targets = [tiny_root / "build" / "tiny" / "autograder" / "tests.json",
               tiny_root / "build" / "tiny" / "autograder" / "reference.py",
               tiny_root / "solutions" / "tiny" / "tiny.ipynb"]
    before = {p: p.read_bytes() for p in targets}
    attack = WRONG_DOUBLE + (
        "import os\n"
        f"for p in {[str(p) for p in targets]!r}:\n"
        "    try:\n"
        "        os.makedirs(os.path.dirname(p), exist_ok=True)\n"
        "        open(p, 'w').write('{\"questions\": []}')\n"
        "    except Exception:\n"
        "        pass\n"
        "for p in ['/usr/lib/evil', '/etc/evil', '/tmp/evil']:\n"
        "    try: open(p, 'w').write('x')\n"
        "    except Exception: pass\n")
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    assert {p: p.read_bytes() for p in targets} == before
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}


def test_tampering_with_the_in_kernel_agent_gains_nothing(grade, reference_nb):
    # Fake results pushed on the channel are only data: the claimed values must still be right to score.
    attack = WRONG_DOUBLE + (
        "import sys, types\n"
        "from IPython.display import display\n"
        "fake = types.ModuleType('_mfdl_agent')\n"
        "fake.call = lambda name, payload: display({'application/x-mfdl-result+json': "
        "{'status': 'ok', 'value': '{\"__float__\": \"nan\"}'}}, raw=True)\n"
        "sys.modules['_mfdl_agent'] = fake\n")
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    assert scores(rec)["q1"] == 0.0 and scores(rec)["q2"] == 2.0


def test_pickled_otter_log_in_zip_is_never_deserialized(tmp_path, tiny_ag, factory, reference_nb):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    zpath = tmp_path / "sub.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("tiny.ipynb", nbformat.writes(reference_nb))
        zf.writestr(".OTTER_LOG", pickle.dumps(Exploit()))
    rec = grade_bytes(read_submission(zpath, "tiny.ipynb")[0], tiny_ag, factory)
    assert not marker.exists()
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}


def test_infinite_loop_in_a_cell_costs_only_that_cell(grade, reference_nb):
    rec = grade(with_cell(reference_nb, "while True:\n    pass\n", after_function="double"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}
    assert any("time limit" in i for i in rec["issues"])


def test_loop_that_ignores_interrupts_is_killed_and_the_rest_replayed(grade, reference_nb):
    attack = ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
              "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n")
    rec = grade(with_cell(reference_nb, attack, after_function="double"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}
    assert rec["restarts"] >= 1


def test_infinite_loop_inside_a_graded_function(grade, reference_nb):
    attack = "def double(x):\n    while True:\n        pass\n"
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}
    assert any("did not return" in t["message"] for t in rec["tests"] if t["question"] == "q1")


@pytest.mark.parametrize("exit_code", ["import sys\nsys.exit(3)\n", "import os\nos._exit(0)\n",
                                       "raise SystemExit\n", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"])
def test_exiting_the_kernel_costs_only_that_cell(grade, reference_nb, exit_code):
    rec = grade(with_cell(reference_nb, exit_code, after_function="double"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}


def test_exiting_inside_a_graded_function(grade, reference_nb):
    attack = "def double(x):\n    import os\n    os._exit(1)\n"
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}


def test_killing_the_parent_and_everything_visible(grade, reference_nb):
    attack = ("import os, signal\n"
              "for target in (os.getppid(), 1, -1):\n"
              "    try: os.kill(target, signal.SIGKILL)\n"
              "    except Exception: pass\n"
              "try: os.killpg(0, signal.SIGKILL)\n"
              "except Exception: pass\n")
    rec = grade(with_cell(reference_nb, attack, after_function="add"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}


def test_fork_bomb_is_contained(grade, reference_nb):
    attack = ("import os\n"
              "pids = []\n"
              "for _ in range(100000):\n"
              "    try:\n"
              "        pid = os.fork()\n"
              "    except OSError:\n"
              "        break\n"
              "    if pid == 0:\n"
              "        import time\n"
              "        while True: time.sleep(1)\n"
              "    pids.append(pid)\n"
              "print(len(pids))\n")
    rec = grade(with_cell(reference_nb, attack, after_function="add"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}
    assert any("processes and threads running" in i for i in rec["issues"]), rec["issues"]


def test_memory_bomb_is_contained(grade, reference_nb):
    attack = ("blocks = []\n"
              "try:\n"
              "    big = bytearray(64 * 2**30)\n"
              "except MemoryError:\n"
              "    pass\n"
              "while True:\n"
              "    blocks.append(bytearray(100 * 2**20))\n")
    rec = grade(with_cell(reference_nb, attack, after_function="add"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}, (rec["issues"], [t["message"] for t in rec["tests"]])


def test_memory_bomb_inside_a_graded_function(grade, reference_nb):
    attack = "def double(x):\n    return np.ones((2**40,))\n"
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}


@pytest.mark.parametrize("flood", [
    "print('x' * 10**9)\n",
    "import sys\nfor _ in range(1000):\n    sys.stdout.write('y' * 10**6)\n",
    "import os\nfor _ in range(1000):\n    os.write(1, b'z' * 10**6)\n",
])
def test_output_flood_is_capped(grade, reference_nb, flood):
    import resource
    rec = grade(with_cell(reference_nb, flood, after_function="add"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}, (rec["issues"], [t["message"] for t in rec["tests"]])
    # The grader never held the flood in memory (peak RSS of this process stays far below 1 GB).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 900 * 1024


def test_huge_return_value_is_refused(grade, reference_nb):
    attack = "def double(x):\n    return np.zeros(10**8)\n"  # 800 MB: over the plain-data cap
    rec = grade(with_cell(reference_nb, attack, replace_function="double"))
    assert scores(rec) == {"q1": 0.0, "q2": 2.0}


def test_huge_file_writes_are_limited(grade, reference_nb):
    attack = ("try:\n"
              "    with open('big.bin', 'wb') as f:\n"
              "        for _ in range(1000): f.write(b'0' * 2**20)\n"
              "except OSError as e:\n"
              "    print('stopped', e)\n")
    rec = grade(with_cell(reference_nb, attack, after_function="add"))
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}


def test_no_network_from_the_sandbox(grade, reference_nb):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    connections = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except socket.timeout:
                continue
            except OSError:
                break
    thread = threading.Thread(target=accept)
    thread.start()
    attack = (
        "import socket\n"
        "def add(a, b):\n"
        "    try:\n"
        f"        socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        "        return 'connected'\n"
        "    except OSError as e:\n"
        "        return np.asarray(a) + np.asarray(b)\n")
    rec = grade(with_cell(reference_nb, attack, replace_function="add"))
    stop.set()
    thread.join()
    server.close()
    assert connections == []
    assert scores(rec) == {"q1": 2.0, "q2": 2.0}


def test_runs_as_unprivileged_user_without_capabilities(grade, reference_nb):
    probe = ("import os\n"
             "def add(a, b):\n"
             "    caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]\n"
             "    if os.getuid() == 0 or os.geteuid() == 0 or int(caps, 16) != 0:\n"
             "        raise RuntimeError('privileged')\n"
             "    return np.asarray(a) + np.asarray(b)\n")
    rec = grade(with_cell(reference_nb, probe, replace_function="add"))
    assert scores(rec)["q2"] == 2.0, [t["message"] for t in rec["tests"]]


def test_corrupt_and_non_notebook_files_get_a_clear_error(tiny_ag, factory):
    for data, words in [(b'{"cells": [', "not a valid Jupyter notebook"), (b"\xff\xfe\x00binary", "not a text"),
                        (json.dumps({"cells": 3}).encode(), "Jupyter")]:
        rec = grade_bytes(data, tiny_ag, factory)
        assert rec["status"].startswith("invalid") and words in rec["status"], rec["status"]
        assert rec["total"] == 0


def test_zip_bomb_and_bad_zips(tmp_path):
    from autograder.engine import InvalidSubmission
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tiny.ipynb", b"0" * (200 * 2**20))
    with pytest.raises(InvalidSubmission, match="limit"):
        read_submission(bomb)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InvalidSubmission):
        read_submission(bad)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(InvalidSubmission, match="no notebook"):
        read_submission(empty)


def test_private_tmp_and_home_are_writable_and_limited(grade, reference_nb):
    probe = ("import os\n"
             "def add(a, b):\n"
             "    open('/tmp/scratch', 'w').write('ok')\n"
             "    open(os.path.expanduser('~/notes.txt'), 'w').write('ok')\n"
             "    try:\n"
             "        with open('/tmp/big', 'wb') as f:\n"
             "            for _ in range(64): f.write(b'0' * 2**20)\n"
             "        raise RuntimeError('file size limit missing')\n"
             "    except OSError:\n"
             "        pass\n"
             "    return np.asarray(a) + np.asarray(b)\n")
    rec = grade(with_cell(reference_nb, probe, replace_function="add"))
    assert scores(rec)["q2"] == 2.0, [t["message"] for t in rec["tests"]]


def test_notebook_time_limit_stops_a_slow_submission(tiny_ag, reference_nb):
    import dataclasses

    from autograder.engine import KernelFactory, grade_notebook
    ag = dataclasses.replace(tiny_ag, limits=dataclasses.replace(tiny_ag.limits, notebook_timeout_s=4.0))
    spin = "import time\n_t0 = time.process_time()\nwhile time.process_time() - _t0 < 2:\n    pass\n"  # 2 s of CPU
    nb = with_cell(reference_nb, spin, after_function="double")
    for _ in range(4):
        nb = with_cell(nb, spin, after_function="double")
    f = KernelFactory(ag, slot=9)
    try:
        rec = grade_notebook(nb, ag, f)
    finally:
        f.close()
    assert scores(rec) == {"q1": 0.0, "q2": 0.0}
    assert any("notebook time limit" in i for i in rec["issues"])
    assert all("time limit" in t["message"] for t in rec["tests"])


def test_unknown_kernelspec_and_odd_metadata_are_ignored(grade, reference_nb):
    import copy
    nb = copy.deepcopy(reference_nb)
    nb.metadata["kernelspec"] = {"name": "mfdl-env", "display_name": "x", "language": "python"}
    nb.metadata["otter"] = {"assignment_name": "some-other-hw"}
    assert scores(grade(nb)) == {"q1": 2.0, "q2": 2.0}
