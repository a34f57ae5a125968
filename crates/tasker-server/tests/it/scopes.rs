//! Namespace scopes through the real binaries: every protected operation of both servers
//! (read from their own OpenAPI documents), asked about a resource of namespace `alpha` by four
//! principals — unscoped (`*`), scoped to `alpha`, scoped to `beta`, and holding nothing
//! relevant — with JWTs and with API keys. PRODUCT 12: allowed / allowed / 404, 403 or a
//! filtered list / 403.

use std::collections::BTreeMap;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tasker_testkit::{ServerProcess, TestConfig, Token};

use crate::route_table::protected_operations;
use crate::*;

const TEMPLATE: &str = "name: job\nnamespace: NS\nversion: 1.0.0\nsteps:\n\
  - {name: first, handler: {callable: builtin.echo}}\n\
  - {name: breaks, handler: {callable: builtin.fail, initialization: {times: 100, retryable: false}}, depends_on: [first], retry: {retryable: false, max_attempts: 1}}\n";

/// The four principals: name, permission strings.
const PRINCIPALS: &[(&str, &[&str])] = &[
    ("unscoped", &["*"]),
    ("alpha", &["*@alpha", "system:*", "worker:config_read"]),
    ("beta", &["*@beta", "system:*", "worker:config_read"]),
    ("none", &["system:handlers_read"]),
];

/// A principal holding `*@alpha` alone (not walked over every route).
const ALPHA_ONLY: (&str, &[&str]) = ("alpha-only", &["*@alpha"]);

fn keys_toml() -> String {
    PRINCIPALS
        .iter()
        .map(|(name, permissions)| {
            format!(
                "[[web.auth.api_keys]]\nkey = \"sk-scope-{name}\"\ndescription = \"{name}\"\npermissions = {}\n",
                serde_json::to_string(permissions).unwrap()
            )
        })
        .collect()
}

fn role_file() -> String {
    format!(
        "[web]\nconfig_endpoint_enabled = true\n[web.auth]\nenabled = true\n\
         jwt_verification_method = \"public_key\"\njwt_public_key_path = \"{}\"\n{}",
        tasker_testkit::fixture("rsa-a-public.pem").display(),
        keys_toml()
    )
}

fn config() -> TestConfig {
    let config = TestConfig::new();
    config.write("tasks/alpha.yaml", &TEMPLATE.replace("NS", "alpha"));
    // Beta's job succeeds, so every DLQ entry is alpha's.
    config.write(
        "tasks/beta.yaml",
        "name: job\nnamespace: beta\nversion: 1.0.0\nsteps:\n  - {name: first, handler: {callable: builtin.echo}}\n",
    );
    config.write(
        "base/common.toml",
        &format!(
            "[database]\nurl = \"sqlite://{root}/tasker.db\"\n[templates]\nsearch_paths = [\"{root}/tasks\"]\n",
            root = config.root().display()
        ),
    );
    config.write(
        "base/orchestration.toml",
        &format!(
            "{}[orchestration]\npoll_interval_ms = 50\n[worker]\npoll_interval_ms = 50\n",
            role_file()
        ),
    );
    config.write("base/worker.toml", &role_file());
    config
}

/// How a principal authenticates.
#[derive(Clone, Copy, Debug)]
enum Via {
    Jwt,
    ApiKey,
}

