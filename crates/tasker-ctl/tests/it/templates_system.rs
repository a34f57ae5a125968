//! `template …` and `system …` against live servers, in both formats.

use serde_json::Value;
use tasker_testkit::{ServerProcess, TestConfig, binary};

use crate::live::{self, admin_token};
use crate::support::Ctl;

const CYCLE: &str = r#"name: loop
namespace: ops
version: 1.0.0
steps:
  - name: a
    handler: { callable: builtin.echo }
    depends_on: [b]
  - name: b
    handler: { callable: builtin.echo }
    depends_on: [a]
"#;

#[test]
fn templates_are_listed_shown_and_validated() {
    let live = live::start();

    let (table, json) = live.both(&["template", "list"]);
    assert!(table.starts_with("NAMESPACE"), "{table}");
    for name in [
        "linear_math",
        "diamond_math",
        "fan_out_math",
        "flaky_retry",
        "broken",
    ] {
        assert!(table.contains(name), "{table}");
        assert!(
            json.as_array().unwrap().iter().any(|t| t["name"] == name),
            "{json}"
        );
    }

    let (table, json) = live.both(&["template", "get", "examples", "diamond_math", "1.0.0"]);
    assert!(table.contains("examples/diamond_math 1.0.0"), "{table}");
    assert!(table.contains("builtin.multiply"), "{table}");
    assert!(table.contains("double,triple"), "{table}");
    assert_eq!(json["steps"].as_array().unwrap().len(), 4);
    assert_eq!(json["input_schema"]["required"][0], "value");

    let valid = live.config.write("valid.yaml", tasker_testkit::BROKEN);
    let valid = valid.to_str().unwrap();
    let (table, json) = live.both(&["template", "validate", valid]);
    assert!(table.trim_end().ends_with(": valid"), "{table}");
    assert_eq!(json["valid"], true);
    assert_eq!(json["errors"].as_array().unwrap().len(), 0);

    let invalid = live.config.write("cycle.yaml", CYCLE);
    let invalid = invalid.to_str().unwrap();
    let token = admin_token();
    let out = live.ctl(&token, &["template", "validate", invalid]);
    assert!(out.stdout.contains(": invalid"), "{}", out.stdout);
    assert!(out.stdout.contains("  - "), "{}", out.stdout);
    let line = live::one_error_line(out);
    assert!(line.contains("is not a valid template"), "{line}");
    let out = live
        .ctl(
            &token,
            &["template", "validate", invalid, "--format", "json"],
        )
        .expect_code(1);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert!(
        report["errors"][0].as_str().unwrap().contains("cycle"),
        "{report}"
    );

    let line = live::one_error_line(live.ctl(&token, &["template", "get", "ops", "nope", "1.0.0"]));
    assert!(line.starts_with("error: not found (404)"), "{line}");
}

#[test]
fn system_health_analytics_and_handlers() {
    let live = live::start();
    live.ctl(
        &admin_token(),
        &[
            "task",
            "create",
            "--namespace",
            "examples",
            "--name",
            "linear_math",
            "--context",
            r#"{"value": 1}"#,
            "--wait",
        ],
    )
    .expect_code(0);

    let (table, json) = live.both(&["system", "health"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("status:") && l.ends_with("healthy")),
        "{table}"
    );
    assert!(table.contains("checks.store:"), "{table}");
    assert_eq!(json["status"], "healthy");

    let (table, json) = live.both(&["system", "analytics"]);
    assert!(table.contains("tasks_created:"), "{table}");
    assert_eq!(json["tasks_created"], 1);
    assert_eq!(json["tasks_completed"], 1);
    let (table, json) = live.both(&["system", "analytics", "--bottlenecks"]);
    assert!(table.starts_with("slowest steps"), "{table}");
    assert!(table.contains("linear_math"), "{table}");
    assert!(json["slowest_steps"].is_array() && json["error_prone_steps"].is_array());

    let (table, json) = live.both(&["system", "handlers"]);
    assert!(table.starts_with("NAMESPACE"), "{table}");
    assert!(table.contains("builtin.add"), "{table}");
    let examples = json
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["namespace"] == "examples")
        .unwrap();
    assert!(
        examples["templates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "diamond_math@1.0.0"),
        "{examples}"
    );
    let (table, json) = live.both(&["system", "handlers", "ops"]);
    assert!(table.contains("builtin.fail"), "{table}");
    assert_eq!(json["namespace"], "ops");
}

#[test]
fn worker_health_comes_from_the_worker_url() {
    // The config root holds the worker's database: it lives as long as the worker.
    let config = TestConfig::new();
    let worker = ServerProcess::start(&binary("tasker-worker"), &config, &[]);
    let dir = tempfile::TempDir::new().unwrap();
    // The orchestration URL points nowhere: only the worker is asked.
    let run = |format: &str| {
        Ctl::new(dir.path())
            .env("TASKER_ORCHESTRATION_URL", "http://127.0.0.1:9")
            .args(["system", "health", "--worker", "--format", format])
            .args(["--worker-url", &worker.base_url])
            .run()
            .expect_code(0)
    };
    let table = run("table");
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("status:") && l.ends_with("healthy")),
        "{}",
        table.stdout
    );
    let json: Value = serde_json::from_str(&run("json").stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"status": "healthy", "checks": {"store": "ok"}})
    );
    // The worker's details come from /health/detailed (open here: auth is off).
    let detailed = Ctl::new(dir.path())
        .env("TASKER_ORCHESTRATION_URL", "http://127.0.0.1:9")
        .args([
            "system",
            "health",
            "--worker",
            "--detailed",
            "--format",
            "json",
        ])
        .args(["--worker-url", &worker.base_url])
        .run()
        .expect_code(0);
    let json: Value = serde_json::from_str(&detailed.stdout).unwrap();
    assert_eq!(json["status"], "healthy");
    assert_eq!(json["role"], "worker");
    assert!(
        json["worker_id"].is_string() && json["handlers"].is_array(),
        "{json}"
    );
}
