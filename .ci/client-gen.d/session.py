"""A short session with a Python client generated from a Tasker server's OpenAPI document.

Run by .ci/client-gen with the generated package on PYTHONPATH:

    session.py --role open|secured|worker --base-url URL --document openapi.json --package NAME

Credentials come from the environment (never the command line): CLIENT_GEN_API_KEY (the
secured server's API key) and CLIENT_GEN_TOKEN (a `*` bearer token). Each call goes through
the generated operation module and must answer the expected status with a body the generated
models parse into the expected type; validation.Validator checks every request and response
against the document. Exits 1 listing every failure.
"""

import argparse
import importlib
import inspect
import json
import os
import sys
import time
import uuid

import httpx

from validation import Validator

# A guard against a task that never finishes, not a measurement.
TASK_DEADLINE_SECONDS = 60

TEMPLATE = {
    "namespace": "client_gen",
    "name": "hello",
    "version": "1.0.0",
    "steps": [{"name": "greet", "handler": {"callable": "builtin.echo"}}],
}
TEMPLATE_YAML = """namespace: client_gen
name: hello
version: 1.0.0
steps:
  - name: greet
    handler: { callable: builtin.echo }
"""


class SessionError(Exception):
    """A call whose status or parsed body is not what the session expects."""


class Session:
    """The generated package, a client, and the checks every call goes through."""

    def __init__(self, package: str, validator: Validator):
        self.package = package
        self.models = importlib.import_module(f"{package}.models")
        self.validator = validator
        self.calls = 0

    def operation(self, tag: str, operation_id: str):
        return importlib.import_module(f"{self.package}.api.{tag}.{operation_id}")

    def call(self, client, tag, operation_id, expect, status=200, **kwargs):
        """Calls a generated operation; its status must be `status` and the parsed body an
        instance of `expect` (a model name, or `list` of one: `["TaskView"]`)."""
        self.calls += 1
        response = self.operation(tag, operation_id).sync_detailed(client=client, **kwargs)
        label = f"{operation_id} ({response.status_code})"
        if response.status_code != status:
            raise SessionError(f"{label}: expected {status}: {response.content[:300]!r}")
        self.check_type(label, response.parsed, expect)
        return response.parsed

    def check_type(self, label, parsed, expect):
        if isinstance(expect, list):
            if not isinstance(parsed, list):
                raise SessionError(f"{label}: parsed {type(parsed).__name__}, expected a list")
            for item in parsed:
                self.check_type(label, item, expect[0])
            return
        kind = getattr(self.models, expect) if isinstance(expect, str) else expect
        if not isinstance(parsed, kind):
            raise SessionError(f"{label}: parsed {type(parsed).__name__}, expected {kind.__name__}")


def client_annotations(session: Session, document: dict) -> dict:
    """operationId -> the annotation of the generated `client` parameter."""
    found = {}
    for item in document["paths"].values():
        for operation in item.values():
            tag = operation.get("tags", ["default"])[0]
            module = session.operation(tag, operation["operationId"])
            found[operation["operationId"]] = (
                inspect.signature(module.sync_detailed).parameters["client"].annotation,
                bool(operation.get("security")),
            )
    return found


def check_client_classes(session: Session, document: dict, role: str) -> None:
    """Without auth every operation takes the plain `Client`; with auth exactly the protected
    ones demand `AuthenticatedClient`."""
    client_module = importlib.import_module(f"{session.package}.client")
    plain, authenticated = client_module.Client, client_module.AuthenticatedClient
    for operation_id, (annotation, secured) in client_annotations(session, document).items():
        accepts_plain = annotation is plain or plain in getattr(annotation, "__args__", ())
        if role == "open" and (secured or not accepts_plain):
            raise SessionError(f"{operation_id}: demands credentials on a server without auth")
        if role != "open" and secured == accepts_plain:
            raise SessionError(
                f"{operation_id}: client parameter {annotation} for a "
                f"{'protected' if secured else 'public'} operation"
            )
        if role != "open" and secured and annotation is not authenticated:
            raise SessionError(f"{operation_id}: protected but takes {annotation}")


