"""Find submissions in a folder and read each one's notebook bytes safely.

A submission is a `.ipynb` file, a zip (as written by `grader.export()` or Otter's export) or, for the
per-student folders an LMS download gives (`alice/ps1.ipynb`, `bob/export.zip`), a subfolder holding one
notebook or zip, graded under the folder's name with the declared files found beside it. `mfdl grade` also
takes a single .ipynb/.zip path. A folder with nothing to grade is an error that says what it holds
(NoSubmissions), never a silent empty batch.

From a zip we take only the notebook and the files the assignment declares (`export_cell: files`), reading at
most MAX_RAW_BYTES / MAX_FILE_BYTES + 1 of each (so a zip bomb cannot fill memory); everything else in it,
Otter's pickled `.OTTER_LOG` included, is ignored and never deserialized. The notebook is handed on without its
outputs (autograder/notebooks.py: `stripped`), so a large file is held in memory only while it is read."""
from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .mfdl_checks.submitted_files import MAX_FILE_BYTES
from .notebooks import MAX_RAW_BYTES, InvalidSubmission, stripped

SUFFIXES = (".ipynb", ".zip")


class NoSubmissions(ValueError):
    """Nothing to grade at the given path; the message says what was found instead (one line)."""


@dataclass
class Submission:
    student: str
    path: Path  # a .ipynb or .zip file, or a student's folder holding one

    def sha256(self) -> str:
        h = hashlib.sha256()
        if self.path.is_dir():  # every file of the student's folder, by relative name and content
            for p in sorted(_folder_files(self.path)):
                h.update(p.relative_to(self.path).as_posix().encode() + b"\0")
                with open(p, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            return h.hexdigest()
        with open(self.path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


def student_id(path: Path) -> str:
    stem = path.name[: -len(path.suffix)] if path.suffix and not path.is_dir() else path.name
    return re.sub(r"[^A-Za-z0-9_.@+-]", "_", stem) or "unnamed"


def _skipped(part: str) -> bool:
    return part.startswith(".") or part in ("__MACOSX", "__pycache__")


def _folder_files(folder: Path) -> list[Path]:
    root = folder.resolve()
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
            and not any(_skipped(x) for x in p.relative_to(folder).parts) and p.resolve().is_relative_to(root)]


def candidates(folder: Path) -> list[Path]:
    """The notebooks and zips in a student's folder (any depth, hidden files and checkpoints left out)."""
    return sorted(p for p in _folder_files(folder) if p.suffix.lower() in SUFFIXES)


def discover(target: Path) -> list[Submission]:
    """The submissions at `target`: a single .ipynb/.zip, or a folder of them and/or of per-student folders.
    Raises FileNotFoundError for a missing path and NoSubmissions (saying what is there) when nothing in it
    can be graded."""
    target = Path(target)
    if not target.exists():
        raise FileNotFoundError(f"submissions not found: {target} does not exist")
    if target.is_file():
        if target.suffix.lower() not in SUFFIXES:
            raise NoSubmissions(f"{target} is not a notebook (.ipynb) or an exported zip (.zip)")
        return [Submission(student_id(target), target)]
    entries = [p for p in sorted(target.iterdir()) if not _skipped(p.name)]
    if not entries:
        raise NoSubmissions(f"the submissions folder {target} is empty")
    subs, seen, ignored = [], {}, []
    for path in entries:
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            sid = student_id(path)
            if sid in seen:  # alice.ipynb and alice.zip: keep both, distinguishable
                sid = f"{sid}.{path.suffix.lower().lstrip('.')}"
        elif path.is_dir() and candidates(path):  # one student's folder (an LMS download)
            sid = student_id(path)
            if sid in seen:
                sid = f"{sid}.folder"
        else:
            ignored.append(path)
            continue
        seen[sid] = path
        subs.append(Submission(sid, path))
    if not subs:
        raise NoSubmissions(f"no .ipynb or .zip submission in {target} (found {_describe(ignored)})")
    return subs


def _describe(paths: list[Path]) -> str:
    dirs = [p for p in paths if p.is_dir()]
    kinds: dict[str, int] = {}
    for p in paths:
        if p.is_file():
            kinds[p.suffix.lower() or "no extension"] = kinds.get(p.suffix.lower() or "no extension", 0) + 1
    parts = [f"{n} {k} file{'s' if n > 1 else ''}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])]
    if dirs:
        parts.append(f"{len(dirs)} folder{'s' if len(dirs) > 1 else ''} without notebooks")
    return ", ".join(parts[:6]) or "nothing gradable"


def pick_notebook(folder: Path, notebook: str | None) -> Path:
    """The one submission file of a student's folder: the one named like the assignment's notebook, else the
    only candidate; several candidates are an error naming them."""
    found = candidates(folder)
    named = [p for p in found if notebook and p.name == notebook]
    if named:
        return named[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidSubmission(f"no notebook found in the submission (expected {notebook or 'a .ipynb'})")
    raise InvalidSubmission(f"several files could be the submission ({', '.join(p.name for p in found[:5])}); "
                            f"name the notebook {notebook or 'as the assignment does'}")


def read_submission(path: Path, notebook_name: str | None = None, declared=()) -> tuple[bytes, dict]:
    """The notebook's bytes and {name: bytes} of the declared files found in the submission. A bare notebook
    carries no files (a batch folder cannot tell whose loose files are whose); a zip carries them anywhere
    inside (by file name), the copy next to the notebook winning if there are several."""
    path = Path(path)
    if path.is_dir():  # a student's folder: its notebook (or zip), with declared files uploaded beside it
        chosen = pick_notebook(path, notebook_name)
        data, files = read_submission(chosen, notebook_name, declared)
        if chosen.suffix.lower() != ".zip":
            files = read_loose_files(path, declared)
        return data, files
    if path.suffix.lower() != ".zip":
        if path.stat().st_size > MAX_RAW_BYTES:
            raise InvalidSubmission(f"the file is {path.stat().st_size / 1e6:.0f} MB, over the "
                                    f"{MAX_RAW_BYTES / 1e6:.0f} MB limit even before its outputs are dropped")
        return stripped(path.read_bytes()), {}
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidSubmission(f"the zip file cannot be opened: {exc}") from None
    with zf:
        entries = [i for i in zf.infolist() if not i.is_dir() and "__MACOSX" not in i.filename]
        names = [i for i in entries if i.filename.lower().endswith(".ipynb") and ".ipynb_checkpoints" not in i.filename]
        if not names:
            raise InvalidSubmission("the zip file contains no notebook (.ipynb)")
        if len(names) > 1:
            preferred = [i for i in names if notebook_name and Path(i.filename).name == notebook_name]
            if len(preferred) != 1:
                raise InvalidSubmission("the zip file contains several notebooks: "
                                        + ", ".join(i.filename for i in names[:5]))
            names = preferred
        info = names[0]
        if info.file_size > MAX_RAW_BYTES:
            raise InvalidSubmission(f"the notebook in the zip is {info.file_size / 1e6:.0f} MB, over the "
                                    f"{MAX_RAW_BYTES / 1e6:.0f} MB limit even before its outputs are dropped")
        data = _read_capped(zf, info, MAX_RAW_BYTES, "the notebook in the zip")
        if len(data) > MAX_RAW_BYTES:  # the zip's directory lied about the size
            raise InvalidSubmission(f"the notebook in the zip is over the {MAX_RAW_BYTES / 1e6:.0f} MB limit")
        data = stripped(data)
        home = str(Path(info.filename).parent)
        files = {}
        for name in declared:
            found = sorted((i for i in entries if Path(i.filename).name == Path(name).name),
                           key=lambda i: (str(Path(i.filename).parent) != home, i.filename))
            if found:  # over the cap: kept at MAX_FILE_BYTES + 1 bytes, and the test that reads it says so
                try:
                    files[name] = _read_capped(zf, found[0], MAX_FILE_BYTES, name)
                except InvalidSubmission:
                    continue  # unreadable: reported as missing by the test that needs it
        return data, files


def read_loose_files(folder: Path, declared) -> dict:
    """Declared files uploaded next to the notebook (Gradescope's submission folder holds one student's)."""
    files, root = {}, Path(folder).resolve()
    for name in declared:
        found = sorted(p for p in Path(folder).rglob(name)  # no links out of the folder
                       if p.is_file() and not p.is_symlink() and p.resolve().is_relative_to(root)
                       and "__MACOSX" not in p.parts)
        if found:
            with open(found[0], "rb") as fh:
                files[name] = fh.read(MAX_FILE_BYTES + 1)
    return files


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, what: str) -> bytes:
    try:
        with zf.open(info) as fh:
            return fh.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise InvalidSubmission(f"{what} cannot be read: {exc}") from None
