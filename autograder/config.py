"""Load and validate grader_config.yaml. Every key is checked: a misspelled or missing key is an error that
names it (and suggests the nearest valid key)."""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .sandbox import Limits
from .tolerances import RULES

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "grader_config.yaml"


class ConfigError(ValueError):
    pass


def _unknown(key: str, valid, where: str) -> ConfigError:
    near = difflib.get_close_matches(key, list(valid), n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return ConfigError(f"{where}: unknown key '{key}'{hint}; valid keys: {', '.join(sorted(valid))}")


def _check_keys(mapping, required: set, optional: set, where: str) -> None:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in required | optional:
            raise _unknown(key, required | optional, where)
    for key in sorted(required):
        if key not in mapping:
            raise ConfigError(f"{where}: missing required key '{key}'")


def _limits(raw: dict, base: Limits, where: str) -> Limits:
    fields = {f.name: f.type for f in dataclasses.fields(Limits)}
    _check_keys(raw, set(), set(fields), where)
    values = {}
    for k, v in raw.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{where}.{k}: expected a positive number, got {v!r}")
        values[k] = v
    return dataclasses.replace(base, **values)


def make_rule(raw: dict, where: str):
    if not isinstance(raw, dict) or "rule" not in raw:
        raise ConfigError(f"{where}: missing required key 'rule'")
    name = raw["rule"]
    if name not in RULES:
        raise _unknown(str(name), RULES, f"{where}.rule")
    cls = RULES[name]
    params = {k: v for k, v in raw.items() if k != "rule"}
    _check_keys(params, set(), set(cls.PARAMS), where)
    return cls(**params)


@dataclass
class ProblemSet:
    key: str
    folder: str
    notebook: str
    title: str
    limits: Limits
    checks: dict
    check_specs: dict  # raw rule specs, embedded in the student notebook for self-checks
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


PS_REQUIRED = {"folder", "notebook", "title", "checks"}
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
        _check_keys(spec, PS_REQUIRED, PS_OPTIONAL, where)
        checks_raw = spec["checks"]
        if not isinstance(checks_raw, dict):
            raise ConfigError(f"{where}.checks: expected a mapping")
        checks = {name: make_rule(rs, f"{where}.checks.{name}") for name, rs in checks_raw.items()}
        sets[key] = ProblemSet(
            key=key, folder=spec["folder"], notebook=spec["notebook"], title=spec["title"],
            limits=_limits(spec.get("limits") or {}, base_limits, f"{where}.limits"),
            checks=checks, check_specs=checks_raw, preload=list(spec.get("preload") or []),
            files=list(spec.get("files") or []), root=path.resolve().parent, config_path=path.resolve())
    return GraderConfig(problem_sets=sets, path=path)
