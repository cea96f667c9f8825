"""Regenerate the bundled example submissions of a problem set from its reference solution and its bug
catalogue: `python examples/make_examples.py ps1`. They stand for a small class: correct, float32,
partially wrong, blank, exported as a zip, and broken or hostile in the ways a real class produces."""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import nbformat
import yaml

from autograder.authoring import parse_master, write_outputs
from autograder.config import load_config
from autograder.validate import apply_replacements, catalogue_files

HOSTILE_TAMPER = """import numpy as np, os
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
for path in ['../solutions', '/work', os.path.expanduser('~')]:
    try:
        print(path, os.listdir(path))
    except OSError as exc:
        print(path, exc)
def affine_forward(x, w, b):
    return np.zeros((np.shape(x)[0], np.shape(w)[1]))
"""


def appended(nb, code):
    """A copy of `nb` with one more code cell at the end."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


def with_outputs(nb, total: int):
    """A copy of `nb` whose code cells carry `total` bytes of outputs as a student's run leaves them: printed
    arrays and plots (PNG). Repetitive on purpose, so that git stores the file in a few hundred KB."""
    import base64
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    row = "array([[ 0.12345679, -1.23456789,  2.34567891, -0.45678912,  5.67891234, -6.78912345]])\n"
    printed = row * (2**20 // len(row))  # ~1 MB per printed output
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * (3 * 2**19)).decode()  # ~1 MB per plot
    code = [c for c in nb.cells if c.cell_type == "code"]
    size, i = 0, 0
    while size < total:
        cell = code[i % len(code)]
        if i % 3 == 2:
            cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}))
            size += len(png)
        else:
            cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed))
            size += len(printed)
        i += 1
    return nb


def overwriting_numerical_gradient(nb):
    """numerical_gradient that gets every entry right but works on the caller's array and zeroes it at the end:
    PS1 q7's "x is left unchanged" (the grader sees arguments after the call) must catch it."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "def numerical_gradient(" in c.source)
    src = cell.source.replace("x = np.array(x, dtype=np.float64)", "x = np.asarray(x)  # no copy: works in place")
    src = src.replace("    return grad", "    x[...] = 0.0  # 'tidy up' the work array, which is the caller's x\n    return grad")
    assert src.count("x[...] = 0.0") == 1 and "np.asarray(x)" in src, "the reference's numerical_gradient changed"
    cell.source = src
    return nb


