"""Otter Assign (v1 format) master notebooks, read as otter-grader 7.0.0 reads them.

`read_master(path)` parses a master into an `OtterMaster`: the validated ASSIGNMENT CONFIG, the questions with
their test cases (OK-format doctests or exception-based test functions) and the *autograder-formatted* cells
(Otter's term: the master without its block cells, with the init/check/export cells added and solution cells
tagged). `student_notebook(m)` then strips solutions, hidden tests and outputs exactly as `otter assign` does,
so the student notebook equals Otter's cell by cell (types, sources, tags) and self-checks with stock Otter.

Behaviour follows otter/assign/{notebook_transformer,blocks,solutions,tests_manager,cell_factory}.py of
otter-grader 7.0.0 (read for facts, not copied). Authoring mistakes raise `AuthoringError` (one line, naming the
cell and the fix) instead of Otter's assertion errors and tracebacks.
"""
from __future__ import annotations

import ast
import copy
import pprint
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

ANSWER_TAG = "otter_answer_cell"
SOLUTION_TAG = "otter_assign_solution_cell"
INCLUDE_TAG = "otter_include"
IGNORE_TAG = "otter_ignore"
BLOCKS = ("question", "prompt", "solution", "tests")


class AuthoringError(ValueError):
    """A mistake in a master notebook: the message is one line naming the cell/key and the fix."""


# ----------------------------------------------------------------------------------------------------------
# ASSIGNMENT CONFIG: every key of Otter 7's Assignment config, implemented or refused by name
# ----------------------------------------------------------------------------------------------------------
EXPORT_KEYS = {"instructions": "", "pdf": True, "filtering": True, "force_save": False, "run_tests": True,
               "files": [], "require_no_pdf_ack": False, "ignore_log": False}
SEED_KEYS = {"variable": None, "autograder_value": None, "student_value": None}
TESTS_KEYS = {"files": False, "ok_format": True, "url_prefix": None}
DEFAULTS = {"name": None, "config_file": None, "requirements": None, "overwrite_requirements": False,
            "environment": None, "run_tests": True, "solutions_pdf": False, "template_pdf": False,
            "init_cell": True, "check_all_cell": False, "export_cell": EXPORT_KEYS, "seed": SEED_KEYS,
            "generate": False, "save_environment": False, "ignore_modules": [], "files": [],
            "autograder_files": [], "student_files": [], "plugins": [], "tests": TESTS_KEYS,
            "show_question_points": False, "runs_on": "default", "python_version": None,
            "channel_priority_strict": True, "strip_solutions_from_all_cells": False,
            "suppress_no_tests_warning": False}
# Keys whose only effect in Otter is an artifact of Otter's own tooling (PDFs, the .otter file of Otter Service,
# the conda image of its Gradescope zip): accepted, recorded in the build, and reported by `mfdl assign`.
NOTED_KEYS = {
    "solutions_pdf": "no solutions PDF is written (run `otter assign` for PDFs)",
    "template_pdf": "no Gradescope template PDF is written (run `otter assign` for PDFs)",
    "save_environment": "no .otter environment file is written (Otter Service only)",
    "requirements": "written to the build's requirements.txt; the grading image must provide these packages",
    "environment": "copied to the build's environment.yml; the grading image must provide this environment",
    "python_version": "recorded only: the grader runs its own Python",
    "run_tests": "mfdl assign does not run the tests; `mfdl validate` proves them on the reference",
}
# `generate` (otter_config.json) keys. Seeding is implemented; these change scores in ways our grader does not
# reproduce, so they are refused rather than ignored.
GENERATE_REFUSED = {
    "plugins": "Otter plugins run arbitrary code in the grader; mfdl does not load them",
    "grade_from_log": "grading from the student's .OTTER_LOG unpickles student data; mfdl re-runs the notebook",
    "serialized_variables": "only used with grade_from_log, which mfdl refuses",
    "points_possible": "mfdl reports the points of the questions; remove points_possible",
    "score_threshold": "mfdl reports the points of the questions; remove score_threshold",
}
GENERATE_KEYS = {"seed", "seed_variable", "show_stdout", "show_hidden", "show_all_public", "pdf", "token",
                 "course_id", "assignment_id", "filtering", "pagebreaks", "debug", "autograder_dir", "lang",
                 "miniconda_path", "logo", "print_summary", "print_score", "zips", "log_level", "assignment_name",
                 "warn_missing_pdf", "force_public_test_summary", "submit_blank_pdf_on_export_failure",
                 "use_submission_pdf", "pdf_via_html"} | set(GENERATE_REFUSED)
QUESTION_KEYS = {"name": None, "manual": False, "points": None, "check_cell": True, "export": False,
                 "all_or_nothing": False}
TEST_CONFIG_KEYS = {"hidden", "points", "success_message", "failure_message", "name"}  # Otter ignores `name`


def _merge_sub(key: str, value, defaults: dict, where: str) -> dict:
    if value is None or value is True:
        return dict(defaults)
    if not isinstance(value, dict):
        raise AuthoringError(f"{where}: `{key}` must be a mapping of {sorted(defaults)}, got {value!r}")
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise AuthoringError(f"{where}: unknown key `{key}.{unknown[0]}` (Otter 7 knows {sorted(defaults)})")
    return {**defaults, **value}


