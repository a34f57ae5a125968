#!/usr/bin/env python3
"""Second step of config/tasks/polyglot_pipeline.yaml: grades the normalized records.

Its input arrives through parent_results["normalize"]; the grade boundaries come from the
step's initialization in the template.
"""
import json
import sys


def grade(score: float, boundaries: dict) -> str:
    for letter, minimum in sorted(boundaries.items(), key=lambda kv: -kv[1]):
        if score >= minimum:
            return letter
    return "F"


def main() -> int:
    step = json.load(sys.stdin)
    records = step["parent_results"]["normalize"]["records"]
    boundaries = step["initialization"].get("grades", {"A": 90, "B": 80, "C": 70})
    graded = [dict(r, grade=grade(r["score"], boundaries)) for r in records]
    mean = sum(r["score"] for r in records) / len(records) if records else None
    json.dump({"graded": graded, "mean": mean}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
