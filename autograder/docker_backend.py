"""The Docker backend: each student kernel runs in its own container of the grading image.

The container gets no network (`network_mode=none`), a read-only root filesystem with a small tmpfs /tmp, an
unprivileged numeric uid, no capabilities, no-new-privileges, memory (= memory+swap), pids and CPU limits, and
file-size/open-files/CPU-time ulimits. Only two host folders are mounted: the student's working folder and the
kernel's runtime folder (connection file and Unix sockets). The trusted grader stays outside, on the host, and
talks to the kernel over those sockets exactly as with the local backend, so scores are identical.

Every container carries the label `org.mfdl.batch=<id>`; a batch removes its containers when it ends, on
Ctrl-C too, and sweeps containers left by batches whose process is gone.
"""
from __future__ import annotations

import os
import socket
import uuid

from .limits import cgroup_v2_cpu_seconds, read_int
from .sandbox import SANDBOX_HOME, STAGE_DIR, Limits

DEFAULT_IMAGE = os.environ.get("MFDL_IMAGE", "mfdl-grader:latest")
IMAGE_PYTHON = "/opt/mfdl/bin/python"
LABEL_BATCH = "org.mfdl.batch"
LABEL_OWNER = "org.mfdl.owner"

_client = None


class DockerUnavailable(RuntimeError):
    """No Docker engine is reachable, or the grading image is missing."""


def docker_client():
    global _client
    if _client is None:
        try:
            import docker
        except ImportError:
            raise DockerUnavailable("the docker Python SDK is not installed (pip install docker)") from None
        try:
            client = docker.from_env(timeout=60)
            client.ping()
        except Exception as exc:
            raise DockerUnavailable(f"no Docker engine reachable ({type(exc).__name__}: {exc})") from None
        _client = client
    return _client


def check_available(image: str = DEFAULT_IMAGE) -> str:
    """Raise DockerUnavailable with the reason, or return a one-line description of engine and image."""
    client = docker_client()
    try:
        img = client.images.get(image)
    except Exception:
        raise DockerUnavailable(f"the grading image {image!r} is not built (run docker/build-image.sh)") from None
    version = client.version().get("Version", "?")
    return f"Docker engine {version}, image {image} ({img.short_id})"


