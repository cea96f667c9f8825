"""Find submissions in a folder and read each one's notebook bytes safely.

A submission is a `.ipynb` file or a zip (as written by `grader.export()` or Otter's export). From a zip we
take only the notebook, reading at most MAX_NOTEBOOK_BYTES (so a zip bomb cannot fill memory); everything
else in it, Otter's pickled `.OTTER_LOG` included, is ignored and never deserialized."""
from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .engine import MAX_NOTEBOOK_BYTES, InvalidSubmission


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


def notebook_bytes(path: Path, notebook_name: str | None = None) -> bytes:
    path = Path(path)
    if path.suffix.lower() != ".zip":
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise InvalidSubmission(f"the notebook is over the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit")
        return path.read_bytes()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidSubmission(f"the zip file cannot be opened: {exc}") from None
    with zf:
        names = [i for i in zf.infolist() if i.filename.lower().endswith(".ipynb") and not i.is_dir()
                 and "__MACOSX" not in i.filename and ".ipynb_checkpoints" not in i.filename]
        if not names:
            raise InvalidSubmission("the zip file contains no notebook (.ipynb)")
        if len(names) > 1:
            preferred = [i for i in names if notebook_name and Path(i.filename).name == notebook_name]
            if len(preferred) != 1:
                raise InvalidSubmission("the zip file contains several notebooks: "
                                        + ", ".join(i.filename for i in names[:5]))
            names = preferred
        info = names[0]
        try:
            with zf.open(info) as fh:
                data = fh.read(MAX_NOTEBOOK_BYTES + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            raise InvalidSubmission(f"the notebook in the zip cannot be read: {exc}") from None
        if len(data) > MAX_NOTEBOOK_BYTES:
            raise InvalidSubmission(f"the notebook in the zip is over the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB limit")
        return data
