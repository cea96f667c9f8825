"""Per-student feedback in plain words. Public tests explain what failed and by how much; hidden tests say
only that a hidden test of that question failed."""
from __future__ import annotations


def render(student: str, title: str, record: dict) -> str:
    lines = [f"# {title}: feedback for {student}", ""]
    status = record.get("status", "")
    if status.startswith("invalid"):
        lines += [f"Your submission could not be graded: {status[len('invalid: '):]}", "",
                  "Every autograded question scores 0. Fix the file and resubmit.", ""]
    auto = f"{record['total']:g} / {record['possible']:g}"
    lines += [f"Autograded score: **{auto}**", ""]
    if record.get("submitted_files"):
        lines += ["Files graded with your notebook: " + ", ".join(record["submitted_files"]), ""]
    if record.get("issues") and not status.startswith("invalid"):
        lines += ["## Problems while running your notebook", ""]
        lines += [f"- {issue}" for issue in record["issues"]] + [""]
    by_q: dict[str, list] = {}
    for t in record.get("tests", []):
        by_q.setdefault(t["question"], []).append(t)
    lines += ["## Questions", ""]
    for name, q in record["questions"].items():
        if q["manual"]:
            lines += [f"### {name}: graded by hand (worth {q['max']:g} points)", ""]
            continue
        lines += [f"### {name}: {q['score']:g} / {q['max']:g}", ""]
        hidden_failed = 0
        for t in by_q.get(name, []):
            if t["hidden"]:
                hidden_failed += not t["passed"]
                continue
            mark = "passed" if t["passed"] else "FAILED"
            lines.append(f"- [{mark}] {t['description']} ({t['score']:g}/{t['points']:g})")
            if not t["passed"]:
                lines.append(f"  - {t['message']}")
        hidden = [t for t in by_q.get(name, []) if t["hidden"]]
        if hidden:
            if hidden_failed:
                lines.append(f"- {hidden_failed} of {len(hidden)} hidden tests failed "
                             f"({sum(t['score'] for t in hidden):g}/{sum(t['points'] for t in hidden):g} points)")
            else:
                lines.append(f"- all {len(hidden)} hidden tests passed")
        lines.append("")
    return "\n".join(lines)
