"""Resource limits of a student's kernel, and how its time is measured.

Time budgets (`cell_timeout_s`, `test_timeout_s`, `notebook_timeout_s`) count the STUDENT'S time: CPU seconds
used by the processes of the sandbox (the kernel and everything it started), measured from the trusted side:

* the kernel's cgroup `cpuacct.usage` where the grader runs as root with cgroup v1 (local backend),
* the container's cgroup (Docker backend),
* otherwise the sum of user+system time (own and reaped children's) over the process tree under the
  launcher's pid, read from /proc.

The grader's own work (a hidden test's `import torch`, its reference computation) runs in the trusted process and
is not counted, and neither is time the kernel spends waiting for a CPU on a loaded machine: CPU time of a
computation is independent of how many other processes compete for the cores (up to cache effects), whereas wall
time grows with the load average.

Wall time is kept only as an outer guard, for a kernel that uses no CPU (sleeps, blocks on a lock forever):
`wall_guard(budget) = 4 * budget + 30 s`. The multiple 4 covers a machine kept busy by 2x its core count of
CPU-bound processes (the kernel then gets about 1/3 of a core: a budget of CPU time takes ~3x as long in wall time)
with a margin; the 30 s cover kernel start-up and the replay of cells after a restart. A budget run out in CPU
time is reported as a time limit; the guard is reported as the wall-clock guard.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

WALL_GUARD_FACTOR = 4.0
WALL_GUARD_EXTRA_S = 30.0


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    cpu_seconds: int = 600
    processes: int = 64
    file_size_mb: int = 64
    open_files: int = 256
    output_kb: int = 1024
    cell_timeout_s: float = 60.0
    test_timeout_s: float = 30.0
    notebook_timeout_s: float = 600.0
    tmpfs_mb: int = 256
    home_mb: int = 256


def wall_guard(budget_s: float) -> float:
    """The outer wall-clock guard of a CPU-time budget (see the module docstring for the formula's reason)."""
    return WALL_GUARD_FACTOR * float(budget_s) + WALL_GUARD_EXTRA_S


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read_stat(pid: int):
    """(ppid, cpu seconds of the process and its reaped children, threads) from /proc/<pid>/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    try:
        ppid = int(fields[1])
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])  # utime stime cutime cstime
        threads = int(fields[17])
    except (IndexError, ValueError):
        return None
    return ppid, ticks / _CLK_TCK, threads


def process_tree_usage(root_pid: int) -> tuple[float, int]:
    """(CPU seconds, tasks) of `root_pid` and all its descendants, from /proc. CPU seconds of a process include
    those of the children it reaped (cutime/cstime), so processes that already exited are counted too once
    reaped (in a PID namespace, its init reaps orphans). Tasks count threads, as RLIMIT_NPROC and pids do."""
    stats = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0, 0
    for name in entries:
        if name.isdigit():
            s = _read_stat(int(name))
            if s is not None:
                stats[int(name)] = s
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    cpu, tasks, todo = 0.0, 0, [root_pid]
    while todo:
        pid = todo.pop()
        if pid in stats:
            cpu += stats[pid][1]
            tasks += stats[pid][2]
        todo.extend(children.get(pid, []))
    return cpu, tasks


def read_int(path) -> int | None:
    try:
        with open(path) as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cgroup_v2_cpu_seconds(path) -> float | None:
    """usage_usec of a cgroup v2 cpu.stat, in seconds."""
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
    except (OSError, ValueError):
        return None
    return None