def write_submission(out: Path, name: str, nb, files: dict, notebook_name: str) -> None:
    """A notebook, or, when the problem set takes submitted files (trained models), the zip `grader.export()`
    writes: the notebook and those files."""
    if not files:
        nbformat.write(nb, str(out / f"{name}.ipynb"))
        return
    with zipfile.ZipFile(out / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for fname, data in [(notebook_name, nbformat.writes(nb)), *files.items()]:
            zf.writestr(zipfile.ZipInfo(fname, date_time=(2026, 1, 1, 0, 0, 0)), data)  # same bytes on every run


def generic_examples(ps, ref, stub, catalogue, out: Path) -> None:
    """Any problem set but PS1: the reference, the blank stub, the float32 variant and three catalogued bugs
    spread over the catalogue (first, middle, last), named after the function they break; with submitted files
    also the first catalogued bad file (e.g. a network trained too briefly)."""
    import re

    declared = parse_master(ps.master_path).submission_files
    ref_files = catalogue_files(ps, catalogue.get("submitted_files") or {}, declared, {}, "catalogue")
    float32 = next(v for v in catalogue.get("variants", []) if v["name"].startswith("float32"))
    code_mutants = [m for m in catalogue["mutants"] if m.get("replace")]
    picks = [code_mutants[0], code_mutants[len(code_mutants) // 2], code_mutants[-1]]
    examples = {"ada_perfect": (ref, ref_files), "ben_float32": (appended(ref, float32["append"]), ref_files),
                "dana_blank": (stub, {})}
    slug = lambda text: re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")  # noqa: E731
    for student, m in zip(("chen", "eli", "kim"), picks):
        examples[f"{student}_{slug(m['name'].split(':')[0])}_bug"] = (
            apply_replacements(ref, m.get("replace", []), m["name"]), ref_files)
    file_mutants = [m for m in catalogue["mutants"] if m.get("submitted_files") and not m.get("replace")]
    if file_mutants:
        m = file_mutants[0]
        files = catalogue_files(ps, m["submitted_files"], declared, ref_files, m["name"])
        examples[f"fay_{slug(m['name'].split('(')[0])[:40].rstrip('_')}"] = (ref, files)
    for p in list(out.glob("*.ipynb")) + list(out.glob("*.zip")):
        p.unlink()
    for name, (nb, files) in examples.items():
        write_submission(out, name, nb, files, ps.notebook)
    print(f"wrote {len(examples)} example submissions to {out}")


def main(key: str) -> None:
    ps = load_config().problem_set(key)
    write_outputs(parse_master(ps.master_path), ps)
    ref = nbformat.read(str(ps.autograder_dir / "reference.ipynb"), as_version=4)
    stub = nbformat.read(str(ps.assignment_dir / ps.notebook), as_version=4)
    ref.metadata["otter"] = stub.metadata["otter"]  # a student's copy carries the public tests only
    catalogue = yaml.safe_load((ps.solutions_dir / "mutants.yaml").read_text())
    mutants = {m["name"]: m for m in catalogue["mutants"]}
    variants = {v["name"]: v for v in catalogue["variants"]}
    out = Path(__file__).parent / ps.folder / "submissions"
    out.mkdir(parents=True, exist_ok=True)
    if ps.key != "ps1":
        generic_examples(ps, ref, stub, catalogue, out)
        return

    def mutate(names):
        nb = ref
        for name in names:
            m = next(m for n, m in mutants.items() if name in n)
            nb = apply_replacements(nb, m.get("replace", []), m["name"])
        return nb

    def after(nb, func, code):
        nb = nbformat.reads(nbformat.writes(nb), as_version=4)
        i = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and f"def {func}(" in c.source)
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell(code))
        return nb

    float32 = next(v for n, v in variants.items() if n.startswith("float32"))
    examples = {
        "ada_perfect": ref,
        "ben_float32": appended(ref, float32["append"]),
        "chen_partial": mutate(["bias gradient", "not divided by N"]),
        "dana_blank": stub,
        "eli_batchnorm_bug": mutate(["mean and variance terms missing"]),
        "gus_infinite_loop": after(ref, "relu_backward", "def relu_backward(dout, x):\n    while True:\n        pass\n"),
        "ivy_tampering": after(ref, "affine_forward", HOSTILE_TAMPER),
        "jo_exits_midway": after(ref, "relu_backward", "import sys\nsys.exit('done for today')\n"),
        "kim_forward_difference": mutate(["forward difference"]),
    }
    examples["max_30mb_of_outputs"] = with_outputs(ref, 30 * 2**20)
    examples["nia_overwrites_x"] = overwriting_numerical_gradient(ref)
    for name, nb in examples.items():
        nbformat.write(nb, str(out / f"{name}.ipynb"))
    # A comment typed in a Windows editor: one cp1252 byte (0xE9, e-acute) in a UTF-8 notebook.
    latin = after(ref, "affine_forward", "# the caf\u00e9 version: checked by hand on the 2x2 example\n")
    (out / "lea_cp1252_byte.ipynb").write_bytes(
        nbformat.writes(latin).encode("utf-8").replace("caf\u00e9".encode("utf-8"), b"caf\xe9"))
    examples["lea_cp1252_byte"] = latin
    with zipfile.ZipFile(out / "fay_exported.zip", "w") as zf:  # as written by Otter's grader.export()
        zf.writestr(zipfile.ZipInfo(ps.notebook, date_time=(2026, 1, 1, 0, 0, 0)), nbformat.writes(ref))
        # Otter's export adds a pickled log; the grader never reads it (unpickling runs code).
        zf.writestr(zipfile.ZipInfo(".OTTER_LOG", date_time=(2026, 1, 1, 0, 0, 0)), b"\x80\x04N.")
    text = nbformat.writes(ref)
    (out / "hal_corrupt.ipynb").write_text(text[: len(text) // 2])  # truncated upload
    print(f"wrote {len(examples) + 2} example submissions to {out}")  # + the zip and the corrupt file


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ps1")
