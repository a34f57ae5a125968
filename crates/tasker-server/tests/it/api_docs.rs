//! `docs/api.md` is generated from a live run of every route, and checked against one: each
//! documented example must have the shape (keys and JSON types) of what the server answers
//! today. Regenerate with `TASKER_WRITE_API_DOCS=1 cargo test -p tasker-server api_docs`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use reqwest::Method;
use serde_json::{Value, json};
use tasker_testkit::{BROKEN, ServerProcess, TestConfig, Token};

use crate::*;

/// A `builtin.command` step that reports progress on stderr and fails: its step log.
const COMMAND: &str = r#"name: import_orders
namespace: ops
version: 1.0.0
steps:
  - name: import
    handler:
      callable: builtin.command
      initialization:
        program: sh
        args: ["-c", "echo 'reading orders.csv' >&2; echo 'row 17: price is not a number' >&2; exit 2"]
"#;

struct Example {
    method: &'static str,
    path: String,
    request: Option<Value>,
    status: u16,
    response: Value,
}

struct Recorder {
    base: String,
    token: String,
    examples: Vec<Example>,
}

impl Recorder {
    async fn call(&mut self, method: &'static str, path: &str, request: Option<Value>) -> Value {
        self.call_as(method, path, request, Some(self.token.clone()))
            .await
    }

    async fn call_as(
        &mut self,
        method: &'static str,
        path: &str,
        request: Option<Value>,
        token: Option<String>,
    ) -> Value {
        let mut builder = reqwest::Client::new().request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = &request {
            builder = builder.json(body);
        }
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        self.examples.push(Example {
            method,
            path: path.to_owned(),
            request,
            status,
            response: body.clone(),
        });
        body
    }
}