def resolve_config(raw: dict, master: Path, where: str) -> tuple[dict, list[str]]:
    """Validate an ASSIGNMENT CONFIG mapping (merged over earlier ones) -> (config, notices)."""
    if not isinstance(raw, dict):
        raise AuthoringError(f"{where}: the ASSIGNMENT CONFIG must be a YAML mapping")
    raw = dict(raw)
    if raw.get("config_file"):  # Otter: keys of the file, then the cell's own keys (the cell wins)
        path = master.parent / str(raw["config_file"])
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise AuthoringError(f"{where}: config_file {raw['config_file']!r} cannot be read: {exc}") from None
        if not isinstance(loaded, dict):
            raise AuthoringError(f"{where}: config_file {raw['config_file']!r} is not a YAML mapping")
        raw = {**loaded, **{k: v for k, v in raw.items()}}
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise AuthoringError(f"{where}: unknown ASSIGNMENT CONFIG key `{unknown[0]}` (not an Otter 7 key; "
                             "check its spelling)")
    cfg = {k: copy.deepcopy(v) for k, v in DEFAULTS.items()}
    cfg.update({k: v for k, v in raw.items() if k not in ("export_cell", "seed", "tests", "generate")})
    if "export_cell" in raw:
        cfg["export_cell"] = False if raw["export_cell"] is False else _merge_sub(
            "export_cell", raw["export_cell"], EXPORT_KEYS, where)
    for key, defaults in (("seed", SEED_KEYS), ("tests", TESTS_KEYS)):
        if key in raw:
            cfg[key] = _merge_sub(key, raw[key], defaults, where)
    gen = raw.get("generate", {})
    if gen is True or gen is None or gen is False:  # false only skips Otter's zip; the seed keys stay unset
        gen = {}
    if True:
        if not isinstance(gen, dict):
            raise AuthoringError(f"{where}: `generate` must be true, false or a mapping, got {gen!r}")
        for k in gen:
            if k not in GENERATE_KEYS:
                raise AuthoringError(f"{where}: unknown key `generate.{k}` (not an Otter 7 otter_config key)")
            if k in GENERATE_REFUSED and gen[k] not in (None, False, [], {}):
                raise AuthoringError(f"{where}: `generate.{k}` is not supported by mfdl: {GENERATE_REFUSED[k]}")
        if gen.get("lang", "python") != "python":
            raise AuthoringError(f"{where}: `generate.lang: {gen['lang']}`: mfdl grades Python notebooks only")
    cfg["generate"] = gen
    if cfg["plugins"]:
        raise AuthoringError(f"{where}: `plugins` is not supported by mfdl: Otter plugins run arbitrary code in "
                             "the grader; remove the key")
    if cfg["runs_on"] not in ("default", "colab", "jupyterlite"):
        raise AuthoringError(f"{where}: `runs_on` must be default, colab or jupyterlite, got {cfg['runs_on']!r}")
    if cfg["runs_on"] == "colab" and not cfg["tests"]["files"]:
        raise AuthoringError(f"{where}: `runs_on: colab` needs `tests: files: true` (as in Otter)")
    if cfg["tests"]["url_prefix"]:
        cfg["tests"]["files"] = True  # Otter forces test files when tests are fetched from a URL
    for k in ("files", "autograder_files", "student_files", "ignore_modules"):
        if not isinstance(cfg[k], list) or not all(isinstance(x, str) for x in cfg[k]):
            raise AuthoringError(f"{where}: `{k}` must be a list of paths, got {cfg[k]!r}")
    if cfg["export_cell"]:
        if not isinstance(cfg["export_cell"]["files"], list):
            raise AuthoringError(f"{where}: `export_cell.files` must be a list of file names")
        from .submitted_files import valid_name
        bad = [f for f in cfg["export_cell"]["files"] if not valid_name(f)]
        if bad:  # the grader reads submitted files as plain JSON data only (never code, never pickles)
            raise AuthoringError(f"{where}: `export_cell.files` must be plain .json file names (no folders) for "
                                 f"mfdl's grader, got {bad[0]!r}; save the result as JSON")
    if cfg["requirements"] is not None and not isinstance(cfg["requirements"], (str, list)):
        raise AuthoringError(f"{where}: `requirements` must be a path or a list of packages")
    notices = [f"{k}: {msg}" for k, msg in NOTED_KEYS.items() if raw.get(k) and k != "run_tests"]
    ignored_gen = sorted(k for k in gen if k not in ("seed", "seed_variable", "assignment_name"))
    if ignored_gen:
        notices.append(f"generate.{', generate.'.join(ignored_gen)}: Otter runner/Gradescope settings, recorded "
                       "in the build's otter_config.json")
    return cfg, notices


# ----------------------------------------------------------------------------------------------------------
# Cells
# ----------------------------------------------------------------------------------------------------------
def lines(cell) -> list[str]:
    return re.split(r"\r?\n", cell.source)


def _new(kind: str, source: str, origin: int):
    cell = getattr(nbformat.v4, f"new_{kind}_cell")(source)
    cell.pop("id", None)
    return cell, origin


def split_fenced(cells: list) -> list[tuple]:
    """Otter's ```otter fenced blocks: any cell holding them becomes markdown text cells around raw block cells.
    Returns (cell, index of the master cell it came from)."""
    out = []
    for idx, cell in enumerate(cells):
        src = lines(cell)
        starts = [i for i, l in enumerate(src) if l.strip() == "```otter"]
        if not starts:
            out.append((cell, idx))
            continue
        ends = []
        for i in starts:
            j = next((k for k in range(i + 1, len(src)) if src[k].strip() == "```"), None)
            if j is not None:
                ends.append(j)
        if len(ends) != len(starts) or any(ends[k] >= starts[k + 1] for k in range(len(starts) - 1)):
            raise AuthoringError(f"cell {idx}: unclosed ```otter block; end it with a line holding only ```")

        def add(part, kind):
            if any(l.strip() for l in part):
                out.append(_new(kind, "\n".join(part), idx))
        for n, (i, j) in enumerate(zip(starts, ends)):
            end = starts[n + 1] if n < len(starts) - 1 else len(src) + 1
            after = 2 if j + 1 < len(src) and not src[j + 1].strip() else 1
            if n == 0:
                add(src[:i], "markdown")
            add(src[i + 1:j], "raw")
            add(src[j + after:end], "markdown")
    return out


