"""A sandboxed Jupyter kernel driven from the trusted grader through jupyter_client.

The grader owns the kernel's lifetime: it starts it confined (see `sandbox`), executes code with a budget of
the sandbox's CPU time and an outer wall-clock guard (see `limits`), counts every byte the kernel sends on
IOPub against an output cap, interrupts through the control channel, and kills the whole sandbox when the kernel stops answering. Messages larger than
MAX_MESSAGE_BYTES are dropped by ZeroMQ before the grader ever holds them in memory.
"""
from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from . import kernel_agent, plaindata, sandbox
from .sandbox import Limits

MAX_MESSAGE_BYTES = plaindata.MAX_PAYLOAD_BYTES + 1024 * 1024
INTERRUPT_GRACE_S = 5.0  # after an interrupt, the code has this long (wall) to stop before the sandbox is killed
USAGE_POLL_S = 0.25  # how often the sandbox's CPU time is read while code runs (a /proc or cgroup read)


class KernelDied(RuntimeError):
    pass


@dataclass
class ExecResult:
    status: str  # "ok" | "error" | "timeout" | "died" | "output_limit"
    error: str = ""  # "Name: value" of a raised exception
    msg_id: str = ""
    culprit: str = ""  # with "output_limit": the execution (msg_id) that produced most of the output
    result: object = None  # the last graded-call result published by the in-kernel agent
    result_bytes: int = 0
    cpu_seconds: float = 0.0  # CPU time the sandbox used during this execution
    stopped_by: str = ""  # with "timeout": "cpu" (its CPU-time budget) or "wall" (the outer wall-clock guard)


# Run first in the kernel process: copy the files staged by the grader (read-only, at $MFDL_STAGE) into the home,
# a size-capped tmpfs the kernel owns. `names` restricts the copy (files added after start-up).
STAGE_COPY = r'''
def _mfdl_copy_staged(names=None):
    import os, shutil
    stage = os.environ.get("MFDL_STAGE", "")
    if not stage or os.path.realpath(stage) == os.path.realpath(os.getcwd()):
        return
    for root, dirs, files in os.walk(stage):
        rel = os.path.relpath(root, stage)
        for f in files:
            target = os.path.normpath(os.path.join(rel, f))
            if names is not None and target not in names:
                continue
            if os.path.dirname(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(root, f), target)
'''


def _boot_code(preload: list[str], output_cap: int) -> str:
    """Python run as the kernel process: preload heavy libraries, start ipykernel with its print streams
    capped at the source (a flood then fails with an error in the student's cell instead of piling up in
    the kernel's buffers). A student who bypasses the cap still meets the grader's byte count and kill."""
    imports = "".join(f"import {m}\n" for m in preload)
    return (STAGE_COPY + "_mfdl_copy_staged()\ndel _mfdl_copy_staged\n" + imports +
            "import sys\nfrom ipykernel.kernelapp import IPKernelApp\n"
            "app = IPKernelApp.instance()\n"
            "app.initialize(sys.argv[1:])\n"
            f"_cap, _used = {int(output_cap)}, [0]\n"
            "def _capped(write):\n"
            "    def capped_write(text):\n"
            "        _used[0] += len(text)\n"
            "        if _used[0] > _cap:\n"
            "            raise OSError('output limit reached: printing is stopped by the grader')\n"
            "        return write(text)\n"
            "    return capped_write\n"
            "sys.stdout.write = _capped(sys.stdout.write)\n"
            "sys.stderr.write = _capped(sys.stderr.write)\n"
            "del _capped\n"
            "app.start()\n")


