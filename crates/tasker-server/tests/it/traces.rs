//! OpenTelemetry traces across processes, checked by a real OTLP/HTTP receiver
//! (`otlp_receiver`): a task created with the caller's `traceparent` is one trace from the API
//! span of the server through every step a separate worker process runs, the step's program
//! gets `TRACEPARENT`, JSON log lines carry the ids, and both processes export what they still
//! hold when SIGTERM stops them. Without an endpoint nothing is sent, even with the OTLP
//! environment variables pointing at the receiver.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tasker_testkit::{Backend, ServerProcess, TestConfig, Token};

use crate::otlp_receiver::{ExportedSpan, OtlpReceiver};
use crate::*;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A `builtin.command` step answering with the `TRACEPARENT` it was given.
const ECHO: &str = r#"name: traceparent_echo
namespace: examples
version: 1.0.0
steps:
  - name: echo
    handler: { callable: builtin.command, initialization: { program: sh, args: ["-c", "printf '{\"traceparent\": \"%s\"}' \"$TRACEPARENT\""] } }
"#;

tasker_testkit::on_each_backend!(crate::traces::with_database =>
    one_trace_from_the_caller_through_every_step_of_a_worker_process,
    nothing_is_exported_without_an_endpoint,
    a_failed_export_is_logged,
);

pub(crate) async fn with_database<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    on_database(backend, "trace-db-password", test).await;
}

/// A server without an embedded worker and a worker process sharing `database`, both with
/// `role_extra` in their files.
fn two_processes(database: &Option<String>, role_extra: &str) -> TestConfig {
    let mut config = TestConfig::new()
        .with_examples()
        .with_template("traceparent_echo.yaml", ECHO);
    if let Some(url) = database {
        config = config.database(url);
    }
    config.write(
        "base/orchestration.toml",
        &auth_config(
            "",
            &format!(
                "{role_extra}\n[orchestration]\nembedded_worker = false\npoll_interval_ms = 50\n"
            ),
        ),
    );
    config.write(
        "base/worker.toml",
        &auth_config(
            "",
            &format!("{role_extra}\n[worker]\npoll_interval_ms = 50\n"),
        ),
    );
    config
}

/// Creates `name` with the caller's `traceparent` and waits until it completes.
async fn run_traced(server: &ServerProcess, token: &str, name: &str, context: Value) -> String {
    let response = reqwest::Client::new()
        .post(server.url("/v1/tasks"))
        .bearer_auth(token)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({"namespace": "examples", "name": name, "context": context}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["task_uuid"].as_str().unwrap().to_owned();
    server.wait_for_task(&id, &["complete"], Some(token)).await;
    id
}

/// Stops a process with SIGTERM and waits for a clean exit.
async fn terminate(mut process: ServerProcess) -> String {
    process.signal("TERM");
    let code = process.wait_for_exit().await;
    assert_eq!(code, Some(0), "{}", process.logs());
    process.logs()
}

fn one<'a>(
    spans: &'a [ExportedSpan],
    what: &str,
    keep: impl Fn(&ExportedSpan) -> bool,
) -> &'a ExportedSpan {
    let found: Vec<&ExportedSpan> = spans.iter().filter(|s| keep(s)).collect();
    assert_eq!(found.len(), 1, "one {what} expected: {found:#?}");
    found[0]
}

