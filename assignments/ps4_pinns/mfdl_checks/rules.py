"""The rule registry: a check's spec from checks.yaml (`{rule: NAME, PARAM: value, ...}`) becomes a rule
object of `tolerances`. Every key is validated: a misspelled or missing key is an error that names it and
suggests the nearest valid one."""
from __future__ import annotations

import difflib

from .tolerances import RULES


class ConfigError(ValueError):
    """A mistake in a configuration file; the message names the key and the fix."""


def unknown_key(key: str, valid, where: str) -> ConfigError:
    near = difflib.get_close_matches(key, list(valid), n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return ConfigError(f"{where}: unknown key '{key}'{hint}; valid keys: {', '.join(sorted(valid))}")


def check_keys(mapping, required: set, optional: set, where: str) -> None:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in required | optional:
            raise unknown_key(key, required | optional, where)
    for key in sorted(required):
        if key not in mapping:
            raise ConfigError(f"{where}: missing required key '{key}'")


def make_rule(raw: dict, where: str):
    """One rule object from its spec; `where` names the spec in error messages."""
    if not isinstance(raw, dict) or "rule" not in raw:
        raise ConfigError(f"{where}: missing required key 'rule'")
    name = raw["rule"]
    if name not in RULES:
        raise unknown_key(str(name), RULES, f"{where}.rule")
    cls = RULES[name]
    params = {k: v for k, v in raw.items() if k != "rule"}
    check_keys(params, set(), set(cls.PARAMS), where)
    return cls(**params)


def make_rules(specs, where: str) -> dict:
    """All rules of a set: {check name: rule object} from the mapping of checks.yaml."""
    if specs is None:
        return {}
    if not isinstance(specs, dict):
        raise ConfigError(f"{where}: expected a mapping of check names to rules, got {type(specs).__name__}")
    return {name: make_rule(spec, f"{where}.{name}") for name, spec in specs.items()}