def boundary(cell, block: str, end: bool = False) -> bool:
    word = "end" if end else "begin"
    return cell.cell_type == "raw" and bool(re.match(rf"#\s+{word}\s+{block}\s*", lines(cell)[0], re.I))


def is_config_cell(cell) -> bool:
    return cell.cell_type == "raw" and bool(re.match(r"#\s+assignment\s+config\s*", lines(cell)[0], re.I))


def is_ignore_cell(cell) -> bool:
    src = lines(cell)
    return bool(src and re.match(r"(##\s*ignore\s*##\s*|#\s*ignore\s*)", src[0], re.I))


def yaml_body(cell, where: str):
    try:
        body = yaml.safe_load(cell.source)
    except yaml.YAMLError as exc:
        raise AuthoringError(f"{where}: invalid YAML ({' '.join(str(exc).split())})") from None
    return {} if body is None else body


def add_tag(cell, tag: str):
    cell = copy.deepcopy(cell)
    cell.metadata.setdefault("tags", []).append(tag)
    return cell


def remove_tag(cell, tag: str):
    cell = copy.deepcopy(cell)
    if tag in cell.metadata.get("tags", []):
        cell.metadata["tags"].remove(tag)
    return cell


def has_tag(cell, tag: str) -> bool:
    return tag in cell.metadata.get("tags", [])


def lock(cell) -> None:
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False


# ----------------------------------------------------------------------------------------------------------
# Questions and tests
# ----------------------------------------------------------------------------------------------------------
@dataclass
class OtterTest:
    cell: int                      # master cell index
    lines: list                    # the test's source lines (config block and `# HIDDEN` line removed)
    output: str                    # the master cell's stored output (a doctest's expected output)
    hidden: bool
    points: float | None           # as configured (None: resolved by Otter's rules)
    success_message: str | None
    failure_message: str | None
    kind: str = ""                 # "doctest" | "function", set by `finish`
    body: str = ""                 # what Otter writes: doctest text, or the unparsed test function
    source: str = ""               # the manifest's source (function tests keep comments)
    function: str | None = None
    params: list = field(default_factory=list)
    description: str = ""


@dataclass
class OtterQuestion:
    name: str
    cell: int
    manual: bool = False
    points: object = None          # None | number | list | {"each": n}, as configured
    check_cell: bool = True
    export: bool = False
    all_or_nothing: bool = False
    tests: list = field(default_factory=list)
    unknown_keys: list = field(default_factory=list)   # keys Otter 7 ignores (e.g. private_points)


def read_question_config(cell, origin: int) -> OtterQuestion:
    where = f"cell {origin} (BEGIN QUESTION)"
    body = yaml_body(cell, where)
    if not isinstance(body, dict):
        raise AuthoringError(f"{where}: the question config must be a YAML mapping with at least `name`")
    if "name" not in body:
        raise AuthoringError(f"{where}: the question has no `name`; add `name: q1`")
    unknown = sorted(set(body) - set(QUESTION_KEYS))  # Otter 7 ignores them; reported by `mfdl assign`
    pts = body.get("points")
    ok = (pts is None or (isinstance(pts, (int, float)) and not isinstance(pts, bool))
          or (isinstance(pts, list) and all(isinstance(p, (int, float)) or p is None for p in pts))
          or (isinstance(pts, dict) and set(pts) <= {"each"}
              and isinstance(pts.get("each", 1), (int, float))))
    if not ok:
        raise AuthoringError(f"{where}: question {body['name']}: `points` must be a number, a list of numbers "
                             f"(one per test) or `{{each: n}}`, got {pts!r}")
    return OtterQuestion(name=str(body["name"]), cell=origin, manual=bool(body.get("manual", False)), points=pts,
                         check_cell=bool(body.get("check_cell", True)), export=bool(body.get("export", False)),
                         all_or_nothing=bool(body.get("all_or_nothing", False)), unknown_keys=unknown)


BEGIN_TEST_CONFIG = r'(?:.\s*=\s*)?""?"?\s*#\s*BEGIN\s*TEST\s*CONFIG'
END_TEST_CONFIG = r'""?"?\s*#\s*END\s*TEST\s*CONFIG'


def read_test(cell, q: OtterQuestion, origin: int) -> OtterTest:
    where = f"cell {origin} (a test of question {q.name})"
    src = lines(cell)
    try:
        ast.parse(cell.source)
    except SyntaxError as exc:
        raise AuthoringError(f"{where}: not valid Python (line {exc.lineno}: {exc.msg}); fix the test code") from None
    hidden = bool(re.search(r"\bhidden\b", src[0], re.I)) if src[0].lstrip().startswith("#") else False
    start = 0 if hidden else -1
    output = ""
    for o in cell.get("outputs", []):
        text = o.get("text", "")
        output += "".join(text) if isinstance(text, list) else text
        plain = o.get("data", {}).get("text/plain")
        if plain and isinstance(plain, list):
            output += plain[0]
        elif plain:
            output += plain
    conf = {}
    if re.match(BEGIN_TEST_CONFIG, src[0], re.I):
        end = next((i for i, l in enumerate(src) if re.match(END_TEST_CONFIG, l, re.I)), None)
        if end is None:
            raise AuthoringError(f'{where}: the TEST CONFIG block is not closed; end it with """ # END TEST CONFIG')
        try:
            conf = yaml.safe_load("\n".join(src[1:end]))
        except yaml.YAMLError as exc:
            raise AuthoringError(f"{where}: invalid TEST CONFIG YAML ({' '.join(str(exc).split())})") from None
        if not isinstance(conf, dict):
            raise AuthoringError(f"{where}: the TEST CONFIG block must be a YAML mapping (hidden, points, ...)")
        unknown = sorted(set(conf) - TEST_CONFIG_KEYS)
        if unknown:
            raise AuthoringError(f"{where}: unknown TEST CONFIG key `{unknown[0]}` (Otter knows "
                                 f"{sorted(TEST_CONFIG_KEYS - {'name'})})")
        start = end
    pts = conf.get("points")
    if pts is not None and (isinstance(pts, bool) or not isinstance(pts, (int, float))):
        raise AuthoringError(f"{where}: TEST CONFIG `points` must be a number, got {pts!r}")
    return OtterTest(cell=origin, lines=src[start + 1:], output=output, hidden=bool(conf.get("hidden", hidden)),
                     points=pts, success_message=conf.get("success_message"),
                     failure_message=conf.get("failure_message"))


