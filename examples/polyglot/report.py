#!/usr/bin/env python3
"""Last step of config/tasks/polyglot_pipeline.yaml: summarizes both earlier steps.

Reads the results of `score` and `normalize` from parent_results (the template makes both
its parents) and prints the task's final report.
"""
import json
import sys
from collections import Counter


def main() -> int:
    step = json.load(sys.stdin)
    scored = step["parent_results"]["score"]
    normalized = step["parent_results"]["normalize"]
    counts = Counter(r["grade"] for r in scored["graded"])
    best = max(scored["graded"], key=lambda r: r["score"], default=None)
    print(f"report for task {step['task_uuid']}", file=sys.stderr)
    json.dump(
        {
            "students": len(scored["graded"]),
            "dropped": normalized["dropped"],
            "mean": scored["mean"],
            "grades": dict(sorted(counts.items())),
            "best": best["name"] if best else None,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