class SandboxedKernel:
    """One kernel for one submission. `start()` returns at once; `wait_ready()` blocks until it answers.

    Confinement is the backend's job (`sandbox.BwrapLauncher` locally, `docker_backend.DockerLauncher` in
    a container); this class only speaks the Jupyter protocol over Unix sockets in a shared runtime folder."""

    def __init__(self, limits: Limits, *, slot: int = 0, preload: list[str] | None = None,
                 files: dict[str, bytes] | None = None, backend: str = "local", image: str | None = None,
                 uid: int | None = None):
        self.limits = limits
        self.slot = slot
        self.preload = list(preload or [])
        self.files = dict(files or {})
        if os.geteuid() == 0 or backend == "docker":
            if uid is None:  # one uid of this process's reserved block (see uidpool)
                from .uidpool import process_block
                uid = process_block().uid(slot)
            self.uid = uid
        else:
            self.uid = os.geteuid()
        self.baseline_tasks = 0  # tasks (processes + threads) of the idle kernel, measured once it is ready
        self._meter: list | None = None
        self.base = Path(tempfile.mkdtemp(prefix="mfdl-kernel-"))
        self.launcher = sandbox.make_launcher(backend, limits=limits, slot=slot, image=image)
        self.client: BlockingKernelClient | None = None
        self.output_bytes = 0
        self.bytes_by_parent: dict[str, int] = {}
        self.peak_memory_bytes: int | None = None  # whole sandbox (cgroup), None where unknown

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "SandboxedKernel":
        os.chmod(self.base, 0o711)
        workdir, rundir = self.base / "stage", self.base / "run"
        workdir.mkdir()
        rundir.mkdir()
        made = []
        for name, data in self.files.items():  # support files beside the notebook, as Otter puts them
            target = workdir / name
            if name.startswith("/") or ".." in Path(name).parts:
                continue
            for parent in reversed(target.relative_to(workdir).parents[:-1]):
                if not (workdir / parent).exists():
                    (workdir / parent).mkdir()
                    made.append(workdir / parent)
            target.write_bytes(data)
            made.append(target)
        conn_file = str(rundir / "kernel.json")
        write_connection_file(conn_file, transport="ipc", ip=str(rundir / "k"), key=uuid.uuid4().hex.encode())
        # Only this kernel's uid (and the grader, root) may enter its folders: another submission's kernel
        # must never read this connection key or these files.
        for p in (workdir, rundir):
            os.chmod(p, 0o700)
        os.chmod(conn_file, 0o600)
        if os.geteuid() == 0:
            for p in (workdir, rundir, *made, *rundir.iterdir()):
                os.chown(p, self.uid, self.uid)
        argv = [self.launcher.python, "-c", _boot_code(self.preload, self.limits.output_kb * 1024), "-f", conn_file,
                "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True",
                # Output written straight to file descriptors 1/2 (os.write, C code) goes to /dev/null
                # instead of being forwarded by a capture thread.
                "--IPKernelApp.capture_fd_output=False"]
        env = sandbox.kernel_env({"MFDL_STAGE": self.launcher.stage_path(workdir)})
        self.launcher.launch(argv, workdir=workdir, rundir=rundir, uid=self.uid, env=env,
                             log_path=self.base / "kernel.stderr")
        self.client = BlockingKernelClient(connection_file=conn_file)
        self.client.load_connection_file()
        return self

    def add_files(self, files: dict) -> ExecResult | None:
        """Place files beside the notebook (the kernel's home) after start-up: staged on the host, copied in by
        the kernel (the home is a tmpfs only the sandbox sees; the copy counts against its size cap)."""
        workdir = self.base / "stage"
        names = []
        for name, data in (files or {}).items():
            plain = Path(name).name  # plain names only: nothing outside the folder
            if not plain or plain in (".", ".."):
                continue
            target = workdir / plain
            target.write_bytes(data)
            names.append(plain)
            if os.geteuid() == 0:
                os.chown(target, self.uid, self.uid)
        if not names:
            return None
        return self.execute(STAGE_COPY + f"_mfdl_copy_staged({sorted(names)!r})\ndel _mfdl_copy_staged\n", 60)

    def wait_ready(self, timeout: float = 60.0) -> None:
        client = self.client
        client.start_channels()
        for chan in (client.iopub_channel, client.shell_channel, client.control_channel):
            try:
                chan.socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            except Exception:
                pass
        deadline = time.monotonic() + timeout
        while True:
            if not self.launcher.alive():
                raise KernelDied(f"kernel exited during start-up: {self.launcher.log_tail()}")
            try:
                client.wait_for_ready(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                self._lock_rundir()
                self.baseline_tasks = self.usage()[1]
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise KernelDied(f"kernel did not start within {timeout:.0f} s: {self.launcher.log_tail()}")

    def _lock_rundir(self) -> None:
        """Once the kernel has bound its sockets, its runtime folder (a host folder) is no longer writable by
        it: nothing it writes can land on the host's disk (the home and /tmp are size-capped tmpfs)."""
        if os.geteuid() != 0:
            return
        rundir = self.base / "run"
        try:
            for p in rundir.iterdir():
                if p.is_file() and not p.is_socket():
                    os.chown(p, 0, 0)
            os.chown(rundir, 0, 0)
            os.chmod(rundir, 0o711)
        except OSError:
            pass

    def alive(self) -> bool:
        return self.launcher.alive()

    def usage(self) -> tuple[float, int]:
        """(CPU seconds, tasks) of the whole sandbox since it started."""
        try:
            return self.launcher.usage()
        except Exception:
            return 0.0, 0

    def cpu_seconds(self) -> float:
        return self.usage()[0]

    @contextlib.contextmanager
    def budget(self, cpu_seconds: float):
        """Within the block, `execute` calls without their own `cpu_budget` share this CPU-time budget; the
        yielded list's one item is the CPU time spent so far."""
        meter = [0.0, float(cpu_seconds)]
        previous, self._meter = self._meter, meter
        try:
            yield meter
        finally:
            self._meter = previous

    def kill(self) -> None:
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:
                pass
        self.launcher.kill()
        self.peak_memory_bytes = self.launcher.peak_memory_bytes
        shutil.rmtree(self.base, ignore_errors=True)

    # -- execution ---------------------------------------------------------------------------------
    def interrupt(self) -> None:
        msg = self.client.session.msg("interrupt_request", {})
        self.client.control_channel.send(msg)

    def execute(self, code: str, timeout: float, cpu_budget: float | None = None) -> ExecResult:
        """Run code; never raises for the student's behaviour, reports it in the result's status. The code is
        stopped (interrupted, then killed after INTERRUPT_GRACE_S) when the sandbox has used `cpu_budget` CPU
        seconds (default: what is left of an enclosing `budget()`; none: no CPU limit) or `timeout` wall
        seconds have passed (the outer guard)."""
        meter = self._meter
        if cpu_budget is None and meter is not None:
            cpu_budget = max(0.0, meter[1] - meter[0])
        if not self.alive():
            return ExecResult("died", error="the kernel is not running")
        client = self.client
        cpu_start = self.cpu_seconds()
        msg_id = client.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        res = ExecResult("ok", msg_id=msg_id)
        try:
            return self._follow(res, msg_id, timeout, cpu_budget, cpu_start)
        finally:
            if self.alive():
                res.cpu_seconds = max(0.0, self.cpu_seconds() - cpu_start)
            else:  # a dead sandbox's counters are gone: the last reading taken while it ran stands
                res.cpu_seconds = max(res.cpu_seconds, 0.0)
            if meter is not None:
                meter[0] += res.cpu_seconds

    def _follow(self, res: ExecResult, msg_id: str, timeout: float, cpu_budget: float | None,
                cpu_start: float) -> ExecResult:
        client = self.client
        cap = self.limits.output_kb * 1024
        deadline = time.monotonic() + timeout
        idle = False
        interrupted_at = None
        next_poll = 0.0
        while not idle:
            now = time.monotonic()
            if cpu_budget is not None and interrupted_at is None and now >= next_poll:
                next_poll = now + USAGE_POLL_S
                res.cpu_seconds = max(0.0, self.cpu_seconds() - cpu_start)
                if res.cpu_seconds > cpu_budget:
                    res.status, res.stopped_by = "timeout", "cpu"
                    interrupted_at = now
                    self.interrupt()
            if now > deadline and interrupted_at is None:
                res.status, res.stopped_by = "timeout", "wall"
                interrupted_at = now
                self.interrupt()
            if interrupted_at is not None and now - interrupted_at > INTERRUPT_GRACE_S:
                # The code ignored the interrupt (or the kernel is wedged): the sandbox is killed.
                self.kill()
                break
            if self.output_bytes > cap:
                # Output of earlier executions can trail in after their idle status (ipykernel flushes
                # from a thread), so every message counts, and the cap blames the biggest producer.
                res.status = "output_limit"
                res.culprit = max(self.bytes_by_parent, key=self.bytes_by_parent.get)
                self.kill()
                break
            try:
                msg = client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                if not self.alive():
                    if res.status == "ok":
                        res.status = "died"
                    break
                continue
            except Exception:  # a malformed or forged message: the kernel broke the protocol
                res.status, res.error = "died", "the kernel sent a malformed message"
                self.kill()
                break
            content = msg.get("content", {})
            if msg.get("msg_type") == "execute_input":  # the kernel echoing code we sent: not student output
                continue
            size = sum(len(b) for b in msg.get("buffers", []) or []) + len(str(content))
            parent = msg.get("parent_header", {}).get("msg_id", "")
            data = content.get("data") if isinstance(content.get("data"), dict) else {}
            if kernel_agent.RESULT_MIME in data:
                # Return values of graded calls have their own cap (plain-data payload size), not the
                # print cap; only the last one of an execution is kept.
                res.result_bytes += size
                if res.result_bytes > 2 * MAX_MESSAGE_BYTES:
                    res.status = "output_limit"
                    self.kill()
                    break
                if parent == msg_id:
                    res.result = data[kernel_agent.RESULT_MIME]
                continue
            self.output_bytes += size
            self.bytes_by_parent[parent] = self.bytes_by_parent.get(parent, 0) + size
            if parent != msg_id:
                continue
            # What the student's code prints or displays is counted (above), never kept.
            mtype = msg["msg_type"]
            if mtype == "status" and content.get("execution_state") == "idle":
                idle = True
            elif mtype == "error":
                if res.status == "ok":
                    res.status = "error"
                res.error = f"{content.get('ename', '')}: {content.get('evalue', '')}"[:2000]
        if res.status in ("ok", "error", "timeout") and not self.alive():
            res.status = "died" if res.status == "ok" else res.status
        if res.status == "timeout" and self.alive():
            res.error = res.error or "timed out"
        return res

    def install_agent(self, timeout: float) -> ExecResult:
        return self.execute(kernel_agent.install_code(), timeout)


class StudentCallError(Exception):
    """A call into the student's code failed; `kind` says how, the message is for the student."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def call_function(kernel: SandboxedKernel, name: str, args: tuple, kwargs: dict, timeout: float):
    """Call the student's `name(*args, **kwargs)` in the kernel; return the decoded plain-data result."""
    return call_function_printing(kernel, name, args, kwargs, timeout)[0]


def _agent_reply(kernel: SandboxedKernel, code: str, name: str, timeout: float) -> dict:
    """Run one agent request; the reply dict, or StudentCallError saying what went wrong."""
    res = kernel.execute(code, timeout)  # CPU budget: the enclosing kernel.budget() (engine.Session sets it)
    if res.status == "timeout":
        why = "its CPU-time budget" if res.stopped_by == "cpu" else f"the wall-clock guard ({timeout:.0f} s left)"
        raise StudentCallError("timeout", f"{name} did not return within the test's time limit ({why})")
    if res.status == "died":
        raise StudentCallError("died", f"the kernel died while running {name}")
    if res.status == "output_limit":
        raise StudentCallError("output_limit", f"{name} printed more than the output limit")
    reply = res.result
    if reply is None:
        detail = f" ({res.error})" if res.error else ""
        raise StudentCallError("no_result", f"calling {name} produced no result{detail}")
    if not isinstance(reply, dict):
        raise StudentCallError("malformed", f"calling {name} produced a malformed result")
    return reply


def _argument_label(key: str) -> str:
    return f"argument {key[2:]}" if key.startswith("k:") else f"argument {int(key) + 1}"


def _fits_in_place(target, new) -> bool:
    """Whether `new` can be written into `target` itself (same container kind; arrays: same shape and dtype)."""
    if isinstance(target, np.ndarray):
        return (type(new) is np.ndarray and new.shape == target.shape and new.dtype == target.dtype
                and target.flags.writeable)
    if type(target) in (list, dict):
        return type(new) is type(target)
    if type(target) is tuple:
        return type(new) is tuple and len(new) == len(target)
    return False


def _merge(old, new):
    """The element to keep in a container after the call: the caller's own object, updated in place, where that
    is what the student's code did (an array modified in place keeps its identity); otherwise the new value."""
    if _fits_in_place(old, new):
        _write_into(old, new)
        return old
    return new


def _write_into(target, new) -> None:
    """Make the caller's `target` equal to `new` in place (array[...] = new, list[:] = new, dict cleared and
    updated, tuple members updated), as the student's call left its copy."""
    if isinstance(target, np.ndarray):
        target[...] = new
    elif type(target) is list:
        target[:] = [_merge(target[i], v) if i < len(target) else v for i, v in enumerate(new)]
    elif type(target) is dict:
        merged = {k: (_merge(target[k], v) if k in target else v) for k, v in new.items()}
        target.clear()
        target.update(merged)
    elif type(target) is tuple:  # a tuple cannot change, but the arrays, lists and dicts it holds can
        for old, v in zip(target, new):
            if _fits_in_place(old, v):
                _write_into(old, v)


def _write_back(name: str, args: tuple, kwargs: dict, changed) -> None:
    """Apply the argument changes the kernel reported to the caller's objects. A change that cannot be made in
    place (an array whose shape or dtype the call changed, a list turned into something else) fails the call,
    saying so; a malformed report fails it too. Immutable arguments (numbers, strings) cannot have changed."""
    if changed is None:
        return
    if not isinstance(changed, dict):
        raise StudentCallError("malformed", f"calling {name} produced a malformed result")
    for key, text in changed.items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise StudentCallError("malformed", f"calling {name} produced a malformed result")
        if key.startswith("k:") and key[2:] in kwargs:
            target = kwargs[key[2:]]
        elif key.isdigit() and int(key) < len(args):
            target = args[int(key)]
        else:
            raise StudentCallError("malformed", f"calling {name} produced a malformed result")
        try:
            new = plaindata.decode(text)
        except plaindata.PlainDataError as exc:
            raise StudentCallError("malformed", f"{name} changed an argument into data that cannot be read: {exc}") from None
        label = _argument_label(key)
        if isinstance(target, np.ndarray) and not _fits_in_place(target, new):
            if type(new) is np.ndarray and target.flags.writeable:
                what = f"from {target.shape} {target.dtype} to {new.shape} {new.dtype}"
            elif type(new) is np.ndarray:
                what = "although the array is read-only"
            else:
                what = f"into a {type(new).__name__}"
            raise StudentCallError("mutated", f"{name} changed the shape or type of its {label} in place ({what}); "
                                   "a function must not reshape or retype the arrays it is given")
        if type(target) in (list, dict, tuple) and type(new) is not type(target):
            raise StudentCallError("mutated", f"{name} turned its {label} (a {type(target).__name__}) into a "
                                   f"{type(new).__name__} in place")
        if isinstance(target, np.ndarray) or type(target) in (list, dict, tuple):
            _write_into(target, new)


def call_function_printing(kernel: SandboxedKernel, name: str, args: tuple, kwargs: dict, timeout: float):
    """Like `call_function`, and also what the call printed (a string, at most 64 KB). As in Otter, the call
    changes its arguments: what the student's function did to its copies (arrays, lists, dicts modified in
    place) is written back into the caller's `args` and `kwargs` before this returns or raises."""
    payload = plaindata.encode_call_args(args, kwargs)
    reply = _agent_reply(kernel, kernel_agent.call_code(name, payload), name, timeout)
    status = reply.get("status")
    printed = reply.get("stdout") if isinstance(reply.get("stdout"), str) else ""
    if status in ("ok", "error"):
        _write_back(name, args, kwargs, reply.get("changed"))
    if status == "ok" and type(reply.get("handle")) is int:
        return IteratorHandle(reply["handle"], str(reply.get("type", "iterator"))[:100]), printed[:65536]
    if status == "ok" and isinstance(reply.get("value"), str):
        try:
            value = plaindata.decode(reply["value"])
        except plaindata.PlainDataError as exc:
            raise StudentCallError("malformed", f"{name} returned data that cannot be read: {exc}") from None
        return value, printed[:65536]
    message = reply.get("message") if isinstance(reply.get("message"), str) else "unknown failure"
    raise StudentCallError(status if status in ("missing", "error", "unsendable") else "malformed", message[:2000])


@dataclass(frozen=True)
class IteratorHandle:
    """An iterator kept in the student's kernel (e.g. a generator a student function returned): the trusted
    side steps it with `next_item`, receiving one plain-data item at a time."""
    handle: int
    type_name: str


class IteratorExhausted(Exception):
    pass


def next_item(kernel: SandboxedKernel, handle: int, timeout: float):
    """The next item of a kept iterator (plain data); IteratorExhausted at its end."""
    reply = _agent_reply(kernel, kernel_agent.step_code(handle), "next() of your iterator", timeout)
    status = reply.get("status")
    if status == "stop":
        raise IteratorExhausted()
    if status == "ok" and isinstance(reply.get("value"), str):
        try:
            return plaindata.decode(reply["value"])
        except plaindata.PlainDataError as exc:
            raise StudentCallError("malformed", f"your iterator yielded data that cannot be read: {exc}") from None
    message = reply.get("message") if isinstance(reply.get("message"), str) else "unknown failure"
    raise StudentCallError(status if status in ("missing", "error", "unsendable") else "malformed", message[:2000])


def describe_names(kernel: SandboxedKernel, names: list[str], timeout: float) -> dict:
    """{name: {"kind": "missing" | "module" | "function" | "value" | "unsendable", ...}} for names of the
    student's namespace; values arrive decoded (plain data only)."""
    reply = _agent_reply(kernel, kernel_agent.describe_code(names), "the grading helper", timeout)
    found = reply.get("names") if reply.get("status") == "ok" else None
    if not isinstance(found, dict):
        raise StudentCallError("malformed", "the grading helper sent a malformed description of your notebook")
    out = {}
    for name in names:
        entry = found.get(name)
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind == "value" and isinstance(entry.get("value"), str):
            try:
                out[name] = {"kind": "value", "value": plaindata.decode(entry["value"])}
            except plaindata.PlainDataError as exc:
                out[name] = {"kind": "unsendable", "type": "?", "message": str(exc)}
        elif kind == "module" and isinstance(entry.get("module"), str):
            out[name] = {"kind": "module", "module": entry["module"]}
        elif kind in ("function", "missing"):
            out[name] = {"kind": kind}
        elif kind == "iterator" and type(entry.get("handle")) is int:
            out[name] = {"kind": "value", "value": IteratorHandle(entry["handle"], str(entry.get("type", "iterator"))[:100])}
        elif kind == "unsendable":
            out[name] = {"kind": kind, "type": str(entry.get("type", "?"))[:100],
                         "message": str(entry.get("message", ""))[:500]}
        else:
            out[name] = {"kind": "missing"}
    return out
