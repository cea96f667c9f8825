"""The local sandbox: how a student's kernel process is confined.

Layers, from the outside in:

* bubblewrap (`bwrap`, a well-kept setuid-free sandbox tool) gives the kernel new mount, network, PID, IPC
  and UTS namespaces. The mount namespace is built from an EMPTY root: only the OS directories, the Python
  installation and the per-kernel working and runtime folders are mounted (read-only except those two).
  The instructor's checkout, `solutions/`, the build folder, /root and /home do not exist in there, so
  world-readable hidden tests are still invisible. The network namespace has no interface but a down
  loopback; the kernel talks to the grader over Unix sockets in the runtime folder.
* `setpriv` drops to an unprivileged uid/gid (one per kernel of a worker slot, so the process limit counts one kernel),
  clears supplementary groups, capabilities and the bounding set, and sets no_new_privs.
* rlimits (set before exec, never raisable by the student): address space, CPU seconds, processes, file
  size, open files, no core dumps. Where the cgroup v1 memory and pids controllers are writable (as root),
  the whole sandbox also gets a memory and pids cap, so a fork bomb of allocating children stays bounded.
* Everything the kernel can write is size-capped: the home and /tmp are tmpfs mounts of `home_mb` and
  `tmpfs_mb`; the runtime folder (a host folder, for the sockets) is made unwritable to the kernel's uid once
  the kernel is ready (as root); the rest of the view is read-only.
* The trusted grader enforces time budgets (the sandbox's CPU time, with a wall-clock guard: see `limits`)
  and output caps from outside and kills the sandbox (killing bwrap kills the PID namespace's init and with
  it every process inside). Uids come from a block reserved per batch (`uidpool`).
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .limits import Limits, process_tree_usage, read_int  # noqa: F401  (Limits is re-exported)

SANDBOX_HOME = "/home/student"
STAGE_DIR = "/run/mfdl-files"  # read-only view of the files staged for the kernel's home (copied in at start)


class SandboxUnavailable(RuntimeError):
    """The local sandbox cannot run here (no bwrap, or namespaces are not permitted)."""


def find_bwrap() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; install it (Debian: apt-get install bubblewrap) to grade"
        )
    return path


def _python_mounts() -> list[str]:
    """Directories the kernel needs to run this Python: the venv and the base installation."""
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix), os.path.realpath(sys.exec_prefix)}
    # Drop nested duplicates (a venv inside the base prefix, or the reverse).
    ordered = sorted(roots, key=len)
    keep: list[str] = []
    for r in ordered:
        if not any(r == k or r.startswith(k + os.sep) for k in keep):
            keep.append(r)
    return keep


def _parent_dirs(path: str) -> list[str]:
    """Parents of a mount point, created mode 0755 (bwrap would make them 0700, unreadable to the student)."""
    out: list[str] = []
    for parent in reversed(Path(path).parents[:-1]):
        out += ["--perms", "0755", "--dir", str(parent)]
    return out


def build_command(*, kernel_argv: list[str], workdir: Path, rundir: Path, uid: int, limits: Limits,
                  env: dict[str, str]) -> list[str]:
    """bwrap + setpriv command that runs `kernel_argv` confined. `rundir` is mounted at its own path (the
    connection file names sockets there); `workdir` holds the files staged for the student's home (a tmpfs)."""
    cmd = [find_bwrap(), "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    for d in ("/usr", "/bin", "/lib", "/lib64", "/etc", "/sbin"):
        if os.path.exists(d):
            cmd += ["--ro-bind", d, d] if not os.path.islink(d) else ["--symlink", os.readlink(d), d]
    # /tmp first: a tmpfs there would hide a Python installation or runtime folder that lives under /tmp.
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(limits.tmpfs_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    for p in _python_mounts():
        cmd += _parent_dirs(p) + ["--ro-bind", p, p]
    # The home is a size-capped tmpfs (limits.home_mb): together with /tmp's cap, everything the kernel can
    # write is bounded, and nothing of it lands on the host's disk. The files placed beside the notebook are
    # staged on the host (mounted read-only at STAGE_DIR) and copied in by the kernel at start (`_boot_code`).
    cmd += ["--perms", "0755", "--dir", "/home",
            "--perms", "1777", "--size", str(limits.home_mb * 1024 * 1024), "--tmpfs", SANDBOX_HOME,
            *_parent_dirs(STAGE_DIR), "--ro-bind", str(workdir), STAGE_DIR,
            *_parent_dirs(str(rundir)), "--bind", str(rundir), str(rundir),
            "--chdir", SANDBOX_HOME]
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd.append("--")
    if os.geteuid() == 0:  # as root, drop to the slot's unprivileged uid inside the sandbox
        cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd + kernel_argv


def kernel_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "HOME": SANDBOX_HOME,
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "IPYTHONDIR": "/tmp/.ipython",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter-runtime",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        # One BLAS/OpenMP thread per kernel: graders run one kernel per core (oversubscribed BLAS threads
        # slowed tiny models by >10x on this 2-core machine, theory-tolerances.md §0).
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine-specific BLAS settings must carry over
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    return env


def apply_rlimits(limits: Limits) -> None:
    """Called in the child between fork and exec (preexec_fn): hard limits the student cannot raise."""
    def cap(which, value):
        resource.setrlimit(which, (value, value))
    cap(resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024)
    cap(resource.RLIMIT_CPU, int(limits.cpu_seconds))
    cap(resource.RLIMIT_NPROC, limits.processes)
    cap(resource.RLIMIT_FSIZE, limits.file_size_mb * 1024 * 1024)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)


class CgroupLimits:
    """Optional whole-sandbox memory and pids caps through cgroup v1 (writable only as root)."""

    ROOTS = {"memory": Path("/sys/fs/cgroup/memory"), "pids": Path("/sys/fs/cgroup/pids"),
             "cpuacct": Path("/sys/fs/cgroup/cpuacct")}  # cpuacct: no cap, the sandbox's CPU time (see limits)
    _swept = False

    @classmethod
    def sweep_stale(cls) -> None:
        """Remove groups left by a grader that was killed. rmdir only succeeds on a group with no process
        in it, so a group in use by another running grader is never touched."""
        for root in cls.ROOTS.values():
            base = root / "mfdl"
            if base.is_dir():
                for d in base.iterdir():
                    if d.is_dir():
                        try:
                            d.rmdir()
                        except OSError:
                            pass
        cls._swept = True

    def __init__(self, name: str, limits: Limits):
        self.paths: list[Path] = []
        self.by_controller: dict[str, Path] = {}
        if os.geteuid() != 0:
            return
        if not CgroupLimits._swept:
            self.sweep_stale()
        settings = {"memory": ("memory.limit_in_bytes", str(limits.memory_mb * 1024 * 1024)),
                    "pids": ("pids.max", str(limits.processes)), "cpuacct": None}
        for ctrl, root in self.ROOTS.items():
            if not (root / "tasks").exists() or not os.access(root, os.W_OK):
                continue
            path = root / "mfdl" / name
            try:
                path.mkdir(parents=True, exist_ok=True)
                if settings[ctrl] is not None:
                    fname, value = settings[ctrl]
                    (path / fname).write_text(value)
                self.paths.append(path)
                self.by_controller[ctrl] = path
            except OSError:
                continue

    def enter(self) -> None:
        """Called in the child before exec: move this process (and so its descendants) into the groups."""
        for path in self.paths:
            try:
                (path / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                pass

    def cpu_seconds(self) -> float | None:
        path = self.by_controller.get("cpuacct")
        ns = read_int(path / "cpuacct.usage") if path is not None else None
        return ns / 1e9 if ns is not None else None

    def tasks(self) -> int | None:
        path = self.by_controller.get("pids")
        return read_int(path / "pids.current") if path is not None else None

    def peak_memory_bytes(self) -> int | None:
        for path in self.paths:
            try:
                return int((path / "memory.max_usage_in_bytes").read_text())
            except (OSError, ValueError):
                continue
        return None

    def remove(self) -> None:
        for path in self.paths:
            try:
                path.rmdir()
            except OSError:
                pass


class BwrapLauncher:
    """The local backend: the kernel runs under bwrap + setpriv with rlimits (and cgroups as root)."""

    name = "local"

    def __init__(self, limits: Limits, slot: int):
        self.limits, self.slot = limits, slot
        self.python = sys.executable
        self.proc = None
        self.cgroup: CgroupLimits | None = None
        self.peak_memory_bytes: int | None = None
        self.log_path: Path | None = None

    def stage_path(self, workdir: Path) -> str:
        """Where the kernel sees the staged files (`workdir` on the host)."""
        return STAGE_DIR

    def launch(self, argv, *, workdir: Path, rundir: Path, uid: int, env: dict, log_path: Path) -> None:
        cmd = build_command(kernel_argv=argv, workdir=workdir, rundir=rundir, uid=uid, limits=self.limits, env=env)
        self._spawn(cmd, log_path)

    def _spawn(self, cmd: list, log_path: Path, **popen) -> None:
        """Start `cmd` in its own session, inside this kernel's cgroups and under its rlimits."""
        self.cgroup = CgroupLimits(f"k{os.getpid()}-{self.slot}-{uuid.uuid4().hex[:6]}", self.limits)
        limits, cg = self.limits, self.cgroup

        def preexec():
            cg.enter()
            apply_rlimits(limits)

        self.log_path = log_path
        with open(log_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         preexec_fn=preexec, start_new_session=True, close_fds=True, **popen)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def usage(self) -> tuple[float, int]:
        """(CPU seconds, tasks) of the whole sandbox so far: its cgroups where we have them, else /proc."""
        cpu = self.cgroup.cpu_seconds() if self.cgroup is not None else None
        tasks = self.cgroup.tasks() if self.cgroup is not None else None
        if (cpu is None or tasks is None) and self.proc is not None:
            tree_cpu, tree_tasks = process_tree_usage(self.proc.pid)
            cpu = tree_cpu if cpu is None else cpu
            tasks = tree_tasks if tasks is None else tasks
        return cpu or 0.0, tasks or 0

    def log_tail(self) -> str:
        try:
            return self.log_path.read_bytes()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, AttributeError):
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)  # bwrap dies, and with it the PID namespace's init and all inside
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.cgroup is not None:
            self.peak_memory_bytes = self.cgroup.peak_memory_bytes()
            for path in self.cgroup.paths:  # anything left in the group is killed too
                try:
                    for pid in (path / "cgroup.procs").read_text().split():
                        os.kill(int(pid), 9)
                except (OSError, ValueError):
                    pass
            if self.cgroup.paths:
                time.sleep(0.05)
            self.cgroup.remove()
            self.cgroup = None


