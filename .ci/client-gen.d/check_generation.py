"""Did openapi-python-client generate the whole API from a Tasker OpenAPI document?

    check_generation.py DOCUMENT GENERATOR_LOG PACKAGE_DIR

Fails (exit 1) when the generator's output holds a warning or error other than the one
allowed below, or when an operationId of the document has no module under PACKAGE_DIR/api
(the generator drops an operation it cannot parse, with a warning that this also catches).

Allowed: `Unsupported content type application/yaml` on `POST /v1/templates/validate`. The
operation takes YAML or JSON; the generator has no YAML body type, so it generates the
operation with the JSON body only and says so. The session still checks that operation with
JSON through the generated module and with YAML through the client's httpx client.
"""

import json
import re
import sys
from pathlib import Path

# (operation, detail, what the header adds after "within <tag>."): the last part is empty
# when the operation is generated and "Endpoint will not be generated." when it is dropped.
ALLOWED = {
    ("POST /v1/templates/validate", "Unsupported content type application/yaml", ""),
}

HEADER = re.compile(r"^(?:WARNING|ERROR) parsing (\w+ \S+) within \S+?\.(.*)$")


def problems_in(log: str) -> list:
    """(operation, first detail line, rest of the header) for every warning or error block the
    generator printed, or (None, line, "") for a problem line it printed in another form."""
    found = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        header = HEADER.match(line.strip())
        if header:
            detail = next((rest.strip() for rest in lines[index + 1 :] if rest.strip()), "")
            found.append((header.group(1), detail, header.group(2).strip()))
        elif re.match(r"^(WARNING|ERROR|Unable|Cannot|Could not)\b", line.strip()):
            found.append((None, line.strip(), ""))
    return found


def main() -> int:
    document_path, log_path, package_dir = sys.argv[1:4]
    document = json.loads(Path(document_path).read_text(encoding="utf-8"))
    log = Path(log_path).read_text(encoding="utf-8")
    failures = []

    problems = problems_in(log)
    for problem in problems:
        if problem not in ALLOWED:
            operation, detail, rest = problem
            failures.append(f"generator: {operation or ''} {detail} {rest}".strip())
    if "Warning(s) encountered" in log and not problems:
        failures.append("generator: warned in a form this check does not recognise")

    api = Path(package_dir) / "api"
    operations = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operations += 1
            operation_id = operation["operationId"]
            tag = operation.get("tags", ["default"])[0]
            if not (api / tag / f"{operation_id}.py").is_file():
                failures.append(f"{method.upper()} {path}: no module api/{tag}/{operation_id}.py")

    allowed_seen = [p for p in problems if p in ALLOWED]
    print(
        f"{operations} operations, every one generated"
        if not failures
        else f"{len(failures)} problems in the generated client"
    )
    for operation, detail, _ in allowed_seen:
        print(f"allowed: {operation}: {detail}")
    for failure in failures:
        print(f"FAILED {failure}")
    if failures:
        print("--- generator output ---")
        print(log)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