async fn record() -> Vec<Example> {
    let config = TestConfig::new()
        .with_examples()
        .with_template("broken.yaml", BROKEN)
        .with_template("command.yaml", COMMAND);
    config.write(
        "base/orchestration.toml",
        &auth_config("", "[worker]\nid = \"worker-1\"\npoll_interval_ms = 50\n"),
    );
    let server = ServerProcess::start(SERVER, &config, &[]);
    let mut r = Recorder {
        base: server.base_url.clone(),
        token: Token::with_permissions(&["*"]).sign(),
        examples: Vec::new(),
    };

    let task = r.call("POST", "/v1/tasks", Some(json!({"namespace": "examples", "name": "diamond_math", "context": {"value": 5}, "initiator": "docs", "reason": "example"}))).await;
    let id = task["task_uuid"].as_str().unwrap().to_owned();
    server
        .wait_for_task(&id, &["complete"], Some(&r.token))
        .await;
    r.call("GET", "/v1/tasks?namespace=examples&per_page=10", None)
        .await;
    r.call("GET", &format!("/v1/tasks/{id}"), None).await;
    r.call("GET", &format!("/v1/tasks/{id}/context"), None)
        .await;
    let steps = r
        .call("GET", &format!("/v1/tasks/{id}/workflow_steps"), None)
        .await;
    let step = steps[3]["step_uuid"].as_str().unwrap().to_owned();
    r.call(
        "GET",
        &format!("/v1/tasks/{id}/workflow_steps/{step}"),
        None,
    )
    .await;
    r.call(
        "GET",
        &format!("/v1/tasks/{id}/workflow_steps/{step}/audit"),
        None,
    )
    .await;
    r.call("GET", &format!("/v1/tasks/{id}/audit"), None).await;

    let command = r
        .call(
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": "ops", "name": "import_orders"})),
        )
        .await;
    r.examples.pop();
    let command = command["task_uuid"].as_str().unwrap().to_owned();
    server
        .wait_for_task(&command, &["blocked_by_failures"], Some(&r.token))
        .await;
    let csteps = server
        .get_json(
            &format!("/v1/tasks/{command}/workflow_steps"),
            Some(&r.token),
        )
        .await;
    let cstep = csteps[0]["step_uuid"].as_str().unwrap().to_owned();
    r.call(
        "GET",
        &format!("/v1/tasks/{command}/workflow_steps/{cstep}/logs?attempt=1"),
        None,
    )
    .await;
    let routed = r
        .call(
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": "examples", "name": "order_routing", "context": {"shipping": "express"}})),
        )
        .await;
    let rid = routed["task_uuid"].as_str().unwrap().to_owned();
    server
        .wait_for_task(&rid, &["complete"], Some(&r.token))
        .await;
    r.call("GET", &format!("/v1/tasks/{rid}/dag"), None).await;
    r.call(
        "POST",
        &format!("/v1/tasks/{rid}/rerun"),
        Some(json!({"from_step": "confirm", "reason": "resend the confirmation"})),
    )
    .await;
    server
        .wait_for_task(&rid, &["complete"], Some(&r.token))
        .await;
    let gated = r
        .call(
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": "examples", "name": "approval_payout", "context": {"value": 5}})),
        )
        .await;
    r.examples.pop();
    let gid = gated["task_uuid"].as_str().unwrap().to_owned();
    let review = tasker_testkit::eventually(
        "the approval step to wait",
        tasker_testkit::HANG_GUARD,
        async || {
            let steps = server
                .get_json(&format!("/v1/tasks/{gid}/workflow_steps"), Some(&r.token))
                .await;
            let step = steps
                .as_array()
                .and_then(|a| a.iter().find(|s| s["name"] == "review").cloned())
                .ok_or("no review step")?;
            if step["status"] == "waiting" {
                Ok(step["step_uuid"].as_str().unwrap_or_default().to_owned())
            } else {
                Err("not waiting yet")
            }
        },
    )
    .await;
    r.call(
        "POST",
        &format!("/v1/tasks/{gid}/workflow_steps/{review}/signal"),
        Some(json!({"decision": "approve", "payload": {"limit": 500}, "reason": "checked the invoice"})),
    )
    .await;

    let broken = r
        .call(
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": "ops", "name": "broken"})),
        )
        .await;
    let bid = broken["task_uuid"].as_str().unwrap().to_owned();
    server
        .wait_for_task(&bid, &["blocked_by_failures"], Some(&r.token))
        .await;
    r.call("GET", "/v1/dlq", None).await;
    let entries = r.call("GET", &format!("/v1/dlq/task/{bid}"), None).await;
    r.call("GET", "/v1/dlq/investigation-queue", None).await;
    r.call("GET", "/v1/dlq/staleness", None).await;
    r.call("GET", "/v1/dlq/stats", None).await;
    let bsteps: Value = reqwest::Client::new()
        .get(format!("{}/v1/tasks/{bid}/workflow_steps", r.base))
        .bearer_auth(&r.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bstep = bsteps[0]["step_uuid"].as_str().unwrap().to_owned();
    r.call(
        "PATCH",
        &format!("/v1/tasks/{bid}/workflow_steps/{bstep}"),
        Some(json!({"action_type": "resolve_manually", "reason": "upstream fixed"})),
    )
    .await;
    let entry = entries[0]["dlq_entry_uuid"].as_str().unwrap().to_owned();
    r.call("PATCH", &format!("/v1/dlq/entry/{entry}"), Some(json!({"resolution_status": "manually_resolved", "resolution_notes": "resolved the step by hand"}))).await;

    let cancel = r
        .call(
            "POST",
            "/v1/tasks",
            Some(json!({"namespace": "examples", "name": "flaky_retry"})),
        )
        .await;
    r.examples.pop();
    let cid = cancel["task_uuid"].as_str().unwrap().to_owned();
    r.call("DELETE", &format!("/v1/tasks/{cid}"), None).await;

    let schedule = r
        .call(
            "POST",
            "/v1/schedules",
            Some(json!({"namespace": "examples", "name": "diamond_math", "cron": "0 */5 * * * *", "timezone": "Europe/Berlin", "context": {"value": 5}, "overlap": "skip", "description": "every five minutes"})),
        )
        .await;
    let sid = schedule["schedule_uuid"].as_str().unwrap().to_owned();
    r.call("GET", "/v1/schedules?namespace=examples", None)
        .await;
    r.call("GET", &format!("/v1/schedules/{sid}?upcoming=3"), None)
        .await;
    r.call(
        "PATCH",
        &format!("/v1/schedules/{sid}"),
        Some(json!({"paused": true})),
    )
    .await;
    let fired = r
        .call("POST", &format!("/v1/schedules/{sid}/trigger"), None)
        .await;
    let fired = fired["task_uuid"].as_str().unwrap().to_owned();
    server
        .wait_for_task(&fired, &["complete"], Some(&r.token))
        .await;
    r.call("GET", &format!("/v1/schedules/{sid}/runs"), None)
        .await;
    r.call("DELETE", &format!("/v1/schedules/{sid}"), None)
        .await;
    r.call(
        "POST",
        "/v1/schedules",
        Some(json!({"namespace": "examples", "name": "diamond_math", "cron": "61 * * * *", "context": {"value": 5}})),
    )
    .await;

    r.call("GET", "/v1/templates", None).await;
    r.call("GET", "/v1/templates/examples/diamond_math/1.0.0", None)
        .await;
    r.call("GET", "/v1/handlers", None).await;
    r.call("GET", "/v1/handlers/examples", None).await;
    r.call("GET", "/v1/analytics/performance", None).await;
    r.call("GET", "/v1/analytics/bottlenecks", None).await;
    r.call("GET", "/config", None).await;
    r.call("GET", "/health/detailed", None).await;
    r.call_as("GET", "/v1/tasks", None, None).await;
    let weak = Token::with_permissions(&["tasks:read"]).sign();
    r.call_as(
        "POST",
        "/v1/tasks",
        Some(json!({"namespace": "examples", "name": "diamond_math"})),
        Some(weak),
    )
    .await;
    r.call(
        "POST",
        "/v1/tasks",
        Some(json!({"namespace": "examples", "name": "linear_math", "context": {"value": "five"}})),
    )
    .await;

    // Template validation takes YAML, not JSON.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/templates/validate", r.base))
        .bearer_auth(&r.token)
        .header("content-type", "application/yaml")
        .body("name: loop\nnamespace: x\nversion: 1.0.0\nsteps:\n  - name: a\n    handler: { callable: builtin.echo }\n    depends_on: [b]\n  - name: b\n    handler: { callable: builtin.echo }\n    depends_on: [a]\n")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    r.examples.push(Example {
        method: "POST",
        path: "/v1/templates/validate".into(),
        request: Some(json!(
            "(YAML) a template whose steps a and b depend on each other"
        )),
        status,
        response: body,
    });
    r.examples
}

/// Replaces ids and instants with stable placeholders.
fn normalize(value: &Value, ids: &mut BTreeMap<String, String>) -> Value {
    match value {
        Value::String(s) if s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4 => {
            let next = format!("00000000-0000-4000-8000-{:012}", ids.len() + 1);
            Value::String(ids.entry(s.clone()).or_insert(next).clone())
        }
        Value::String(s) if s.starts_with("schedule:") => {
            let id = normalize(&Value::String(s["schedule:".len()..].to_owned()), ids);
            Value::String(format!("schedule:{}", id.as_str().unwrap_or_default()))
        }
        Value::String(s)
            if s.len() >= 20 && s.as_bytes().get(4) == Some(&b'-') && s.contains('T') =>
        {
            Value::String("2026-01-01T00:00:00Z".into())
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| normalize(v, ids)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalize(v, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn normalize_path(path: &str, ids: &BTreeMap<String, String>) -> String {
    ids.iter()
        .fold(path.to_owned(), |p, (real, fake)| p.replace(real, fake))
}

fn render(examples: &[Example]) -> String {
    let mut ids = BTreeMap::new();
    let mut out = String::from(
        "# Orchestration API\n\nEvery route with an example request and response, recorded from a live server (auth enabled, a token \
         holding `*`) and checked by `crates/tasker-server/tests/it/api_docs.rs`. Ids and times are placeholders. \
         Permissions per route are in [auth.md](auth.md); the machine-readable description is served at \
         `GET /api-docs/openapi.json` and fuzzed against live servers by `.ci/api-fuzz` ([api-fuzzing.md](api-fuzzing.md)). \
         Errors always use `{\"error\": \"<code>\", \"message\": \"...\"}`.\n",
    );
    for example in examples {
        let request = example.request.as_ref().map(|r| normalize(r, &mut ids));
        let response = normalize(&example.response, &mut ids);
        let path = normalize_path(&example.path, &ids);
        let _ = write!(out, "\n## {} {}\n\n", example.method, path);
        if let Some(note) = note(example.method, &path) {
            let _ = write!(out, "{note}\n\n");
        }
        if let Some(request) = request {
            let _ = write!(
                out,
                "Request:\n\n```json\n{}\n```\n\n",
                serde_json::to_string_pretty(&request).unwrap()
            );
        }
        let _ = write!(
            out,
            "Response `{}`:\n\n```json\n{}\n```\n",
            example.status,
            serde_json::to_string_pretty(&response).unwrap()
        );
    }
    out
}

/// Prose kept with a route's example in the generated page.
fn note(method: &str, path: &str) -> Option<&'static str> {
    if method == "GET" && path.contains("/logs?") {
        return Some(
            "The stderr lines of one attempt of a step (`attempt`, default the latest), as the \
             worker stored them while the program ran; at most `[worker] step_log_max_bytes` \
             per attempt (default 64 KiB), `truncated: true` past it. Needs `steps:read` in the \
             task's namespace. With `follow=true` (and `Accept: text/event-stream`) the answer \
             is a server-sent event stream: `event: line` per line (`id:` its `seq`, `data:` \
             the line object above), `event: truncated`, and `event: end` with \
             `{\"status\": \"<step state>\", \"truncated\": false}` once the attempt is over \
             ([observability.md](observability.md)).",
        );
    }
    (method == "POST" && path == "/v1/templates/validate").then_some(
        "Limits: a document is at most 256 KiB, nests mappings and sequences at most 32 deep and \
         has at most 1,000 steps. A document past a limit is answered like any invalid template, \
         `200` with `valid: false` and an error naming the limit (`template document is larger \
         than 262144 bytes`, `template document nests deeper than 32 levels`, `template has more \
         than 1000 steps`), never quoting the document. Bodies above `web.max_body_bytes` get \
         `413`. Validation runs off the request executor, two at a time.",
    )
}

/// The JSON type structure of a value: keys and types, not contents.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => json!([items.first().map(shape)]),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// Each documented response: its route heading, its status and its body.
fn documented_responses(doc: &str) -> Vec<(String, u16, Value)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("## ") {
            heading = h.to_owned();
        } else if let Some(rest) = line.strip_prefix("Response `") {
            let status = rest
                .split('`')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{heading}: no status in {line:?}"));
            lines.next();
            lines.next();
            let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((
                heading.clone(),
                status,
                serde_json::from_str(&block.join("\n")).unwrap(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn api_docs_match_the_live_server() {
    let examples = record().await;
    let rendered = render(&examples);
    let path = tasker_testkit::repo_root().join("docs/api.md");
    if std::env::var_os("TASKER_WRITE_API_DOCS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("docs/api.md exists");
    let live = documented_responses(&rendered);
    let documented = documented_responses(&committed);
    let regenerate = "regenerate with TASKER_WRITE_API_DOCS=1 cargo test -p tasker-server api_docs";
    // Routes are compared without their placeholder ids, whose numbering depends on how many
    // ids the recording met before.
    let route = |heading: &str| {
        heading
            .split('/')
            .map(|part| {
                if part.starts_with("00000000-") {
                    "{id}"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    assert_eq!(
        live.iter().map(|(h, _, _)| route(h)).collect::<Vec<_>>(),
        documented
            .iter()
            .map(|(h, _, _)| route(h))
            .collect::<Vec<_>>(),
        "documented routes differ; {regenerate}"
    );
    for ((heading, live_status, live), (_, documented_status, documented)) in
        live.iter().zip(&documented)
    {
        assert_eq!(
            live_status, documented_status,
            "{heading}: status changed; {regenerate}"
        );
        assert_eq!(
            shape(live),
            shape(documented),
            "{heading}: response shape changed; {regenerate}"
        );
    }
    let (server, _config) = crate::start(SERVER, "orchestration", &auth_config("", ""));
    let doc: Value = reqwest::get(server.url("/api-docs/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (method, template, _) in crate::route_table::protected_operations(&doc) {
        let covered = documented.iter().any(|(heading, _, _)| {
            let (m, path) = heading.split_once(' ').unwrap();
            let path = path.split('?').next().unwrap();
            let (a, b): (Vec<&str>, Vec<&str>) =
                (path.split('/').collect(), template.split('/').collect());
            m.eq_ignore_ascii_case(&method)
                && a.len() == b.len()
                && a.iter().zip(&b).all(|(x, y)| x == y || y.starts_with('{'))
        });
        assert!(covered, "docs/api.md has no example of {method} {template}");
    }
}
