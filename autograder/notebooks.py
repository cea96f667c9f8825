"""Read a submitted notebook the way real notebooks are: lenient about encoding, blind to outputs, strict only
about what grading uses.

* **Encoding.** A notebook is UTF-8 JSON (nbformat); a UTF-8 or UTF-16 byte-order mark is accepted. A byte that
  is not UTF-8 (typically one cp1252 character typed in a Windows editor) is replaced by U+FFFD and the notebook
  is graded; the record's notes say which cell and line held it, so the student can find it. Grading re-executes
  the cells, so a replaced character in a comment or a string changes nothing, and one in an identifier fails
  only that cell (a SyntaxError the note explains).
* **Size.** Grading never reads outputs (the cells are run again), attachments (pasted images) or widget
  state, so they are dropped while the JSON is parsed (a JSON object hook replaces each output as soon as it is
  decoded: at most one output is alive at a time) and count towards no limit. What is refused is source over
  MAX_SOURCE_BYTES: 5 MB of code and markdown is about 70 times the largest master notebook of the course
  (PS2's, 124 KB of source, solutions and tests included) and 100,000 lines of 50 characters: no hand-written
  solution comes near it, while a notebook that does is generated text whose execution would spend the
  notebook's time limit on parsing alone. MAX_RAW_BYTES (128 MiB, four times the 30 MB of outputs of the largest
  notebook reported by TAs; Jupyter itself becomes unusable well before) bounds the file itself, outputs
  included, only so that one file (or a zip bomb) cannot take the grader's memory: the raw bytes and their
  decoded text are the only two full copies ever held (about 2 x 30 MB for a notebook with 30 MB of outputs).
* **Not text.** A file of which more than 1% of the bytes are not UTF-8, or whose text does not start with
  "{", is not a notebook typed in an editor (a PDF or an image renamed .ipynb) and is refused as such.
* **Which assignment.** A notebook whose Otter metadata names another assignment, or that defines none of the
  names the assignment's tests use, is a submission to the wrong assignment: WrongAssignment says which.
"""
from __future__ import annotations

import codecs
import json
import re
import warnings

import nbformat

MAX_SOURCE_BYTES = 5 * 1000 * 1000
MAX_RAW_BYTES = 128 * 1024 * 1024
NOTES_KEY = "mfdl_reading_notes"  # where stripped() keeps its notes inside the notebook's metadata


class InvalidSubmission(ValueError):
    """The submission cannot be graded; the message says why (one line, for the student)."""


class WrongAssignment(InvalidSubmission):
    """A notebook of another assignment: `status` is the CSV status, the message the explanation."""

    def __init__(self, found: str, explanation: str):
        super().__init__(explanation)
        self.found = found
        self.status = f"wrong assignment: {found}"


def _decode(data: bytes) -> tuple[str, int]:
    """The text of `data` and how many undecodable byte sequences it held (each replaced by one U+FFFD; one
    stray cp1252 byte is one sequence). Only `data` and the text exist at once: no slices, no second pass."""
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16", errors="replace"), 0
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return str(memoryview(data)[skip:], "utf-8"), 0
    except UnicodeDecodeError:
        text = str(memoryview(data)[skip:], "utf-8", "replace")
        return text, text.count("\ufffd") - data.count("\ufffd".encode("utf-8"))


def _drop_unread(obj: dict, trust_notes: bool = False):
    """JSON object hook: outputs, attachments and widget state are dropped as they are decoded."""
    if "output_type" in obj:
        return None  # an output (display data, stream, error...): grading re-executes the cell
    if "cell_type" in obj:
        if "outputs" in obj:
            obj["outputs"] = []
        obj.pop("attachments", None)
        return obj
    if "metadata" in obj and ("cells" in obj or "worksheets" in obj):
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            meta.pop("widgets", None)
            if not trust_notes:
                meta.pop(NOTES_KEY, None)  # a file's own "notes" are not ours
    return obj


def _source_lines_with(text: str, marker: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), start=1) if marker in line]