def public_routes(s: Session, client) -> None:
    s.call(client, "health", "health", "HealthReport")
    s.call(client, "health", "ready", "ReadinessReport")
    s.call(client, "health", "live", "LiveLivenessReport")
    s.call(client, "health", "openapi", "OpenapiOpenApiDocument")
    metrics = s.call(client, "health", "metrics", str)
    if "# TYPE" not in metrics:
        raise SessionError("metrics: not the Prometheus text format")


def wait_for(s: Session, client, task_uuid, status: str):
    deadline = time.monotonic() + TASK_DEADLINE_SECONDS
    while True:
        task = s.call(client, "tasks", "get_task", "TaskView", task_uuid=task_uuid)
        if task.status.value == status:
            return task
        if time.monotonic() > deadline:
            raise SessionError(f"task {task_uuid} still {task.status.value}, never {status}")
        time.sleep(0.1)


def orchestration(s: Session, client) -> None:
    m = s.models
    public_routes(s, client)
    s.call(client, "system", "config", "RedactedConfig")

    # A task from the example template, followed to completion.
    request = m.CreateTaskRequest(
        namespace="examples",
        name="diamond_math",
        context=m.CreateTaskRequestContext.from_dict({"value": 5}),
        initiator="client-gen",
    )
    created = s.call(client, "tasks", "create_task", "TaskView", status=201, body=request)
    task = wait_for(s, client, created.task_uuid, "complete")
    listed = s.call(client, "tasks", "list_tasks", "TaskList", namespace="examples", per_page=100)
    if task.task_uuid not in [t.task_uuid for t in listed.tasks]:
        raise SessionError("list_tasks: the new task is missing")
    steps = s.call(client, "steps", "list_steps", ["StepView"], task_uuid=task.task_uuid)
    if not steps or any(step.status.value != "complete" for step in steps):
        raise SessionError(f"list_steps: {[step.status for step in steps]}")
    s.call(
        client,
        "steps",
        "get_step",
        "StepView",
        task_uuid=task.task_uuid,
        step_uuid=steps[0].step_uuid,
    )
    s.call(
        client,
        "steps",
        "get_step_audit",
        ["TransitionView"],
        task_uuid=task.task_uuid,
        step_uuid=steps[0].step_uuid,
    )
    s.call(client, "tasks", "get_task_audit", ["TransitionView"], task_uuid=task.task_uuid)
    context = s.call(
        client, "tasks", "get_task_context", "TaskContextView", task_uuid=task.task_uuid
    )
    if context.context.to_dict() != {"value": 5}:
        raise SessionError(f"get_task_context: {context.context.to_dict()}")

    # Templates: JSON through the generated operation, YAML through the client's own httpx
    # client (the generator has no YAML body type), both validated.
    report = s.call(client, "templates", "validate_template", "ValidationReport", body=TEMPLATE)
    if not report.valid:
        raise SessionError(f"validate_template (JSON): {report.errors}")
    report = s.call(
        client, "templates", "validate_template", "ValidationReport", body={**TEMPLATE, "steps": []}
    )
    if report.valid or not report.errors:
        raise SessionError("validate_template: a template without steps is valid")
    raw = client.get_httpx_client().post(
        "/v1/templates/validate",
        content=TEMPLATE_YAML,
        headers={"content-type": "application/yaml"},
    )
    report = m.ValidationReport.from_dict(raw.json())
    if raw.status_code != 200 or not report.valid:
        raise SessionError(f"validate_template (YAML): {raw.status_code} {raw.text[:300]}")
    s.calls += 1
    templates = s.call(client, "templates", "list_templates", ["TemplateSummary"])
    if ("examples", "diamond_math") not in [(t.namespace, t.name) for t in templates]:
        raise SessionError("list_templates: examples/diamond_math is missing")
    s.call(
        client,
        "templates",
        "get_template",
        "TemplateView",
        namespace="examples",
        name="diamond_math",
        version="1.0.0",
    )

    # A task blocked by its failed step: its DLQ entry, a step action (a titled oneOf variant)
    # and an update of the entry.
    broken = s.call(
        client,
        "tasks",
        "create_task",
        "TaskView",
        status=201,
        body=m.CreateTaskRequest(namespace="ops", name="broken"),
    )
    wait_for(s, client, broken.task_uuid, "blocked_by_failures")
    entries = s.call(
        client, "dlq", "list_dlq_for_task", ["DlqEntryView"], task_uuid=broken.task_uuid
    )
    if len(entries) != 1:
        raise SessionError(f"list_dlq_for_task: {len(entries)} entries")
    s.call(
        client, "dlq", "list_dlq", ["DlqEntryView"], resolution_status=m.ResolutionStatus.PENDING
    )
    s.call(client, "dlq", "dlq_stats", ["DlqStatView"])
    s.call(client, "dlq", "dlq_investigation_queue", ["DlqEntryView"], limit=10)
    s.call(client, "dlq", "dlq_staleness", ["StalenessView"])
    failed = s.call(client, "steps", "list_steps", ["StepView"], task_uuid=broken.task_uuid)[0]
    action = m.ResolveManually(
        action_type=m.ResolveManuallyActionType.RESOLVE_MANUALLY, reason="client-gen session"
    )
    step = s.call(
        client,
        "steps",
        "step_action",
        "StepView",
        task_uuid=broken.task_uuid,
        step_uuid=failed.step_uuid,
        body=action,
    )
    if step.status.value != "resolved_manually":
        raise SessionError(f"step_action: step is {step.status.value}")
    update = m.DlqUpdateRequest(
        resolution_status=m.ResolutionStatus.MANUALLY_RESOLVED,
        resolution_notes="resolved by the client-gen session",
    )
    entry = s.call(
        client,
        "dlq",
        "update_dlq_entry",
        "DlqEntryView",
        dlq_entry_uuid=entries[0].dlq_entry_uuid,
        body=update,
    )
    if entry.resolution_status.value != "manually_resolved":
        raise SessionError(f"update_dlq_entry: {entry.resolution_status.value}")

    # A step running now: /health/detailed lists it under the embedded worker, and cancelling
    # its task is the DELETE operation.
    nap = s.call(
        client,
        "tasks",
        "create_task",
        "TaskView",
        status=201,
        body=m.CreateTaskRequest(namespace="ops", name="nap"),
    )
    deadline = time.monotonic() + TASK_DEADLINE_SECONDS
    while True:
        health = s.call(client, "health", "health_detailed", "HealthDetail")
        s.check_type("health: embedded_worker", health.embedded_worker, "WorkerStatus")
        running = health.embedded_worker.running_steps
        s.check_type("health: running_steps", running, ["RunningStep"])
        if nap.task_uuid in [step.task_uuid for step in running]:
            break
        if time.monotonic() > deadline:
            raise SessionError("health: the nap step never showed as running")
        time.sleep(0.05)
    cancelled = s.call(client, "tasks", "cancel_task", "TaskView", task_uuid=nap.task_uuid)
    if cancelled.status.value != "cancelled":
        raise SessionError(f"cancel_task: task is {cancelled.status.value}")

    handlers = s.call(client, "system", "list_handlers", ["HandlerNamespace"])
    if not handlers:
        raise SessionError("list_handlers: none")
    s.call(
        client,
        "system",
        "get_namespace_handlers",
        "HandlerNamespace",
        namespace=handlers[0].namespace,
    )
    s.call(client, "analytics", "analytics_performance", "PerformanceView", hours=24)
    s.call(client, "analytics", "analytics_bottlenecks", "BottlenecksView", limit=5)

    # An unknown task: the documented 404, parsed as ErrorBody with the not_found code.
    missing = s.call(client, "tasks", "get_task", "ErrorBody", status=404, task_uuid=uuid.uuid4())
    if missing.error != m.ErrorCode.NOT_FOUND:
        raise SessionError(f"get_task (unknown): error {missing.error}")