async fn one_trace_from_the_caller_through_every_step_of_a_worker_process(
    database: Option<String>,
) {
    let receiver = OtlpReceiver::start().await;
    let config = two_processes(
        &database,
        &format!(
            "[telemetry]\notlp_endpoint = \"{}\"\n[logging]\nformat = \"json\"\nlevel = \"info,tasker_worker=debug\"\n",
            receiver.url
        ),
    );
    let server = ServerProcess::start(SERVER, &config, &[]);
    let worker = ServerProcess::start(&worker_binary_path(), &config, &[]);
    let token = Token::with_permissions(&[
        "tasks:create",
        "tasks:read",
        "tasks:context_read",
        "steps:read",
    ])
    .claim("sub", json!("trace-caller"))
    .sign();
    let diamond = run_traced(&server, &token, "diamond_math", json!({"value": 5})).await;
    let echo = run_traced(&server, &token, "traceparent_echo", json!({})).await;
    let steps = server
        .get_json(&format!("/v1/tasks/{diamond}/workflow_steps"), Some(&token))
        .await;
    let step_ids: BTreeSet<String> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(step_ids.len(), 4);
    let echoed = server
        .get_json(&format!("/v1/tasks/{echo}/context"), Some(&token))
        .await;
    // The batch processor exports on its schedule and on shutdown; wait for the server's two
    // creation spans rather than rely on the final flush alone (bounded, not timed).
    for _ in 0..600 {
        let created = receiver
            .spans()
            .iter()
            .filter(|s| s.service() == "tasker-server" && s.name == "POST /v1/tasks")
            .count();
        if created >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let server_logs = terminate(server).await;
    let worker_logs = terminate(worker).await;
    let spans = receiver.spans();

    // The API span: a child of the caller's span, named by the route template.
    let api = one(&spans, "API span of the diamond's creation", |s| {
        s.service() == "tasker-server"
            && s.name == "POST /v1/tasks"
            && s.attr("http.response.status_code") == Some("201")
            && spans.iter().any(|c| {
                c.parent_span_id == s.span_id
                    && c.name == "store.create_task"
                    && c.attr("task_uuid") == Some(diamond.as_str())
            })
    });
    assert_eq!(api.trace_id, CALLER_TRACE);
    assert_eq!(api.parent_span_id, CALLER_SPAN);
    assert_eq!(api.attr("http.route"), Some("/v1/tasks"));
    assert_eq!(api.attr("http.request.method"), Some("POST"));
    assert_eq!(api.attr("subject"), Some("trace-caller"));
    let auth = one(&spans, "auth span of the creation", |s| {
        s.name == "auth" && s.parent_span_id == api.span_id
    });
    assert_eq!(auth.attr("auth.method"), Some("jwt"));
    assert_eq!(auth.attr("auth.result"), Some("allowed"));
    assert_eq!(auth.attr("auth.permission"), Some("tasks:create"));

    // Four step executions on the worker process, children of the API span.
    let executions: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| s.name.starts_with("step ") && s.attr("task_uuid") == Some(diamond.as_str()))
        .collect();
    let names: BTreeSet<&str> = executions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["step start", "step double", "step triple", "step join"])
    );
    assert_eq!(executions.len(), 4, "{executions:#?}");
    let executed: BTreeSet<String> = executions
        .iter()
        .map(|s| s.attr("step_uuid").unwrap().to_owned())
        .collect();
    assert_eq!(executed, step_ids);
    for execution in &executions {
        assert_eq!(execution.service(), "tasker-worker");
        assert_eq!(execution.trace_id, CALLER_TRACE);
        assert_eq!(execution.parent_span_id, api.span_id);
        assert_eq!(execution.attr("outcome"), Some("completed"));
        for child in ["step.handler", "step.record_result"] {
            one(&spans, child, |s| {
                s.name == child && s.parent_span_id == execution.span_id
            });
        }
        let recording = one(&spans, "step.record_result", |s| {
            s.name == "step.record_result" && s.parent_span_id == execution.span_id
        });
        // Written alone under the step's recording span, or in a batch of the worker's
        // reporter whose span names the step.
        let step_uuid = execution.attr("step_uuid").unwrap();
        let stored: Vec<&ExportedSpan> = spans
            .iter()
            .filter(|s| {
                (s.name == "store.record_result" && s.parent_span_id == recording.span_id)
                    || (s.name == "store.record_results"
                        && s.attr("step_uuids")
                            .is_some_and(|ids| ids.split(',').any(|id| id == step_uuid)))
            })
            .collect();
        assert_eq!(
            stored.len(),
            1,
            "one store write of {step_uuid}: {stored:#?}"
        );
    }
    // Claims that took work are exported on the worker; idle polls are not.
    let claims: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| s.name == "store.claim_steps")
        .collect();
    assert!(!claims.is_empty());
    assert!(
        claims.iter().all(|c| c.attr("claimed") != Some("0")),
        "{claims:#?}"
    );

    // Each process names itself; the instances differ.
    let server_resource = &api.resource;
    let worker_resource = &executions[0].resource;
    assert_eq!(
        server_resource["service.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        worker_resource["service.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_ne!(
        server_resource["service.instance.id"],
        worker_resource["service.instance.id"]
    );

    // The program got the trace context of its handler span.
    let handler = one(&spans, "echo's handler span", |s| {
        s.name == "step.handler" && s.attr("task_uuid") == Some(echo.as_str())
    });
    assert_eq!(
        echoed["step_results"]["echo"]["traceparent"],
        json!(format!("00-{CALLER_TRACE}-{}-01", handler.span_id))
    );

    // No raw path with an id is a span name or route.
    let raw = String::from_utf8_lossy(&receiver.raw()).into_owned();
    assert!(
        !raw.contains(&format!("/v1/tasks/{diamond}")),
        "a raw path was exported"
    );
    assert!(!raw.contains(&token), "the token was exported");

    // JSON log lines inside spans carry the ids OpenTelemetry exported.
    let line_in = |logs: &str, message: &str| -> Value {
        logs.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["fields"]["message"] == message && l["trace_id"] == CALLER_TRACE)
            .unwrap_or_else(|| panic!("no traced `{message}` line in:\n{logs}"))
    };
    let authenticated = line_in(&server_logs, "authenticated");
    assert!(
        spans
            .iter()
            .any(|s| s.name == "auth" && json!(s.span_id) == authenticated["span_id"]),
        "{authenticated}"
    );
    let recorded = line_in(&worker_logs, "result recorded");
    assert!(
        spans
            .iter()
            .any(|s| s.name == "step.record_result" && json!(s.span_id) == recorded["span_id"]),
        "{recorded}"
    );
}