def parse(data: bytes | str, trust_notes: bool = False) -> tuple[dict, list[str]]:
    """The notebook as a plain dict with outputs dropped, and notes for the student (replaced bytes and where)."""
    if len(data) > MAX_RAW_BYTES:
        raise InvalidSubmission(f"the file is {len(data) / 1e6:.0f} MB, over the {MAX_RAW_BYTES / 1e6:.0f} MB "
                                "limit even before its outputs are dropped")
    if isinstance(data, str):
        text, bad, size = data, 0, len(data)
    else:
        text, bad = _decode(data)
        size = len(data)
    del data  # the caller may still hold the bytes; we no longer need them
    if bad > max(16, size // 100) or not re.match(r"\s*\{", text):
        raise InvalidSubmission("the file is not a text notebook (not UTF-8 JSON: a binary file renamed .ipynb?)")
    try:
        obj = json.loads(text, object_hook=lambda o: _drop_unread(o, trust_notes))
    except ValueError as exc:
        raise InvalidSubmission(f"the file is not a valid Jupyter notebook (corrupt JSON?): {str(exc)[:300]}") from None
    del text
    if not isinstance(obj, dict):
        raise InvalidSubmission("the file is not a valid Jupyter notebook (its JSON is not an object)")
    notes = []
    if bad:
        where = []
        for number, cell in enumerate(_all_cells(obj), start=1):
            src = cell.get("source", cell.get("input", ""))
            src = "".join(src) if isinstance(src, list) else str(src)
            lines = _source_lines_with(src, "\ufffd")
            if lines:
                where.append(f"cell {number} line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines[:10]))}")
        notes.append(f"{bad} byte{'s' if bad > 1 else ''} of the notebook {'are' if bad > 1 else 'is'} not UTF-8 and "
                     f"{'were' if bad > 1 else 'was'} replaced by \ufffd before grading ("
                     + ("; ".join(where) if where else "outside the cells' source: in metadata or in outputs, "
                        "which grading does not use") + ")")
    return obj, notes


def _all_cells(obj: dict) -> list:
    cells = obj.get("cells")
    if isinstance(cells, list):
        return [c for c in cells if isinstance(c, dict)]
    out = []  # nbformat 3: cells inside worksheets
    for ws in obj.get("worksheets") or []:
        if isinstance(ws, dict):
            out += [c for c in ws.get("cells") or [] if isinstance(c, dict)]
    return out


def stripped(data: bytes) -> bytes:
    """The notebook in `data` re-serialized without outputs (small), its reading notes in its metadata: what
    read_submission hands on, so that a large file is held only while it is read."""
    obj, notes = parse(data)
    del data
    meta = obj.setdefault("metadata", {})
    if isinstance(meta, dict) and notes:
        meta[NOTES_KEY] = notes
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def read_notebook(data: bytes | str, expected=None):
    """The validated nbformat-4 notebook from a file's bytes, outputs dropped. Its reading notes are kept in
    `nb.metadata["mfdl_reading_notes"]` (see notes()). `expected` (an Autograder, or anything with `.manifest`)
    enables the wrong-assignment check."""
    obj, notes = parse(data, trust_notes=True)  # notes that stripped() put there (a student's could only
    del data                                     # add lines to their own feedback)
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    carried = meta.pop(NOTES_KEY, None) if isinstance(meta, dict) else None
    source_bytes = sum(len(("".join(s) if isinstance(s, list) else str(s)).encode("utf-8", "replace"))
                       for c in _all_cells(obj) for s in [c.get("source", c.get("input", ""))])
    if source_bytes > MAX_SOURCE_BYTES:
        raise InvalidSubmission(f"the notebook holds {source_bytes / 1e6:.1f} MB of source (code and markdown, "
                                f"outputs not counted), over the {MAX_SOURCE_BYTES / 1e6:.0f} MB limit")
    try:
        nb = nbformat.reads(json.dumps(obj), as_version=4)
    except Exception as exc:
        raise InvalidSubmission(f"the file is not a valid Jupyter notebook: {str(exc).splitlines()[0][:300]}") from None
    try:
        with warnings.catch_warnings():  # old notebooks without cell ids are fine to grade
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise InvalidSubmission(f"the notebook does not follow the Jupyter format: {str(exc).splitlines()[0][:300]}") from None
    if expected is not None:
        check_assignment(nb, getattr(expected, "manifest", expected))
    all_notes = [str(n) for n in (carried if isinstance(carried, list) else [])] + notes
    if all_notes:
        nb.metadata[NOTES_KEY] = all_notes
    return nb


def notes(nb) -> list[str]:
    """What reading the notebook changed (e.g. bytes replaced, with their cell and line), for the record."""
    return list(nb.get("metadata", {}).get(NOTES_KEY, []))


def check_assignment(nb, manifest: dict) -> None:
    """Raise WrongAssignment for a notebook of another assignment: its Otter metadata names another one, or it
    defines (or mentions) none of the names that the assignment's tests take."""
    own = (manifest.get("otter_config") or {}).get("assignment_name") or manifest.get("assignment")
    meta = nb.metadata.get("otter") if isinstance(nb.metadata.get("otter"), dict) else {}
    theirs = meta.get("assignment_name")
    if own and isinstance(theirs, str) and theirs and theirs != own:
        raise WrongAssignment(theirs, f"this notebook belongs to assignment {theirs!r}, not {own!r}: "
                                      "was the wrong file submitted?")
    names = {p for q in manifest.get("questions", []) if not q.get("manual")
             for t in q.get("tests", []) for p in t.get("params") or []}
    if not names:
        return  # doctest-style tests name nothing we can look for
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if not re.search(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b", code):
        shown = ", ".join(sorted(names)[:4]) + (", ..." if len(names) > 4 else "")
        raise WrongAssignment(theirs or "unknown", f"this notebook defines none of the names {own or 'the assignment'}'s "
                                                   f"tests use ({shown}): was the wrong file submitted?")