def worker(s: Session, client) -> None:
    public_routes(s, client)
    s.call(client, "system", "config", "RedactedConfig")
    templates = s.call(client, "templates", "list_templates", ["TemplateSummary"])
    if ("examples", "diamond_math") not in [(t.namespace, t.name) for t in templates]:
        raise SessionError("list_templates: examples/diamond_math is missing")
    coordinates = {"namespace": "examples", "name": "diamond_math", "version": "1.0.0"}
    s.call(client, "templates", "get_template", "TemplateView", **coordinates)
    report = s.call(client, "templates", "validate_template", "ValidationReport", **coordinates)
    if not report.valid:
        raise SessionError(f"validate_template: {report.errors}")
    missing = s.call(
        client,
        "templates",
        "get_template",
        "ErrorBody",
        status=404,
        namespace="examples",
        name="no_such_template",
        version="1.0.0",
    )
    if missing.error != s.models.ErrorCode.NOT_FOUND:
        raise SessionError(f"get_template (unknown): error {missing.error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["open", "secured", "worker"], required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--document", required=True)
    parser.add_argument("--package", required=True)
    args = parser.parse_args()

    with open(args.document, encoding="utf-8") as file:
        document = json.load(file)
    validator = Validator(document)
    s = Session(args.package, validator)
    client_module = importlib.import_module(f"{args.package}.client")
    hooks = {"event_hooks": {"response": [validator.hook]}}
    timeout = httpx.Timeout(10.0)

    def plain():
        return client_module.Client(
            base_url=args.base_url,
            timeout=timeout,
            raise_on_unexpected_status=True,
            httpx_args=hooks,
        )

    def authenticated(**credentials):
        return client_module.AuthenticatedClient(
            base_url=args.base_url,
            timeout=timeout,
            raise_on_unexpected_status=True,
            httpx_args=hooks,
            **credentials,
        )

    failures = []

    def step(label, run):
        try:
            run()
            print(f"{args.role}: {label}: ok")
        except Exception as error:  # a failing step is reported and the next one still runs
            failures.append(f"{label}: {type(error).__name__}: {error}")

    step("client classes", lambda: check_client_classes(s, document, args.role))
    if args.role == "open":
        step("session with Client (no credentials)", lambda: orchestration(s, plain()))
    elif args.role == "secured":
        api_key = os.environ["CLIENT_GEN_API_KEY"]
        token = os.environ["CLIENT_GEN_TOKEN"]
        step(
            "session with the API key header",
            lambda: orchestration(
                s, authenticated(token=api_key, prefix="", auth_header_name="X-API-Key")
            ),
        )
        step(
            "bearer token",
            lambda: s.call(authenticated(token=token), "tasks", "list_tasks", "TaskList"),
        )
        step("no credentials: 401 ErrorBody", lambda: check_unauthorized(s, plain()))
    else:
        step(
            "session with a bearer token",
            lambda: worker(s, authenticated(token=os.environ["CLIENT_GEN_TOKEN"])),
        )
        step(
            "no credentials: 401 ErrorBody",
            lambda: check_unauthorized(s, plain(), tag="templates", operation_id="list_templates"),
        )

    mismatches = validator.mismatches
    print(
        f"{args.role}: {s.calls} calls, {len(validator.exchanges)} exchanges validated, "
        f"{len(mismatches)} mismatches, {len(failures)} failed steps"
    )
    for failure in failures:
        print(f"{args.role}: FAILED {failure}")
    for mismatch in mismatches:
        print(f"{args.role}: MISMATCH {mismatch}")
    return 1 if failures or mismatches else 0


def check_unauthorized(s: Session, client, tag="tasks", operation_id="list_tasks") -> None:
    with s.validator.unauthenticated():
        body = s.call(client, tag, operation_id, "ErrorBody", status=401)
    if body.error != s.models.ErrorCode.UNAUTHORIZED:
        raise SessionError(f"{operation_id} without credentials: error {body.error}")


if __name__ == "__main__":
    sys.exit(main())
