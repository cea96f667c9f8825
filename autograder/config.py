"""Load and validate grader_config.yaml and each set's checks.yaml (solutions/<folder>/checks.yaml: the tolerance
rules its tests name). Every key is checked: a misspelled or missing key is an error that names it (and
suggests the nearest valid key)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .mfdl_checks.rules import ConfigError, check_keys as _check_keys, make_rule, make_rules  # noqa: F401
from .mfdl_checks.rules import unknown_key as _unknown
from .sandbox import Limits

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "grader_config.yaml"


def _limits(raw: dict, base: Limits, where: str) -> Limits:
    fields = {f.name: f.type for f in dataclasses.fields(Limits)}
    _check_keys(raw, set(), set(fields), where)
    values = {}
    for k, v in raw.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{where}.{k}: expected a positive number, got {v!r}")
        values[k] = v
    return dataclasses.replace(base, **values)


@dataclass
class ProblemSet:
    key: str
    folder: str
    notebook: str
    title: str
    limits: Limits
    checks: dict
    check_specs: dict  # raw rule specs of solutions/<folder>/checks.yaml
    preload: list = field(default_factory=list)
    files: list = field(default_factory=list)
    root: Path = REPO_ROOT  # folder of grader_config.yaml; solutions/, assignments/, build/ live beside it
    config_path: Path = DEFAULT_CONFIG

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions" / self.folder

    @property
    def master_path(self) -> Path:
        return self.solutions_dir / self.notebook

    @property
    def assignment_dir(self) -> Path:
        return self.root / "assignments" / self.folder

    @property
    def build_dir(self) -> Path:
        return self.root / "build" / self.folder

    @property
    def autograder_dir(self) -> Path:
        return self.build_dir / "autograder"


@dataclass
class GraderConfig:
    problem_sets: dict
    path: Path

    def problem_set(self, name: str) -> ProblemSet:
        if name in self.problem_sets:
            return self.problem_sets[name]
        for ps in self.problem_sets.values():
            if name == ps.folder:
                return ps
        raise _unknown(name, self.problem_sets, f"{self.path.name}: problem set")


PS_REQUIRED = {"folder", "notebook", "title"}
CHECKS_FILE = "checks.yaml"  # beside the master notebook; Otter ships it to students with mfdl_checks/


def load_checks(path: Path) -> tuple[dict, dict]:
    """A set's checks.yaml -> (rule objects, raw specs); a missing file means no checks."""
    if not path.is_file():
        return {}, {}
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    raw = raw or {}
    # errors name the file as solutions/<folder>/checks.yaml and the check's key path in it
    return make_rules(raw, "/".join(path.parts[-3:])), raw
PS_OPTIONAL = {"limits", "preload", "files"}


def load_config(path: Path | str | None = None) -> GraderConfig:
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {exc}") from None
    _check_keys(raw, {"problem_sets"}, {"defaults"}, path.name)
    defaults = raw.get("defaults") or {}
    _check_keys(defaults, set(), {"limits"}, f"{path.name}: defaults")
    base_limits = _limits(defaults.get("limits") or {}, Limits(), f"{path.name}: defaults.limits")
    sets = {}
    for key, spec in (raw["problem_sets"] or {}).items():
        where = f"{path.name}: problem_sets.{key}"
        if isinstance(spec, dict) and "checks" in spec:
            raise ConfigError(f"{where}.checks: the tolerance rules now live in solutions/<folder>/{CHECKS_FILE} "
                              "(beside the master notebook, shipped with it): move the mapping there")
        _check_keys(spec, PS_REQUIRED, PS_OPTIONAL, where)
        root = path.resolve().parent
        checks, checks_raw = load_checks(root / "solutions" / spec["folder"] / CHECKS_FILE)
        sets[key] = ProblemSet(
            key=key, folder=spec["folder"], notebook=spec["notebook"], title=spec["title"],
            limits=_limits(spec.get("limits") or {}, base_limits, f"{where}.limits"),
            checks=checks, check_specs=checks_raw, preload=list(spec.get("preload") or []),
            files=list(spec.get("files") or []), root=root, config_path=path.resolve())
    return GraderConfig(problem_sets=sets, path=path)
