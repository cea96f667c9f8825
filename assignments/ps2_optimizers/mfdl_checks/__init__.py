"""mfdl_checks: what our tests import, the same in three places.

    from mfdl_checks import check, remote, submitted_file, TestFailure

* in a student's notebook (`grader.check`, stock Otter) and under stock `otter run`, the *default
  configuration*: `check` compares with the tolerance rules of the `checks.yaml` found beside this
  `mfdl_checks/` folder (else in the current directory), `remote(src)` is `eval(src)` with numpy as `np`,
  and `submitted_file(name)` reads a submitted file from the current directory (the notebook's folder);
* in the trusted grader, which sets the configuration of each test with `configure(...)` (a context
  variable): the set's Checker, the sandbox's `RemoteCode` and the submission's declared files.

Self-contained on purpose: numpy and pyyaml only, relative imports only, never `autograder.*`, so Otter can
ship this folder with a notebook (ASSIGNMENT CONFIG `files: [mfdl_checks, checks.yaml]`).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass
from typing import Any, Callable

from .checker import Checker, TestFailure, checker_from_specs
from .rules import ConfigError

__all__ = ["check", "remote", "submitted_file", "TestFailure", "Checker", "Configuration", "ConfigError",
           "configure", "reset", "configured", "current", "default_configuration", "checker_from_specs"]

CHECKS_FILE = "checks.yaml"


@dataclass(frozen=True)
class Configuration:
    """What the exported names stand for: `check` (a Checker), `remote` (source text -> callable) and
    `submitted_file` (file name -> parsed JSON, raising TestFailure when it is missing or invalid)."""
    check: Checker
    remote: Callable[[str], Any]
    submitted_file: Callable[[str], Any]


_current: contextvars.ContextVar = contextvars.ContextVar("mfdl_checks_configuration", default=None)
_default: Configuration | None = None


def configure(config: Configuration | None = None, *, check: Checker | None = None, remote=None,
              submitted_file=None) -> contextvars.Token:
    """Set the configuration for the current context (the trusted grader: once per test). Either a whole
    `Configuration`, or its parts (missing parts come from the default configuration). Returns the token
    for `reset`."""
    if config is None:
        base = None
        if check is None or remote is None or submitted_file is None:
            base = default_configuration()
        config = Configuration(check=check if check is not None else base.check,
                               remote=remote if remote is not None else base.remote,
                               submitted_file=submitted_file if submitted_file is not None else base.submitted_file)
    return _current.set(config)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def configured(config: Configuration | None = None, **parts):
    """`with configured(check=..., remote=..., submitted_file=...):` run tests under that configuration."""
    token = configure(config, **parts)
    try:
        yield _current.get()
    finally:
        reset(token)


def current() -> Configuration:
    return _current.get() or default_configuration()


def _checks_path() -> str | None:
    """checks.yaml beside this package's folder (as Otter ships them), else in the current directory.
    __file__ is not resolved: through the set folder's symlink `mfdl_checks`, beside means the set folder."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder in (here, os.getcwd()):
        path = os.path.join(folder, CHECKS_FILE)
        if os.path.isfile(path):
            return path
    return None


def _load_checks(path: str | None) -> Checker:
    if path is None:
        # No rules: a comparison then fails saying which check is missing, the rest still works.
        return Checker({})
    import yaml
    with open(path, encoding="utf-8") as fh:
        try:
            specs = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return checker_from_specs(specs or {}, where=os.path.basename(path))


def _eval_remote(src: str):
    """A function the test hands to the student's code, written as source text: evaluated here with numpy."""
    import numpy as np
    return eval(src, {"np": np, "numpy": np})


def _read_submitted(name: str):
    """A submitted file from the current directory (the notebook's folder, also under `otter run`)."""
    from .submitted_files import MAX_FILE_BYTES, SubmittedFiles, valid_name
    files = {}
    if valid_name(name) and os.path.isfile(name):
        with open(name, "rb") as fh:
            files[name] = fh.read(MAX_FILE_BYTES + 1)
    declared = [name] if valid_name(name) else []
    return SubmittedFiles(files, declared, how_to_submit=SubmittedFiles.SELF_CHECK_HINT)(name)


def default_configuration() -> Configuration:
    """The configuration of a student's kernel and of stock `otter run` (built once)."""
    global _default
    if _default is None:
        _default = Configuration(check=_load_checks(_checks_path()), remote=_eval_remote,
                                 submitted_file=_read_submitted)
    return _default


def __getattr__(name: str):
    # Resolved at import time of `from mfdl_checks import check`, i.e. inside each test's body: each test
    # gets the configuration current when it runs.
    if name in ("check", "remote", "submitted_file"):
        return getattr(current(), name)
    raise AttributeError(f"module 'mfdl_checks' has no attribute {name!r}")