async fn nothing_is_exported_without_an_endpoint(database: Option<String>) {
    let receiver = OtlpReceiver::start().await;
    let config = two_processes(&database, "");
    let endpoint = receiver.url.clone();
    let traces = format!("{endpoint}/v1/traces");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
        ("OTEL_TRACES_EXPORTER", "otlp"),
    ];
    let server = ServerProcess::start(SERVER, &config, &env);
    let worker = ServerProcess::start(&worker_binary_path(), &config, &env);
    let token =
        Token::with_permissions(&["tasks:create", "tasks:read", "tasks:context_read"]).sign();
    let echo = run_traced(&server, &token, "traceparent_echo", json!({})).await;
    run_traced(&server, &token, "diamond_math", json!({"value": 5})).await;
    let echoed = server
        .get_json(&format!("/v1/tasks/{echo}/context"), Some(&token))
        .await;
    terminate(server).await;
    terminate(worker).await;
    assert_eq!(receiver.requests(), 0);
    // Untraced, the program gets no trace context.
    assert_eq!(echoed["step_results"]["echo"], json!({"traceparent": ""}));
}

async fn a_failed_export_is_logged(database: Option<String>) {
    // A port nothing listens on: every export is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let config = two_processes(
        &database,
        &format!("[telemetry]\notlp_endpoint = \"{endpoint}\"\n"),
    );
    let server = ServerProcess::start(SERVER, &config, &[]);
    let token = Token::with_permissions(&["tasks:list"]).sign();
    let (status, _) = server.get("/v1/tasks", Some(&token)).await;
    assert_eq!(status, 200);
    // The spans still queued are exported at shutdown, and that export fails.
    let logs = terminate(server).await;
    assert!(
        logs.lines().any(
            |l| l.contains("opentelemetry_sdk") && l.contains("BatchSpanProcessor.ExportError")
        ),
        "{logs}"
    );
    assert!(!logs.contains(&token), "the token was logged");
}
