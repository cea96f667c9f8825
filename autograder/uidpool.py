"""Sandbox uids reserved per batch, so that concurrent batches on one host never share a uid.

Per-uid limits (RLIMIT_NPROC counts every process of a uid on the host) couple all kernels running under one uid:
with fixed uids, one class's fork bomb could starve another class's kernels. Instead, each batch (or any grading
process that starts kernels outside a batch) reserves a BLOCK of BLOCK_SIZE uids by taking an exclusive
`fcntl.flock` on a lock file, held until the process exits (the kernel releases it even after SIGKILL, so a
crashed grader never leaks a block). A batch's worker processes inherit the block through MFDL_UID_BLOCK (the
batch's main process holds the lock for them).

Block 0 is 61000-61063, the uids the grading image names in /etc/passwd; other blocks are numeric uids without a
passwd entry, which Docker (`--user UID:GID`) and setpriv accept (the kernel needs no name: HOME is set).
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

FIRST_UID = 61000
BLOCK_SIZE = 64
BLOCKS = 64  # 61000-65095: below 65534 (nobody) and the 16-bit range some tools assume
ENV = "MFDL_UID_BLOCK"
LOCK_DIRS = (Path("/run/mfdl/uids"), Path("/tmp/mfdl-uids"))


class NoFreeUids(RuntimeError):
    pass


class UidBlock:
    def __init__(self, index: int, handle=None):
        self.index, self._handle = index, handle

    @property
    def first(self) -> int:
        return FIRST_UID + self.index * BLOCK_SIZE

    def uid(self, n: int) -> int:
        """The n-th uid of the block (wrapping: callers keep n below BLOCK_SIZE for distinct uids)."""
        return self.first + n % BLOCK_SIZE

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor drops the flock
            self._handle = None


def _lock_dir() -> Path:
    for d in LOCK_DIRS:
        try:
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o1777)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    raise NoFreeUids(f"no writable folder for uid lock files (tried {', '.join(map(str, LOCK_DIRS))})")


def reserve() -> UidBlock:
    """Take the first free block (exclusive flock, held while the returned block's lock file stays open)."""
    d = _lock_dir()
    for index in range(BLOCKS):
        path = d / f"block-{index}.lock"
        try:
            handle = open(path, "a+")
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return UidBlock(index, handle)
    raise NoFreeUids(f"all {BLOCKS} uid blocks are in use by other grading processes on this host")


_process_block: UidBlock | None = None


def process_block() -> UidBlock:
    """This process's block: inherited from the batch (MFDL_UID_BLOCK) or reserved on first use, for life."""
    global _process_block
    if _process_block is None:
        inherited = os.environ.get(ENV, "")
        _process_block = UidBlock(int(inherited)) if inherited.isdigit() else reserve()
    return _process_block