class UidLauncher(BwrapLauncher):
    """Fallback for hosts where namespaces cannot be created (e.g. inside Gradescope's container): the kernel
    runs as an unprivileged uid with the same rlimits and cgroups, but shares the filesystem view and the
    network of the host. Whatever the student must not read has to be unreadable to that uid (the Gradescope
    runner makes /autograder/source and /autograder/results root-only before grading)."""

    name = "uid"

    def stage_path(self, workdir: Path) -> str:
        return str(workdir)

    def launch(self, argv, *, workdir: Path, rundir: Path, uid: int, env: dict, log_path: Path) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable("the uid fallback needs root (to switch to the unprivileged uid)")
        # No mounts here: the home is a host folder beside the staged files (no size cap but RLIMIT_FSIZE per
        # file; the Gradescope container this fallback serves is discarded after one submission).
        home = workdir.parent / "home"
        home.mkdir(exist_ok=True)
        os.chown(home, uid, uid)
        os.chmod(home, 0o700)
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
               "--bounding-set=-all", "--no-new-privs", "--"] + argv
        self._spawn(cmd, log_path, env=dict(env, HOME=str(home)), cwd=str(home))
        # kill() is inherited: with no PID namespace, killing the process group and then every process left
        # in the cgroup is what ends the kernel and its children.


def make_launcher(backend: str, *, limits: Limits, slot: int, image: str | None = None):
    if backend == "local":
        return BwrapLauncher(limits, slot)
    if backend == "uid":
        return UidLauncher(limits, slot)
    if backend == "docker":
        from .docker_backend import DockerLauncher
        return DockerLauncher(limits, slot, image=image)
    raise ValueError(f"unknown backend {backend!r} (use local, docker or uid)")


def check_available() -> None:
    """Raise SandboxUnavailable with the reason if a confined process cannot start here."""
    bwrap = find_bwrap()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run([bwrap, "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "--", "true"],
                                  capture_output=True, text=True, timeout=30, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bwrap could not start: {exc}") from None
    if proc.returncode != 0:
        raise SandboxUnavailable(f"bwrap cannot create namespaces here: {proc.stderr.strip()}")
