"""`mfdl validate ps4` in CI (physics-informed networks, Deep Ritz): the reference earns 100%, every correct
variant too, the released stub earns 0, every catalogued bug loses exactly the points of the questions it breaks
(bugs in code, and networks trained with a bug submitted as files), and the student notebook runs in plain
Jupyter (self-checks and export included). The bundled example class grades as its names say."""
import csv

from autograder.batch import BatchGrader
from autograder.config import load_config
from conftest import REPO, mutants_caught, validation_report


def test_validate_ps4():
    lines = validation_report("ps4")
    assert mutants_caught(lines) >= 10
    file_bugs = [line for line in lines if line.startswith("  [ok] mutant:") and "(submitted file)" in line]
    assert len(file_bugs) >= 5  # badly trained heat and Burgers networks, wrong conventions


def test_training_cells_are_never_part_of_grading():
    ps = load_config().problem_set("ps4")
    reference = (ps.autograder_dir / "reference.py").read_text()
    assert "def train_heat" in reference and "def train_burgers" in reference
    assert "train_heat(seed=0)" not in reference and "train_burgers(seed=0)" not in reference


def test_example_class_grades_as_named(tmp_path):
    ps = load_config().problem_set("ps4")
    BatchGrader(ps, tmp_path, jobs=2).run(REPO / "examples" / ps.folder / "submissions")
    with open(tmp_path / "grades.csv") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    full = {q: float(rows["ada_perfect"][q]) for q in ("q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8")}
    assert float(rows["ada_perfect"]["total"]) == 40 and float(rows["ben_float32"]["total"]) == 40
    assert float(rows["dana_blank"]["total"]) == 0
    lost = lambda student: {q for q in full if float(rows[student][q]) < full[q]}  # noqa: E731
    assert lost("fay_heat_network_trained_without_the_initial") == {"q6"}
    assert lost("kim_ritz_energy_bug") == {"q8"}
    assert lost("eli_hard_ansatz_bug") == {"q4"}
    assert lost("chen_derivative_bug") == {"q1", "q2", "q3", "q4", "q5", "q6"}
    feedback = (tmp_path / "feedback" / "ada_perfect.md").read_text()
    assert "Files graded with your notebook: burgers_model.json, heat_model.json" in feedback
