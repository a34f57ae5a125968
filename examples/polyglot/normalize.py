#!/usr/bin/env python3
"""First step of config/tasks/polyglot_pipeline.yaml: cleans up the task's raw records.

Reads the builtin.command step document on stdin and prints its result as JSON on stdout.
Records without a name or with a score that is not a number are dropped and counted.
"""
import json
import sys


def main() -> int:
    step = json.load(sys.stdin)
    records = step["context"].get("records")
    if not isinstance(records, list):
        print("context.records must be a list", file=sys.stderr)
        return 1  # permanent: retrying will not fix the input
    clean, dropped = [], 0
    for record in records:
        name = str(record.get("name") or "").strip()
        try:
            score = float(record.get("score"))
        except (TypeError, ValueError):
            score = None
        if not name or score is None:
            dropped += 1
            continue
        clean.append({"name": " ".join(name.split()).title(), "score": max(0.0, min(score, 100.0))})
    json.dump({"records": clean, "dropped": dropped}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