class _NoAnnotations(ast.NodeTransformer):
    """Otter removes type annotations before turning test code into doctests."""

    def visit(self, node):
        self.generic_visit(node)
        for attr in ("annotation", "returns"):
            if hasattr(node, attr) and not isinstance(node, ast.AnnAssign):
                setattr(node, attr, None)
        if hasattr(node, "type_params"):
            node.type_params = []
        return node


def to_doctest(code: list[str]) -> list[str]:
    """Otter's conversion of unparsed code to doctest lines (`>>> ` heads, `... ` continuations)."""
    out = []
    for line in code:
        if not line:
            continue
        cont = (line.startswith((" ", "\t")) or re.match(r"^except[\s\w]*:", line)
                or line.startswith(("elif ", "else:", "finally:")) or (out and out[-1].strip().endswith("\\")))
        out.append(("... " if cont else ">>> ") + line)
    return out


def finish_test(t: OtterTest, q: OtterQuestion, index: int, ok_format: bool) -> None:
    """Fill a test's Otter body and manifest fields once the format (tests.ok_format) is known."""
    where = f"cell {t.cell} (a test of question {q.name})"
    text = "\n".join(t.lines)
    tree = ast.parse(text)
    if ok_format:
        t.kind = "doctest"
        t.body = "\n".join(to_doctest(ast.unparse(_NoAnnotations().visit(tree)).split("\n")) + t.output.split("\n"))
        t.source = t.body
        t.description = f"{q.name} - {index + 1}"
        return
    if not tree.body or len(tree.body) > 2 or not isinstance(tree.body[0], ast.FunctionDef):
        raise AuthoringError(f"{where}: an exception-based test cell holds one function definition and optionally "
                             f"a call to it (found {len(tree.body)} statements); split it or use ok_format tests")
    func = tree.body[0]
    t.kind, t.function = "function", func.name
    t.params = [a.arg for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs]
    t.body = ast.unparse(func)
    keep = t.lines if len(tree.body) == 1 else t.lines[:tree.body[1].lineno - 1]
    t.source = "\n".join(keep).strip("\n") + "\n"
    doc = ast.get_docstring(func)
    t.description = doc.strip().splitlines()[0] if doc and doc.strip() else func.name


def resolve_points(q: OtterQuestion) -> tuple[list[float], float]:
    """Otter's point rules -> (points per test, question points). Raises AuthoringError on conflicts."""
    where = f"cell {q.cell} (question {q.name})"
    n = len(q.tests)
    total = q.points
    if isinstance(total, dict):
        total = total.get("each", 1) * n
    if q.manual:
        return [0.0] * n, float(total if isinstance(total, (int, float)) else 0)
    if n == 0:
        return [], float(total if total is not None else 1)
    given = [t.points for t in q.tests]
    if isinstance(total, list):
        if len(total) != n:
            raise AuthoringError(f"{where}: `points` lists {len(total)} values but the question has {n} tests; "
                                 "give one value per test")
        given, total = list(total), None
    fixed = sum(p for p in given if p is not None)
    free = sum(p is None for p in given)
    if total is not None:
        if fixed > total:
            raise AuthoringError(f"{where}: the tests' points add up to {fixed:g}, more than the question's "
                                 f"{total:g}; lower a test's points or raise the question's")
        share = (total - fixed) / free if free else 0.0
    elif fixed == 0 and all(p in (0, None) for p in given):
        share = 1 / free if free else 0.0   # Otter: an unpointed question is worth 1, split over its tests
    else:
        share = 0.0                          # Otter: unpointed tests beside pointed ones are worth 0
    per = [float(p) if p is not None else float(share) for p in given]
    return per, float(round(sum(per), 5))


def points_label(q: OtterQuestion, per: list, value: float):
    """The `_Points:_` value Otter prints (int when whole)."""
    if q.manual:
        return q.points or 0
    if not q.tests:
        p = q.points
        if isinstance(p, dict):
            p = p.get("each", 1) * 0
        return p if p is not None else 1
    return int(value) if value % 1 == 0 else value


# ----------------------------------------------------------------------------------------------------------
# The master
# ----------------------------------------------------------------------------------------------------------
@dataclass
class OtterMaster:
    path: Path
    config: dict
    notices: list
    questions: list
    cells: list                    # autograder-formatted cells (solutions kept, tagged)
    metadata: dict
    nbformat_minor: int
    seed_required: bool = False
    n_head: int = 0                # Otter's client cells before the master's cells (init, colab pip)
    n_tail: int = 0                # and after them (check_all, export)

    @property
    def name(self) -> str | None:
        return self.config["name"]

    def question(self, name: str) -> OtterQuestion:
        return next(q for q in self.questions if q.name == name)


def read_notebook(path: Path):
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several types for unreadable files
        raise AuthoringError(f"cannot read master notebook {path}: {' '.join(str(exc).split())[:200]}") from None


