//! Schedules through the real binary: fires survive `kill -9` and a restart exactly once each,
//! every answer of the schedule routes uses the envelope, and the fire metrics are exported.

use std::collections::HashSet;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tasker_testkit::{HANG_GUARD, ServerProcess, TestConfig, Token, eventually};

use crate::*;

async fn send(
    server: &ServerProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let token = Token::with_permissions(&["*"]).sign();
    let mut request = Client::new()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn runs(server: &ServerProcess, id: &str) -> Vec<Value> {
    let (status, runs) = send(
        server,
        reqwest::Method::GET,
        &format!("/v1/schedules/{id}/runs?limit=100"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    runs.as_array().unwrap().clone()
}

async fn wait_runs(server: &ServerProcess, id: &str, at_least: usize) {
    eventually("schedule runs", HANG_GUARD, async || {
        let n = runs(server, id).await.len();
        if n >= at_least { Ok(()) } else { Err(n) }
    })
    .await;
}

#[tokio::test]
async fn fires_survive_kill_9_once_each_and_are_counted() {
    let config = TestConfig::new().with_examples();
    config.write("base/orchestration.toml", &auth_config("", ""));
    let first = ServerProcess::start(SERVER, &config, &[]);
    let (status, body) = send(
        &first,
        reqwest::Method::POST,
        "/v1/schedules",
        Some(json!({
            "namespace": "examples", "name": "diamond_math", "cron": "* * * * * *",
            "context": {"value": 1}, "catchup": "all"
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["schedule_uuid"].as_str().unwrap().to_owned();
    wait_runs(&first, &id, 3).await;

    let metrics = get(&first, "/metrics", &[]).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tasker_schedule_fires_total{result="fired"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("tasker_schedule_fire_lag_seconds_bucket{le=\"1\"}"),
        "{metrics}"
    );

    first.signal("KILL");
    let second = ServerProcess::start(SERVER, &config, &[]);
    wait_runs(&second, &id, 6).await;
    let (status, _) = send(
        &second,
        reqwest::Method::PATCH,
        &format!("/v1/schedules/{id}"),
        Some(json!({"paused": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &second,
        reqwest::Method::POST,
        &format!("/v1/schedules/{id}/trigger"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let metrics = get(&second, "/metrics", &[]).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tasker_schedule_fires_total{result="triggered"} 1"#),
        "{metrics}"
    );

    // Every second from the first fire to the last is there once: the ones the killed server
    // missed were caught up (`catchup: all`), none twice.
    let all = runs(&second, &id).await;
    let fired: Vec<&Value> = all.iter().filter(|r| r["result"] == "fired").collect();
    let mut times: Vec<chrono::DateTime<chrono::Utc>> = fired
        .iter()
        .map(|r| r["scheduled_for"].as_str().unwrap().parse().unwrap())
        .collect();
    times.sort();
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::Duration::seconds(1), "{times:?}");
    }
    let tasks: HashSet<&str> = all.iter().filter_map(|r| r["task_uuid"].as_str()).collect();
    assert_eq!(tasks.len(), all.len());
    let task = &fired[0]["task_uuid"];
    let (_, view) = send(
        &second,
        reqwest::Method::GET,
        &format!("/v1/tasks/{}", task.as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(view["created_by"], format!("schedule:{id}"));
    assert_eq!(view["tags"], json!([format!("schedule:{id}")]));
    assert_eq!(view["scheduled_for"], fired[0]["scheduled_for"]);
}

#[tokio::test]
async fn bad_schedules_get_the_envelope_naming_the_field() {
    let config = TestConfig::new().with_examples();
    config.write("base/orchestration.toml", &auth_config("", ""));
    let server = ServerProcess::start(SERVER, &config, &[]);
    let post = |body: Value| send(&server, reqwest::Method::POST, "/v1/schedules", Some(body));
    let (status, body) = post(json!({"namespace": "examples", "name": "diamond_math", "cron": "* * *", "context": {"value": 1}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "unprocessable");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("cron: `* * *` has 3 fields"),
        "{body}"
    );
    let (status, body) = post(json!({"namespace": "examples", "name": "diamond_math", "cron": "@daily", "timezone": "Europe/Nowhere", "context": {"value": 1}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("timezone: `Europe/Nowhere`"),
        "{body}"
    );
    let (status, body) =
        post(json!({"namespace": "examples", "name": "nope", "cron": "@daily"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{body}"
    );
    let (status, body) = post(json!({"namespace": "examples", "name": "diamond_math", "cron": "@daily", "context": {"value": "x"}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = send(
        &server,
        reqwest::Method::GET,
        "/v1/schedules/00000000-0000-4000-8000-000000000001",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{body}"
    );
    let (status, body) = send(
        &server,
        reqwest::Method::GET,
        "/v1/schedules/not-a-uuid/runs?limit=500",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
