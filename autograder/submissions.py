"""Find submissions in a folder and read each one's notebook bytes safely.

A submission is a `.ipynb` file or a zip (as written by `grader.export()` or Otter's export). From a zip we
take only the notebook and the files the assignment declares (`export_cell: files`), reading at most
MAX_NOTEBOOK_BYTES / MAX_FILE_BYTES + 1 of each (so a zip bomb cannot fill memory); everything else in it,
Otter's pickled `.OTTER_LOG` included, is ignored and never deserialized."""
from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .engine import MAX_NOTEBOOK_BYTES, InvalidSubmission
from .mfdl_checks.submitted_files import MAX_FILE_BYTES


@dataclass
class Submission:
    student: str
    path: Path

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def student_id(path: Path) -> str:
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return re.sub(r"[^A-Za-z0-9_.@+-]", "_", stem) or "unnamed"


def discover(folder: Path) -> list[Submission]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {folder}")
    subs, seen = [], {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in (".ipynb", ".zip") and not path.name.startswith("."):
            sid = student_id(path)
            if sid in seen:  # alice.ipynb and alice.zip: keep both, distinguishable
                sid = f"{sid}.{path.suffix.lower().lstrip('.')}"
            seen[sid] = path
            subs.append(Submission(sid, path))
    return subs


def read_submission(path: Path, notebook_name: str | None = None, declared=()) -> tuple[bytes, dict]:
    """The notebook's bytes and {name: bytes} of the declared files found in the submission. A bare notebook
    carries no files (a batch folder cannot tell whose loose files are whose); a zip carries them anywhere
    inside (by file name), the copy next to the notebook winning if there are several."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise InvalidSubmission(f"the notebook is over the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit")
        return path.read_bytes(), {}
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
        data = _read_capped(zf, info, MAX_NOTEBOOK_BYTES, "the notebook in the zip")
        if len(data) > MAX_NOTEBOOK_BYTES:
            raise InvalidSubmission(f"the notebook in the zip is over the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit")
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