def batch_id() -> str:
    """Label value shared by all containers of one batch (set by the batch's main process)."""
    return os.environ.setdefault("MFDL_BATCH_ID", f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")


def _remove_where(label: str, keep=lambda container: False) -> int:
    """Force-remove our containers carrying `label`, except those `keep` spares; returns how many went."""
    n = 0
    for c in docker_client().containers.list(all=True, filters={"label": label}):
        if keep(c):
            continue
        try:
            c.remove(force=True)
            n += 1
        except Exception:  # already gone
            pass
    return n


def remove_containers(batch: str | None = None) -> int:
    """Remove the containers of `batch` (all of ours if None); returns how many."""
    return _remove_where(f"{LABEL_BATCH}={batch}" if batch else LABEL_BATCH)


def sweep_orphans() -> int:
    """Remove containers whose owning grader process (on this host) no longer exists."""
    host = socket.gethostname()

    def owner_alive(c) -> bool:
        h, _, pid = c.labels.get(LABEL_OWNER, "").rpartition(":")
        return not (h == host and pid.isdigit() and not _pid_alive(int(pid)))
    return _remove_where(LABEL_OWNER, keep=owner_alive)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class DockerLauncher:
    name = "docker"
    python = IMAGE_PYTHON

    def __init__(self, limits: Limits, slot: int, image: str | None = None):
        self.limits, self.slot, self.image = limits, slot, image or DEFAULT_IMAGE
        self.container = None
        self.peak_memory_bytes: int | None = None
        self._dead = False

    def launch(self, argv, *, workdir, rundir, uid: int, env: dict, log_path) -> None:
        from docker.types import LogConfig, Ulimit
        lim = self.limits
        env = dict(env, PATH=f"{os.path.dirname(IMAGE_PYTHON)}:/usr/local/bin:/usr/bin:/bin")
        fsize = lim.file_size_mb * 1024 * 1024
        self.container = docker_client().containers.run(
            self.image, argv, detach=True,
            name=f"mfdl-{os.getpid()}-{self.slot}-{uuid.uuid4().hex[:8]}",
            labels={LABEL_BATCH: batch_id(), LABEL_OWNER: f"{socket.gethostname()}:{os.getpid()}"},
            network_mode="none", user=f"{uid}:{uid}", read_only=True,
            # Everything the kernel can write is a size-capped tmpfs (the root is read-only): /tmp and the home,
            # into which the kernel copies the staged files at start (mounted read-only at STAGE_DIR).
            tmpfs={"/tmp": f"size={lim.tmpfs_mb}m,mode=1777",
                   SANDBOX_HOME: f"size={lim.home_mb}m,mode=0700,uid={uid},gid={uid}"},
            volumes={str(workdir): {"bind": STAGE_DIR, "mode": "ro"},
                     str(rundir): {"bind": str(rundir), "mode": "rw"}},
            working_dir=SANDBOX_HOME, environment=env,
            mem_limit=f"{lim.memory_mb}m", memswap_limit=f"{lim.memory_mb}m", pids_limit=lim.processes,
            nano_cpus=1_000_000_000, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="fsize", soft=fsize, hard=fsize),
                     Ulimit(name="nofile", soft=lim.open_files, hard=lim.open_files),
                     Ulimit(name="cpu", soft=int(lim.cpu_seconds), hard=int(lim.cpu_seconds)),
                     Ulimit(name="core", soft=0, hard=0)],
            # What the kernel writes to its stderr lands in the engine's log on the host: capped like the rest.
            log_config=LogConfig(type=LogConfig.types.JSON, config={"max-size": "1m", "max-file": "1"}),
            init=True)

    def stage_path(self, workdir) -> str:
        return STAGE_DIR

    def usage(self) -> tuple[float, int]:
        """(CPU seconds, tasks) of the container, from its cgroup (v1 with the cgroupfs or systemd layout, or
        v2), else from the engine's stats (slower, about a second)."""
        if self.container is None:
            return 0.0, 0
        cid = self.container.id
        cpu = None
        for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
                     f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage",
                     f"/sys/fs/cgroup/cpuacct/system.slice/docker-{cid}.scope/cpuacct.usage"):
            ns = read_int(path)
            if ns is not None:
                cpu = ns / 1e9
                break
        if cpu is None:
            for path in (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat", f"/sys/fs/cgroup/docker/{cid}/cpu.stat"):
                cpu = cgroup_v2_cpu_seconds(path)
                if cpu is not None:
                    break
        tasks = None
        for path in (f"/sys/fs/cgroup/pids/docker/{cid}/pids.current",
                     f"/sys/fs/cgroup/pids/system.slice/docker-{cid}.scope/pids.current",
                     f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/pids.current", f"/sys/fs/cgroup/docker/{cid}/pids.current"):
            tasks = read_int(path)
            if tasks is not None:
                break
        if cpu is None or tasks is None:
            try:
                stats = self.container.stats(stream=False)
                cpu = stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9 if cpu is None else cpu
                tasks = int(stats.get("pids_stats", {}).get("current", 0)) if tasks is None else tasks
            except Exception:
                pass
        return cpu or 0.0, tasks or 0

    def alive(self) -> bool:
        if self.container is None or self._dead:
            return False
        try:
            self.container.reload()
        except Exception:
            self._dead = True
            return False
        self._dead = self.container.status not in ("created", "running")
        return not self._dead

    def log_tail(self) -> str:
        try:
            return self.container.logs(tail=20).decode("utf-8", "replace").strip()[-2000:]
        except Exception:
            return ""

    def kill(self) -> None:
        if self.container is None:
            return
        try:
            path = f"/sys/fs/cgroup/memory/docker/{self.container.id}/memory.max_usage_in_bytes"
            with open(path) as fh:
                self.peak_memory_bytes = int(fh.read())
        except (OSError, ValueError):
            pass
        try:
            self.container.remove(force=True)
        except Exception:
            pass
        self.container = None
        self._dead = True