def is_legacy_function_master(cfg_raw_tests, raw_tests: list) -> bool:
    """Our masters written before issue 10: exception-style `def test_*(...)` cells without `tests: ok_format:
    false`. Otter would turn them into doctests that only define the functions; they are read as function
    tests instead (and solutions are stripped from every cell, as those masters mark them outside blocks)."""
    if isinstance(cfg_raw_tests, dict) and "ok_format" in cfg_raw_tests:
        return False
    if not raw_tests:
        return False
    for t in raw_tests:
        try:
            body = ast.parse("\n".join(t.lines)).body
        except SyntaxError:
            return False
        if len(body) != 1 or not isinstance(body[0], ast.FunctionDef) or not body[0].name.startswith("test"):
            return False
    return True


def read_master(path: Path, legacy: bool = True) -> OtterMaster:
    path = Path(path)
    nb = read_notebook(path)
    lang = (nb.metadata.get("kernelspec") or {}).get("language", "python").lower()
    if lang != "python":
        raise AuthoringError(f"{path.name}: kernel language {lang!r}: mfdl assign reads Python masters only")
    cfg, notices = resolve_config({}, path, "defaults")
    raw_tests_cfg = None
    cells = split_fenced(nb.cells)
    out: list = []
    questions: list[OtterQuestion] = []
    stack: list[str] = []
    q: OtterQuestion | None = None
    has_prompt = no_solution = solution_md = False
    prompt_at = last_md = None
    begin_export = end_export = False
    seed_required = False
    cfg_raw: dict = {}

    def fail(origin, msg):
        where = f"cell {origin}" + (f" (question {q.name})" if q else "")
        raise AuthoringError(f"{where}: {msg}")

    for cell, origin in cells:
        cell = copy.deepcopy(cell)
        if is_ignore_cell(cell):
            continue
        if is_config_cell(cell):
            body = yaml_body(nbformat.v4.new_raw_cell("\n".join(lines(cell)[1:])), f"cell {origin} (ASSIGNMENT CONFIG)")
            if not isinstance(body, dict):
                fail(origin, "the ASSIGNMENT CONFIG must be a YAML mapping")
            cfg_raw = {**cfg_raw, **body}
            raw_tests_cfg = cfg_raw.get("tests")
            cfg, notices = resolve_config(cfg_raw, path, f"cell {origin} (ASSIGNMENT CONFIG)")
            continue
        if stack and boundary(cell, stack[-1], end=True):
            block = stack.pop()
            if block == "question":
                if q.manual or q.export:
                    end_export = True
                if q.tests:
                    if (not no_solution or any(not t.hidden for t in q.tests)) and q.check_cell:
                        check = nbformat.v4.new_code_cell(f'grader.check("{q.name}")')
                        check.pop("id", None)
                        lock(check)
                        out.append(check)
                    elif out:
                        out[-1].metadata.setdefault("otter", {})["tests"] = [q.name]
                if cfg["show_question_points"] and last_md is not None:
                    q._label_at = last_md  # filled once points are resolved (after the tests are read)
                    q._label_cell = out[last_md]
                q, has_prompt, no_solution, last_md = None, False, False, None
                solution_md, prompt_at = False, None
            elif block == "solution" and not has_prompt and solution_md and q.manual:
                resp = nbformat.v4.new_markdown_cell("_Type your answer here, replacing this text._")
                resp.pop("id", None)
                resp.metadata["tags"] = [ANSWER_TAG]
                out.insert(prompt_at, resp)
                has_prompt = True
            continue
        for block in BLOCKS:
            if boundary(cell, block, end=True):
                if block in stack:
                    fail(origin, f"END {block.upper()} while the {stack[-1]} block inside it is still open; add "
                                 f"its END {stack[-1].upper()} cell first")
                fail(origin, f"END {block.upper()} without a BEGIN {block.upper()} cell; add one or remove this cell")
        begin = next((b for b in BLOCKS if boundary(cell, b)), None)
        if begin:
            if not stack and begin != "question":
                fail(origin, f"BEGIN {begin.upper()} outside a question; put it between BEGIN/END QUESTION cells")
            if stack and begin == "question":
                fail(origin, "BEGIN QUESTION inside another question; close the previous one with END QUESTION")
            if len(stack) > 1:
                fail(origin, f"BEGIN {begin.upper()} inside a {stack[-1]} block; close that block first")
            if begin == "prompt" and has_prompt:
                fail(origin, "a BEGIN PROMPT block after the solution block; put the prompt before the solution")
            if begin == "prompt":
                has_prompt = True
            elif begin == "solution" and not has_prompt:
                prompt_at = len(out)
            elif begin == "tests" and not has_prompt:
                no_solution = True
            elif begin == "question":
                q = read_question_config(nbformat.v4.new_raw_cell("\n".join(lines(cell)[1:])), origin)
                if any(x.name == q.name for x in questions):
                    fail(origin, f"question name {q.name} is used twice; rename one")
                questions.append(q)
                if q.manual or q.export:
                    begin_export = True
            stack.append(begin)
            continue
        if stack:
            if stack[-1] == "tests":
                if cell.cell_type != "code":
                    fail(origin, "a non-code cell in a tests block; move it out of BEGIN/END TESTS")
                q.tests.append(read_test(cell, q, origin))
                continue
            if stack[-1] == "prompt":
                cell = add_tag(cell, ANSWER_TAG)
            elif stack[-1] == "solution":
                cell = add_tag(cell, SOLUTION_TAG)
                if cell.cell_type == "markdown":
                    solution_md = True
            elif stack[-1] == "question" and cell.cell_type == "markdown":
                last_md = len(out)
        delim = None
        if begin_export:
            if cell.cell_type == "markdown":
                cell = export_comment(cell)
            else:
                delim = export_comment(_blank_md())
            begin_export = False
        if end_export:
            if cell.cell_type == "markdown":
                cell = export_comment(cell, end=True)
            else:
                delim = export_comment(delim if delim is not None else _blank_md(), end=True)
            end_export = False
        if delim is not None:
            out.append(delim)
        if cell.cell_type == "code" and any(l.strip().endswith("# SEED") for l in lines(cell)):
            seed_required = True
        if len(stack) == 1:
            lock(cell)
        out.append(cell)
    if stack:
        raise AuthoringError(f"{path.name}: the {stack[-1]} block opened last is never closed; add an END "
                             f"{stack[-1].upper()} cell")
    if end_export:
        out.append(export_comment(_blank_md(), end=True))

    use_function = not cfg["tests"]["ok_format"]
    if legacy and cfg["tests"]["ok_format"] and is_legacy_function_master(
            raw_tests_cfg, [t for x in questions for t in x.tests]):
        use_function = True
        cfg["tests"]["ok_format"] = False
        cfg["strip_solutions_from_all_cells"] = True
        cfg["_legacy"] = True  # answer cells are tagged where a solution was stripped (Otter's mode tags none)
        notices.append("legacy master: exception-style tests without `tests: ok_format: false`; read as function "
                       "tests (add `tests: {ok_format: false}` to the ASSIGNMENT CONFIG)")
    for x in questions:
        if x.unknown_keys:
            notices.append(f"question {x.name}: {', '.join(x.unknown_keys)} not an Otter 7 question key; ignored, as "
                           "Otter ignores it")
        for i, t in enumerate(x.tests):
            finish_test(t, x, i, not use_function)
        per, value = resolve_points(x)
        x._per, x._value = per, value
        if hasattr(x, "_label_at"):
            labelled = copy.deepcopy(x._label_cell)
            labelled.source = "\n".join(lines(labelled) + ["", f"_Points:_ {points_label(x, per, value)}"])
            out[x._label_at] = labelled
    if seed_required:
        seed = cfg["seed"]["autograder_value"] if cfg["seed"]["variable"] else cfg["generate"].get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise AuthoringError(f"{path.name}: a cell has a `# SEED` line but no integer seed is configured; add "
                                 "`generate: {seed: 42}` (or `seed: {variable, autograder_value}`) to the ASSIGNMENT "
                                 "CONFIG")
    head = _client_cells(cfg, path)
    cells_out, cells_out_tail = head + out, []
    if cfg["check_all_cell"]:
        md = nbformat.v4.new_markdown_cell("---\n\nTo double-check your work, the cell below will rerun all of the "
                                           "autograder tests.")
        code = nbformat.v4.new_code_cell("grader.check_all()")
        for c in (md, code):
            c.pop("id", None)
            lock(c)
        cells_out_tail += [md, code]
    if cfg["export_cell"]:
        cells_out_tail += _export_cells(cfg)
    cells_out += cells_out_tail
    for c in cells_out:  # plugin blocks become calls; `# IGNORE` lines and blocks leave every output notebook
        c.source = "\n".join(strip_ignored(plugin_calls(lines(c)), c))
    return OtterMaster(path=path, config=cfg, notices=notices, questions=questions, cells=cells_out,
                       metadata=copy.deepcopy(dict(nb.metadata)), nbformat_minor=nb.nbformat_minor,
                       seed_required=seed_required, n_head=len(head), n_tail=len(cells_out_tail))


