"""Files a student hands in next to the notebook, declared by the master's `export_cell: files:` (Otter's key),
e.g. a network that takes minutes to train: the grader grades the trained model instead of retraining it.

Tests ask for a file with their `submitted_file` parameter: `submitted_file("heat_model.json")` returns the
file's content parsed as JSON. Only JSON is accepted, parsed by the trusted process with the standard `json`
module (plain data: no pickle, no code), at most MAX_FILE_BYTES per file. Anything missing, too large or not
JSON fails that test with a message saying how to fix it, and costs only that test's points.
"""
from __future__ import annotations

import json

from .checker import TestFailure

MAX_FILE_BYTES = 5 * 2**20


def valid_name(name: str) -> bool:
    """A declared file is a plain .json file name (no folders): the same name in the zip, on Gradescope and
    next to the student's notebook."""
    return (isinstance(name, str) and name.endswith(".json") and "/" not in name and "\\" not in name
            and not name.startswith("."))


class SubmittedFiles:
    """The declared files of one submission. `files` maps a file name to its bytes (absent: not submitted);
    `how_to_submit` ends the message for a missing file (it differs between grading and a self-check)."""

    GRADING_HINT = ("run the cell that trains and saves it, then `grader.export()`, and submit the zip it writes "
                    "(the zip includes {name})")
    SELF_CHECK_HINT = "run the cell that trains and saves it (it writes {name} next to this notebook)"

    def __init__(self, files: dict, declared: list, how_to_submit: str = GRADING_HINT):
        self.files, self.declared, self.how_to_submit = dict(files or {}), list(declared or []), how_to_submit

    def __call__(self, name: str):
        if name not in self.declared:  # an authoring mistake, reported as such
            raise ValueError(f"the test asks for {name!r}, which the assignment does not declare in export_cell.files")
        data = self.files.get(name)
        if data is None:
            raise TestFailure(f"{name} is not in your submission: " + self.how_to_submit.format(name=name))
        if len(data) > MAX_FILE_BYTES:
            raise TestFailure(f"{name} is over the {MAX_FILE_BYTES // 2**20} MB limit for a submitted file")
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise TestFailure(f"{name} is not a valid JSON file ({type(exc).__name__}: {str(exc)[:200]}); "
                              "write it again with the notebook's save function") from None

    def __repr__(self):
        return f"<submitted files {sorted(self.files)} of {self.declared}>"
