"""grader_config.yaml and each set's checks.yaml: the repository's config loads; typos and missing keys are errors
that name the key."""
import pytest
import yaml

from autograder.config import ConfigError, load_config


def test_repository_config_loads():
    cfg = load_config()
    ps = cfg.problem_set("ps1")
    assert ps.folder == "ps1_backprop" and set(ps.checks) >= {"analytic", "finite_difference", "frequency"}
    assert cfg.problem_set("ps1_backprop") is ps


def test_checks_live_beside_each_master():
    for ps in load_config().problem_sets.values():
        assert (ps.solutions_dir / "checks.yaml").is_file() and ps.checks, ps.key


def _write(tmp_path, data):
    """data: the grader_config mapping, plus the set's checks under the pseudo-key '_checks' (-> checks.yaml)."""
    data = dict(data)
    checks = data.pop("_checks", None)
    p = tmp_path / "grader_config.yaml"
    p.write_text(yaml.safe_dump(data))
    if checks is not None:
        (tmp_path / "solutions" / "f").mkdir(parents=True, exist_ok=True)
        (tmp_path / "solutions" / "f" / "checks.yaml").write_text(yaml.safe_dump(checks))
    return p


BASE = {"problem_sets": {"ps1": {"title": "t", "folder": "f", "notebook": "n.ipynb"}},
        "_checks": {"analytic": {"rule": "higham_rounding", "input_roundings": 1}}}


@pytest.mark.parametrize("mutate, words", [
    (lambda c: c["_checks"]["analytic"].update(input_rounding=1), "'input_rounding'"),
    (lambda c: c["_checks"]["analytic"].update(rule="higham_rouding"), "higham_rounding"),
    (lambda c: c["_checks"]["analytic"].update(input_rounding=1), "solutions/f/checks.yaml"),
    (lambda c: c["problem_sets"]["ps1"].update(checks={}), "checks.yaml"),
    (lambda c: c["problem_sets"]["ps1"].pop("notebook"), "missing required key 'notebook'"),
    (lambda c: c["problem_sets"]["ps1"].update(limts={}), "did you mean 'limits'"),
    (lambda c: c["problem_sets"]["ps1"].update(limits={"memory_mb": -1}), "memory_mb"),
    (lambda c: c["problem_sets"]["ps1"].update(limits={"memroy_mb": 10}), "did you mean 'memory_mb'"),
    (lambda c: c["_checks"].update(fd={"step": 1e-5}), "missing required key 'rule'"),
    (lambda c: c.update(problem_set={}), "problem_set"),
])
def test_bad_keys_are_named(tmp_path, mutate, words):
    import copy
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, data))
    assert words in str(err.value)


def test_unknown_problem_set_is_named(tmp_path):
    with pytest.raises(ConfigError, match="ps9"):
        load_config(_write(tmp_path, BASE)).problem_set("ps9")