def _blank_md():
    cell = nbformat.v4.new_markdown_cell()
    cell.pop("id", None)
    return cell


def export_comment(cell, end: bool = False):
    cell = copy.deepcopy(cell)
    tag = "<!-- " + ("END" if end else "BEGIN") + " QUESTION -->"
    cell.source = "\n".join([tag, ""] + lines(cell))
    lock(cell)
    return cell


def _client_cells(cfg: dict, path: Path) -> list:
    if not cfg["init_cell"]:
        return []
    args = f'"{path.name}"' if cfg["runs_on"] == "default" else ""
    if cfg["tests"]["url_prefix"]:
        args += f"{', ' if args else ''}tests_url_prefix=\"{cfg['tests']['url_prefix']}\""
    init = nbformat.v4.new_code_cell(f"# Initialize Otter\nimport otter\ngrader = otter.Notebook({args})")
    cells = [init]
    if cfg["runs_on"] == "colab":
        cells.insert(0, nbformat.v4.new_code_cell("%pip install -q otter-grader"))
    for c in cells:
        c.pop("id", None)
        lock(c)
    return cells


def _export_cells(cfg: dict) -> list:
    ex = cfg["export_cell"]
    text = ("## Submission\n\nMake sure you have run all cells in your notebook in order before running the cell "
            "below, so that all images/graphs appear in the output. The cell below will generate a zip file for "
            "you to submit.")
    if not ex["force_save"]:
        text += " **Please save before exporting!**"
    if ex["instructions"]:
        text += "\n\n" + ex["instructions"]
    code = [] if ex["force_save"] else ["# Save your notebook first, then run this cell to export your submission."]
    args = []
    if not ex["filtering"]:
        args.append("filtering=False")
    if not ex["pdf"]:
        args.append("pdf=False")
    if ex["force_save"]:
        args.append("force_save=True")
    if ex["run_tests"]:
        args.append("run_tests=True")
    if ex["ignore_log"]:
        args.append("ignore_log=True")
    if ex["files"] or cfg["student_files"]:
        args.append(f"files={[*ex['files'], *cfg['student_files']]}")
    code.append(f"grader.export({', '.join(args)})")
    md, cc, pad = (nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell("\n".join(code)),
                   nbformat.v4.new_markdown_cell(" "))
    for c in (md, cc, pad):
        c.pop("id", None)
    lock(md)
    lock(cc)
    return [md, cc, pad]


