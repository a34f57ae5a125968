//! The standalone worker: its API's route table, template validation against its handlers,
//! health, and running the steps of a server that has no embedded worker.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasker_testkit::{ServerProcess, TestConfig, Token};

use crate::*;

const EXPECTED: &[(&str, &str, &str)] = &[
    ("get", "/v1/templates", "worker:templates_read"),
    (
        "get",
        "/v1/templates/{namespace}/{name}/{version}",
        "worker:templates_read",
    ),
    (
        "post",
        "/v1/templates/{namespace}/{name}/{version}/validate",
        "templates:validate",
    ),
    ("get", "/config", "worker:config_read"),
    ("get", "/health/detailed", "worker:config_read"),
];

const UNKNOWN_HANDLER: &str = "name: exotic\nnamespace: examples\nversion: 2.0.0\nsteps:\n  - name: a\n    handler: { callable: custom.unheard_of }\n";

fn shared_config(role_extra: &str) -> TestConfig {
    let config = TestConfig::new()
        .with_examples()
        .with_template("exotic.yaml", UNKNOWN_HANDLER);
    config.write(
        "base/worker.toml",
        &auth_config(
            "",
            &format!("[worker]\npoll_interval_ms = 50\nid = \"worker-under-test\"\n{role_extra}"),
        ),
    );
    config.write(
        "base/orchestration.toml",
        &auth_config(
            "",
            "[orchestration]\nembedded_worker = false\npoll_interval_ms = 50\n",
        ),
    );
    config
}

#[tokio::test]
async fn worker_routes_are_protected_and_validate_against_its_handlers() {
    let config = shared_config("");
    let worker = ServerProcess::start(&crate::worker_binary_path(), &config, &[]);
    let doc: Value = get(&worker, "/api-docs/openapi.json", &[])
        .await
        .json()
        .await
        .unwrap();
    let operations = crate::route_table::protected_operations(&doc);
    let found: BTreeSet<_> = operations.iter().cloned().collect();
    let expected: BTreeSet<_> = EXPECTED
        .iter()
        .map(|(m, p, q)| (m.to_string(), p.to_string(), q.to_string()))
        .collect();
    assert_eq!(found, expected);
    crate::route_table::walk(&worker.base_url, &operations).await;

    let token = Token::with_permissions(&["worker:templates_read", "templates:validate"]).sign();
    let auth = format!("Bearer {token}");
    let list: Value = get(&worker, "/v1/templates", &[("Authorization", &auth)])
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"diamond_math") && names.contains(&"exotic"),
        "{names:?}"
    );
    let ok = reqwest::Client::new()
        .post(worker.url("/v1/templates/examples/diamond_math/1.0.0/validate"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({"valid": true, "errors": []})
    );
    let bad: Value = reqwest::Client::new()
        .post(worker.url("/v1/templates/examples/exotic/2.0.0/validate"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["valid"], false);
    assert_eq!(
        bad["errors"],
        json!(["handler `custom.unheard_of` is not registered on this worker"])
    );

    let health: Value = get(&worker, "/health", &[]).await.json().await.unwrap();
    assert_eq!(
        health,
        json!({"status": "healthy", "checks": {"store": "ok"}})
    );
    let token = Token::with_permissions(&["worker:config_read"]).sign();
    let detail: Value = get(
        &worker,
        "/health/detailed",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(detail["status"], "healthy");
    assert_eq!(detail["role"], "worker");
    assert_eq!(detail["worker_id"], "worker-under-test");
    assert_eq!(detail["namespaces"], json!([]));
    assert_eq!(detail["running_steps"], json!([]));
    assert_eq!(detail["checks"]["store"], "ok");
}

#[tokio::test]
async fn a_separate_worker_process_runs_the_servers_tasks() {
    let config = shared_config("namespaces = [\"examples\"]\n");
    let server = ServerProcess::start(SERVER, &config, &[]);
    let token =
        Token::with_permissions(&["tasks:create", "tasks:read", "tasks:context_read"]).sign();
    let created: Value = reqwest::Client::new()
        .post(server.url("/v1/tasks"))
        .bearer_auth(&token)
        .json(&json!({"namespace": "examples", "name": "linear_math", "context": {"value": 1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["task_uuid"].as_str().unwrap().to_owned();
    // The server has no embedded worker: the worker process's claim count below shows that
    // it, and nothing else, ran all four steps.
    let worker = ServerProcess::start(&crate::worker_binary_path(), &config, &[]);
    server.wait_for_task(&id, &["complete"], Some(&token)).await;
    let context: Value = reqwest::Client::new()
        .get(server.url(&format!("/v1/tasks/{id}/context")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        context["step_results"]["double"],
        json!({"value": 16}),
        "((1 + 2) * 3 - 1) * 2"
    );

    let metrics = get(&worker, "/metrics", &[]).await.text().await.unwrap();
    for line in [
        r#"tasker_worker_steps_total{result="claimed"} 4"#,
        r#"tasker_worker_steps_total{result="completed"} 4"#,
        "tasker_worker_running_steps 0",
        r#"tasker_worker_handler_duration_seconds_count{handler="builtin.add"} 2"#,
        "tasker_worker_buffered_steps 0",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    // The store's own counters: claims, results and their reads took statements.
    for counter in [
        "tasker_store_statements_total",
        "tasker_store_transactions_total",
    ] {
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(counter)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {counter} in:\n{metrics}"));
        assert!(value >= 4.0, "{counter} {value}");
    }
}