async fn call(
    base: &str,
    via: Via,
    principal: &str,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> (StatusCode, Value) {
    let permissions = PRINCIPALS
        .iter()
        .chain([&ALPHA_ONLY])
        .find(|(n, _)| *n == principal)
        .unwrap()
        .1;
    let mut request = Client::new().request(
        Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
        format!("{base}{path}"),
    );
    request = match via {
        Via::Jwt => request.bearer_auth(Token::with_permissions(permissions).sign()),
        Via::ApiKey => request.header("X-API-Key", format!("sk-scope-{principal}")),
    };
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Ids of the `alpha` resources the requests are about.
struct Fixture {
    task: String,
    step: String,
    entry: String,
    schedule: String,
}

/// A schedule of `alpha` (created again after each successful delete of it).
async fn seed_schedule(base: &str) -> String {
    let body = json!({"namespace": "alpha", "name": "job", "cron": "@yearly"}).to_string();
    let (status, schedule) = call(
        base,
        Via::ApiKey,
        "unscoped",
        "post",
        "/v1/schedules",
        Some(("application/json", body)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{schedule}");
    schedule["schedule_uuid"].as_str().unwrap().to_owned()
}

async fn seed(base: &str) -> Fixture {
    let (status, task) = call(
        base,
        Via::ApiKey,
        "unscoped",
        "post",
        "/v1/tasks",
        Some((
            "application/json",
            json!({"namespace": "alpha", "name": "job", "context": {"k": 1}}).to_string(),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let id = task["task_uuid"].as_str().unwrap().to_owned();
    let entries = tasker_testkit::eventually(
        "the alpha task's DLQ entry",
        tasker_testkit::HANG_GUARD,
        async || {
            let (_, entries) = call(
                base,
                Via::ApiKey,
                "unscoped",
                "get",
                &format!("/v1/dlq/task/{id}"),
                None,
            )
            .await;
            if entries.as_array().is_some_and(|e| !e.is_empty()) {
                Ok(entries)
            } else {
                Err(entries)
            }
        },
    )
    .await;
    // A beta task too, so filtered lists have something to leave out.
    let beta = json!({"namespace": "beta", "name": "job", "context": {}}).to_string();
    let (status, _) = call(
        base,
        Via::ApiKey,
        "unscoped",
        "post",
        "/v1/tasks",
        Some(("application/json", beta)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, steps) = call(
        base,
        Via::ApiKey,
        "unscoped",
        "get",
        &format!("/v1/tasks/{id}/workflow_steps"),
        None,
    )
    .await;
    Fixture {
        step: steps[1]["step_uuid"].as_str().unwrap().to_owned(),
        entry: entries[0]["dlq_entry_uuid"].as_str().unwrap().to_owned(),
        task: id,
        schedule: seed_schedule(base).await,
    }
}

/// The concrete request for an operation about the `alpha` resources.
fn request(method: &str, template: &str, f: &Fixture) -> (String, Option<(&'static str, String)>) {
    let path = template
        .replace("{task_uuid}", &f.task)
        .replace("{step_uuid}", &f.step)
        .replace("{dlq_entry_uuid}", &f.entry)
        .replace("{schedule_uuid}", &f.schedule)
        .replace("{namespace}", "alpha")
        .replace("{name}", "job")
        .replace("{version}", "1.0.0");
    let body = match (method, template) {
        ("post", "/v1/tasks") => Some((
            "application/json",
            json!({"namespace": "alpha", "name": "job", "context": {}}).to_string(),
        )),
        ("post", "/v1/schedules") => Some((
            "application/json",
            json!({"namespace": "alpha", "name": "job", "cron": "@daily"}).to_string(),
        )),
        ("patch", "/v1/schedules/{schedule_uuid}") => Some((
            "application/json",
            json!({"description": "seen"}).to_string(),
        )),
        ("post", "/v1/templates/validate") => {
            Some(("application/yaml", TEMPLATE.replace("NS", "alpha")))
        }
        ("patch", "/v1/dlq/entry/{dlq_entry_uuid}") => Some((
            "application/json",
            json!({"resolution_notes": "seen"}).to_string(),
        )),
        ("post", "/v1/tasks/{task_uuid}/rerun") => Some((
            "application/json",
            json!({"from_step": "first", "reason": "scope check", "dry_run": true}).to_string(),
        )),
        ("post", "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/signal") => Some((
            "application/json",
            json!({"decision": "approve"}).to_string(),
        )),
        ("patch", _) => Some((
            "application/json",
            json!({"action_type": "reset_for_retry", "reason": "again"}).to_string(),
        )),
        _ => None,
    };
    (path, body)
}

/// Whether a list answer mentions an `alpha` resource.
fn mentions_alpha(body: &Value, f: &Fixture) -> bool {
    let text = body.to_string();
    text.contains(&f.task) || text.contains("\"alpha\"")
}

async fn check_server(binary: &str, role: &str, config: &TestConfig, f: &mut Fixture) -> usize {
    let server = ServerProcess::start(binary, config, &[("TASKER_ENV", "development")]);
    let base = server.base_url.clone();
    let (_, doc) = call(
        &base,
        Via::ApiKey,
        "unscoped",
        "get",
        "/api-docs/openapi.json",
        None,
    )
    .await;
    let operations = protected_operations(&doc);
    let mut checked = 0;
    for (method, template, permission) in &operations {
        let scopable = !permission.starts_with("system:") && permission != "worker:config_read";
        let item = template.contains('{');
        // A trigger, a rerun and a signal are posts about an existing item, not creations.
        let creates = *method == "post"
            && !["/trigger", "/rerun", "/signal"]
                .iter()
                .any(|end| template.ends_with(end));
        for via in [Via::Jwt, Via::ApiKey] {
            for (principal, _) in PRINCIPALS {
                let (path, body) = request(method, template, f);
                let (status, answer) = call(&base, via, principal, method, &path, body).await;
                let deletes_schedule =
                    *method == "delete" && template.starts_with("/v1/schedules/");
                if deletes_schedule && status.is_success() {
                    f.schedule = seed_schedule(&base).await;
                }
                let what = format!(
                    "{role} {via:?} {principal} {} {template}: {status} {answer}",
                    method.to_uppercase()
                );
                let holds_anywhere = match *principal {
                    "unscoped" => true,
                    "alpha" | "beta" => true,
                    _ => permission == "system:handlers_read",
                };
                if !holds_anywhere {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    assert_eq!(
                        answer["message"],
                        format!("Missing required permission: {permission}"),
                        "{what}"
                    );
                } else if !scopable
                    || matches!(*principal, "unscoped" | "alpha")
                    || *principal == "none"
                {
                    // Past auth and visible: a repeated cancel or step action may conflict.
                    // A rerun of a task still running, or a signal to a step that is not
                    // waiting, conflicts too: the route ran past the scope check.
                    let repeat = (matches!(method.as_str(), "delete" | "patch")
                        || template.ends_with("/rerun")
                        || template.ends_with("/signal"))
                        && status == StatusCode::CONFLICT;
                    assert!(status.is_success() || repeat, "{what}");
                } else if creates {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    assert_eq!(
                        answer["message"],
                        format!("Missing required permission: {permission}@alpha"),
                        "{what}"
                    );
                } else if item && !template.starts_with("/v1/handlers") {
                    assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
                    assert_eq!(answer["error"], "not_found", "{what}");
                } else {
                    assert!(status.is_success(), "{what}");
                    assert!(!mentions_alpha(&answer, f), "{what}: a list leaks alpha");
                }
                let listing = ["/v1/tasks", "/v1/dlq", "/v1/templates", "/v1/schedules"]
                    .contains(&template.as_str());
                if matches!(*principal, "unscoped" | "alpha") && listing && *method == "get" {
                    assert!(mentions_alpha(&answer, f), "{what}: the list misses alpha");
                }
                checked += 1;
            }
        }
    }
    checked
}

#[tokio::test]
async fn every_route_follows_the_callers_namespaces_on_both_servers() {
    let config = config();
    let server = ServerProcess::start(SERVER, &config, &[]);
    let mut f = seed(&server.base_url).await;
    // Totals count only visible tasks; a filter outside the scope is an empty list.
    let (_, list) = call(&server.base_url, Via::Jwt, "beta", "get", "/v1/tasks", None).await;
    assert_eq!(list["pagination"]["total_count"], 1, "{list}");
    let (_, list) = call(
        &server.base_url,
        Via::Jwt,
        "beta",
        "get",
        "/v1/tasks?namespace=alpha",
        None,
    )
    .await;
    assert_eq!(list["pagination"]["total_count"], 0, "{list}");
    // `*@alpha` never reaches a global permission.
    let (status, body) = call(
        &server.base_url,
        Via::Jwt,
        "alpha-only",
        "get",
        "/v1/handlers",
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("Missing required permission: system:handlers_read")
        )
    );
    let (_, stats) = call(
        &server.base_url,
        Via::ApiKey,
        "beta",
        "get",
        "/v1/dlq/stats",
        None,
    )
    .await;
    assert_eq!(stats, json!([]), "beta sees no DLQ entry");
    let (_, stats) = call(
        &server.base_url,
        Via::ApiKey,
        "alpha",
        "get",
        "/v1/dlq/stats",
        None,
    )
    .await;
    assert_eq!(stats[0]["total"], 1, "{stats}");
    // A reader without tasks:context_read in alpha gets the task without its context.
    let (_, task) = call(
        &server.base_url,
        Via::ApiKey,
        "alpha",
        "get",
        &format!("/v1/tasks/{}", f.task),
        None,
    )
    .await;
    assert_eq!(task["context"], json!({"k": 1}));
    drop(server);

    let mut counts = BTreeMap::new();
    counts.insert(
        "orchestration",
        check_server(SERVER, "orchestration", &config, &mut f).await,
    );
    counts.insert(
        "worker",
        check_server(&worker_binary_path(), "worker", &config, &mut f).await,
    );
    // Both servers were walked, every operation by 4 principals by 2 methods.
    assert!(counts["orchestration"] >= 24 * 8, "{counts:?}");
    assert!(counts["worker"] >= 3 * 8, "{counts:?}");
}