def strip_ignored(src: list[str], cell=None) -> list[str]:
    out, inside = [], False
    for line in src:
        r = line.rstrip()
        if r.endswith("# IGNORE"):
            continue
        if inside and not r.endswith("# END IGNORE"):
            continue
        if r.endswith("# END IGNORE"):
            if not inside:
                raise AuthoringError(f"a cell has `# END IGNORE` without `# BEGIN IGNORE`: {_head(src)}")
            inside = False
            continue
        if re.match(r"\s*#\s*BEGIN\s*IGNORE\s*", line, re.I):
            if inside:
                raise AuthoringError(f"a cell has nested `# BEGIN IGNORE` lines: {_head(src)}")
            inside = True
            continue
        out.append(line)
    if inside:
        raise AuthoringError(f"a cell has `# BEGIN IGNORE` without `# END IGNORE`: {_head(src)}")
    return out


def plugin_calls(src: list[str]) -> list[str]:
    """Otter's `# BEGIN PLUGIN` / `# BEGIN PLUGIN EXPORT` ... `# END PLUGIN` blocks (YAML: plugin, args, kwargs)
    become one `grader.run_plugin(...)` / `grader.add_plugin_files(...)` line."""
    out, block, export = [], None, False
    for line in src:
        r = line.rstrip()
        if r.endswith("# END PLUGIN"):
            if block is None:
                raise AuthoringError(f"a cell has `# END PLUGIN` without `# BEGIN PLUGIN`: {_head(src)}")
            try:
                conf = yaml.safe_load("\n".join(block)) or {}
            except yaml.YAMLError:
                conf = None
            if not isinstance(conf, dict) or "plugin" not in conf:
                raise AuthoringError(f"a plugin block needs YAML with a `plugin:` key: {_head(src)}")
            call = f'grader.{"add_plugin_files" if export else "run_plugin"}("{conf["plugin"]}"'
            args = ", ".join(str(a) for a in conf.get("args", []) or [])
            kwargs = ", ".join(f"{k}={v}" for k, v in (conf.get("kwargs", {}) or {}).items())
            call += (f", {args}" if args else "") + (f", {kwargs}" if kwargs else "") + ")"
            out.append(call)
            block = None
        elif r.endswith(("# BEGIN PLUGIN", "# BEGIN PLUGIN EXPORT")):
            if block is not None:
                raise AuthoringError(f"a cell has nested plugin blocks: {_head(src)}")
            block, export = [], r.endswith("EXPORT")
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise AuthoringError(f"a cell has `# BEGIN PLUGIN` without `# END PLUGIN`: {_head(src)}")
    return out


def _head(src: list[str]) -> str:
    return repr("\n".join(src)[:60]) + " (add the missing marker)"


# ----------------------------------------------------------------------------------------------------------
# Solutions -> prompts
# ----------------------------------------------------------------------------------------------------------
ASSIGN_RE = re.compile(r"(\s*(?:[\w.]+(?=[^\w.])(?:\[['\"]?.*['\"]?\])*(?:,\s*)?)+\s*=).* ?# ?SOLUTION")
LINE_RE = re.compile(r"(\s*).* ?# ?SOLUTION")
BEGIN_SOLUTION_RE = re.compile(r"(\s*)# BEGIN SOLUTION( NO PROMPT)?")
SKIP_SUFFIXES = ("# SOLUTION NO PROMPT", "# BEGIN PROMPT", "# END PROMPT", "# SEED")


def replace_solutions(src: list[str]) -> list[str]:
    """Otter's rules: `x = expr # SOLUTION` -> `x = ...`, other `# SOLUTION` lines -> `...`, a `# BEGIN SOLUTION`
    block -> one `...` (none for NO PROMPT), `# SOLUTION NO PROMPT`/`# SEED`/prompt-marker lines dropped."""
    out, inside = [], False
    for line in src:
        r = line.rstrip()
        if r.endswith(SKIP_SUFFIXES):
            continue
        if inside and not r.endswith("# END SOLUTION"):
            continue
        if r.endswith("# END SOLUTION"):
            if not inside:
                raise AuthoringError(f"a solution cell has `# END SOLUTION` without `# BEGIN SOLUTION`: {_head(src)}")
            inside = False
            continue
        m = BEGIN_SOLUTION_RE.match(line)
        if m:
            if inside:
                raise AuthoringError(f"a solution cell has nested `# BEGIN SOLUTION` lines: {_head(src)}")
            inside = True
            if m.group(2):
                continue
            line = m.group(1) + "..."
        m = ASSIGN_RE.match(line)
        if m:
            line = m.group(1) + " ..."
        else:
            m = LINE_RE.match(line)
            if m:
                line = m.group(1) + "..."
        out.append(line)
    if inside:
        raise AuthoringError(f"a solution cell has `# BEGIN SOLUTION` without `# END SOLUTION`: {_head(src)}")
    return out


def keep_solutions(src: list[str]) -> list[str]:
    """The reference version of a solution cell: solutions kept, prompt-only lines dropped."""
    out, in_prompt = [], False
    for line in src:
        r = line.rstrip()
        if r.endswith("# BEGIN PROMPT"):
            in_prompt = True
            continue
        if r.endswith("# END PROMPT"):
            in_prompt = False
            continue
        if in_prompt or re.match(r"\s*# (BEGIN|END) SOLUTION( NO PROMPT)?\s*$", line):
            continue
        out.append(line)
    return out


# ----------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------
def _ok_case(t: OtterTest) -> dict:
    case = {"code": t.body, "hidden": t.hidden, "locked": False}
    if t.points is not None:
        case["points"] = t.points
    if t.success_message:
        case["success_message"] = t.success_message
    if t.failure_message:
        case["failure_message"] = t.failure_message
    return case


