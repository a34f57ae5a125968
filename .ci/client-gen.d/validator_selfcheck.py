"""The validator finds the mismatches the sessions rely on it to find.

    validator_selfcheck.py SECURED_DOCUMENT

Feeds validation.Validator crafted exchanges for the secured orchestration document through
an httpx mock transport (no server): one that matches, and one of each kind the sessions must
report (an undocumented field, a wrong type, an unknown enum value, an undocumented status, a
request without the credentials the operation requires, a body of the wrong media type). A
validator that lets any of them through, for example after a version bump, fails the stage
before a session can pass for the wrong reason.
"""

import json
import sys

import httpx

from validation import Validator

HEALTH = {
    "status": "healthy",
    "checks": {"store": "ok"},
}
NOT_FOUND = {"error": "not_found", "message": "Task not found"}
TASK_PATH = "/v1/tasks/6f1d2c3e-0000-4000-8000-000000000001"

# (label, method, path, request headers, response status, response JSON, mismatches expected)
CASES = [
    ("a documented answer", "GET", "/health", {}, 200, HEALTH, 0),
    ("an undocumented field", "GET", "/health", {}, 200, {**HEALTH, "uptime": 3}, 1),
    ("a wrong type", "GET", "/health", {}, 200, {**HEALTH, "checks": []}, 1),
    (
        "an unknown enum value",
        "GET",
        TASK_PATH,
        {"x-api-key": "k"},
        404,
        {**NOT_FOUND, "error": "gone"},
        1,
    ),
    ("an undocumented status", "GET", "/health", {}, 418, HEALTH, 1),
    ("no credentials on a protected operation", "GET", TASK_PATH, {}, 404, NOT_FOUND, 1),
    ("the documented 404 with an API key", "GET", TASK_PATH, {"x-api-key": "k"}, 404, NOT_FOUND, 0),
]


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as file:
        document = json.load(file)
    validator = Validator(document)
    failures = []
    for label, method, path, headers, status, body, expected in CASES:
        validator.mismatches.clear()
        transport = httpx.MockTransport(lambda request, s=status, b=body: httpx.Response(s, json=b))
        with httpx.Client(
            base_url="http://tasker.test",
            transport=transport,
            event_hooks={"response": [validator.hook]},
        ) as client:
            client.request(method, path, headers=headers)
        if len(validator.mismatches) != expected:
            failures.append(
                f"{label}: {len(validator.mismatches)} mismatches, expected {expected}: "
                f"{validator.mismatches}"
            )

    # A body served as text where the document says JSON.
    validator.mismatches.clear()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="healthy"))
    with httpx.Client(
        base_url="http://tasker.test",
        transport=transport,
        event_hooks={"response": [validator.hook]},
    ) as client:
        client.get("/health")
    if len(validator.mismatches) != 1:
        failures.append(f"a text body: {len(validator.mismatches)} mismatches, expected 1")

    total = len(CASES) + 1
    print(f"validator self-check: {total - len(failures)} of {total} cases as expected")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