def otter_test_file(m: OtterMaster, q: OtterQuestion, include_hidden: bool):
    """One question's tests as Otter writes them: an OK-format dict, or an exception-based test file's text."""
    tests = [t for t in q.tests if include_hidden or not t.hidden]
    points = q.points
    if isinstance(points, dict):
        points = points.get("each", 1) * len(q.tests)
    elif isinstance(points, list) and not include_hidden:
        points = [p for t, p in zip(q.tests, points) if not t.hidden]
    if m.config["tests"]["ok_format"]:
        test = {"name": q.name, "points": points}
        if q.all_or_nothing:
            test["all_or_nothing"] = True
        test["suites"] = [{"cases": [_ok_case(t) for t in tests], "scored": True, "setup": "", "teardown": "",
                           "type": "doctest"}]
        return test
    text = f'from otter.test_files import test_case\n\nOK_FORMAT = False\n\nname = "{q.name}"\npoints = {points}'
    if q.all_or_nothing:
        text += "\nall_or_nothing = True"
    text += "\n\n"
    for t in tests:
        text += f"@test_case(points={t.points}, hidden={t.hidden}"
        if t.success_message is not None:
            text += f', \n    success_message="{t.success_message}"'
        if t.failure_message is not None:
            text += f', \n    failure_message="{t.failure_message}"'
        text += f")\n{t.body}\n\n"
    return text


def write_test_files(m: OtterMaster, folder: Path, include_hidden: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for q in m.questions:
        if not q.tests:
            continue
        test = otter_test_file(m, q, include_hidden)
        with open(folder / f"{q.name}.py", "w") as f:
            if isinstance(test, dict):
                f.write("OK_FORMAT = True\n\ntest = ")
                pprint.pprint(test, f, indent=4, width=200, depth=None)
            else:
                f.write(test)


def otter_metadata(m: OtterMaster, include_hidden: bool) -> dict:
    meta = {}
    if m.name:
        meta["assignment_name"] = m.name
    ex = m.config["export_cell"]
    if ex and ex["require_no_pdf_ack"]:
        meta["require_no_pdf_confirmation"] = True
        if isinstance(ex["require_no_pdf_ack"], dict) and ex["require_no_pdf_ack"].get("message"):
            meta["export_pdf_failure_message"] = ex["require_no_pdf_ack"]["message"]
    if not m.config["tests"]["files"]:
        meta["OK_FORMAT"] = m.config["tests"]["ok_format"]
        meta["tests"] = {q.name: otter_test_file(m, q, include_hidden) for q in m.questions if q.tests}
    return meta


def _notebook(m: OtterMaster, cells: list):
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = max(m.nbformat_minor, 5)
    nb.metadata = copy.deepcopy(m.metadata)
    nb.cells = cells
    for i, c in enumerate(nb.cells):  # nbformat >= 4.5 needs unique ids; stable ones keep diffs small
        c["id"] = f"cell-{i:03d}"
    return nb


def overwrite_seed(cells: list, variable: str, value) -> None:
    for c in cells:
        src = lines(c)
        for i, line in enumerate(src):
            mt = re.match(rf"(\s*){variable}\s*(=|<-)\s*", line)
            if mt:
                src[i] = mt.group(1) + f"{variable} {mt.group(2)} {value}"
        c.source = "\n".join(src)


def student_notebook(m: OtterMaster):
    """The notebook `otter assign` writes to student/: solutions replaced by prompts, outputs stripped, public
    tests only."""
    cells, drop = copy.deepcopy(m.cells), []
    for i, c in enumerate(cells):
        if m.config["strip_solutions_from_all_cells"]:
            if c.cell_type == "code":
                before, c.source = c.source, "\n".join(replace_solutions(lines(c)))
                if m.config.get("_legacy") and c.source != before and not has_tag(c, ANSWER_TAG):
                    cells[i] = add_tag(c, ANSWER_TAG)
            elif c.cell_type == "markdown" and has_tag(c, SOLUTION_TAG):
                drop.append(i)
        elif has_tag(c, SOLUTION_TAG):
            if c.cell_type == "code":
                c.source = "\n".join(replace_solutions(lines(c)))
            elif c.cell_type == "markdown":
                if has_tag(c, INCLUDE_TAG):
                    c = remove_tag(c, INCLUDE_TAG)
                else:
                    drop.append(i)
            cells[i] = add_tag(remove_tag(c, SOLUTION_TAG), ANSWER_TAG)
    cells = [c for i, c in enumerate(cells) if i not in set(drop)]
    for c in cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    if m.config["seed"]["variable"]:
        overwrite_seed(cells, m.config["seed"]["variable"], m.config["seed"]["student_value"])
    nb = _notebook(m, cells)
    meta = otter_metadata(m, include_hidden=False)
    if meta:
        nb.metadata["otter"] = meta
    return nb


def autograder_notebook(m: OtterMaster):
    """Otter's autograder/ notebook: solutions and outputs kept, every test in the metadata."""
    nb = _notebook(m, copy.deepcopy(m.cells))
    meta = otter_metadata(m, include_hidden=True)
    if meta:
        nb.metadata["otter"] = meta
    return nb


def reference_cells(m: OtterMaster) -> list:
    """Code cells of the solution (autograder-formatted, prompts dropped), without Otter's client cells."""
    out = []
    for c in m.cells[m.n_head:len(m.cells) - m.n_tail]:
        if c.cell_type != "code" or re.fullmatch(r'grader\.check\("[^"]*"\)', c.source):
            continue
        ref = copy.deepcopy(c)
        ref.source = "\n".join(keep_solutions(lines(c)))
        ref.outputs, ref.execution_count = [], None
        out.append(ref)
    return out


CLIENT_CELL_RE = re.compile(r'# Initialize Otter\nimport otter\ngrader = otter\.Notebook\(.*\)|%pip install -q otter-grader|'
                            r'grader\.check\("[^"]*"\)|grader\.check_all\(\)|'
                            r'(# Save your notebook first, then run this cell to export your submission\.\n)?'
                            r'grader\.export\(.*\)')


def is_otter_client_cell(source: str) -> bool:
    """A cell `otter assign` adds for the student's self-checks (init, check, check_all, export): in Otter's
    grading mode these do nothing, so a grader may skip them."""
    return bool(CLIENT_CELL_RE.fullmatch(source.strip()))
