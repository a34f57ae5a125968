//! Smoke tests: every subcommand runs in `--quick` mode with tiny sizes against the real
//! binaries and writes a JSON document with the documented keys. No timing is asserted.
//! PostgreSQL cases (`NAME::postgres`) need `TASKER_TEST_DATABASE_URL` (set by `.ci/run`) and
//! are reported as ignored without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// One benchmark at a time: they share two cores and would measure each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn bench(args: &[&str]) -> Value {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let output = Command::new(env!("CARGO_BIN_EXE_tasker-bench"))
        .args(args)
        .arg("--quick")
        .arg("--json")
        .arg(&json)
        .env_remove("TASKER_BENCH_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tasker-bench {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("wrote "),
        "no table/footer printed:\n{stdout}"
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn assert_number(doc: &Value, key: &str) {
    assert!(doc[key].is_number(), "`{key}` is not a number in {doc:#}");
}

#[test]
fn auth_overhead_reports_every_mode_and_the_floor() {
    let doc = bench(&["auth-overhead", "--connections", "2", "--seconds", "0.4"]);
    for mode in ["disabled", "api_key", "jwt_cached", "jwt_cold"] {
        let m = &doc["modes"][mode];
        for key in ["rps", "p50_us", "p99_us"] {
            assert_number(m, key);
        }
        assert!(m["rps"].as_f64().unwrap() > 0.0, "{mode} served nothing");
        if mode != "disabled" {
            assert_number(m, "ratio");
        }
    }
    assert_number(&doc, "rsa_verify_floor_us");
    assert_number(&doc, "jwt_cold_verify_us");
    assert_eq!(
        doc["jwt_cold_cache_miss_fraction"].as_f64(),
        Some(1.0),
        "every cold request must miss the token cache: {doc:#}"
    );
}

fn check_workflow(doc: &Value, shape: &str, store: &str, tasks: u64) {
    assert_eq!(doc["shape"], shape);
    assert_eq!(doc["store"], store);
    assert_eq!(doc["tasks"].as_u64(), Some(tasks));
    for key in [
        "create_p50_ms",
        "create_p99_ms",
        "complete_p50_ms",
        "complete_p95_ms",
        "complete_p99_ms",
        "tasks_per_s",
    ] {
        assert_number(doc, key);
    }
}

#[test]
fn workflow_linear_on_sqlite() {
    let doc = bench(&[
        "workflow", "--shape", "linear", "--store", "sqlite", "--tasks", "3",
    ]);
    check_workflow(&doc, "linear", "sqlite", 3);
}

#[test]
fn workflow_diamond_on_sqlite() {
    let doc = bench(&["workflow", "--shape", "diamond", "--tasks", "3"]);
    check_workflow(&doc, "diamond", "sqlite", 3);
}

tasker_testkit::postgres_tests!(sync: workflow_diamond_on_postgres, throughput_reports_one_point_per_worker_count);

/// The benchmark creates and drops its own databases on the test server.
fn workflow_diamond_on_postgres() {
    let url = tasker_testkit::postgres_url();
    let doc = bench(&[
        "workflow",
        "--shape",
        "diamond",
        "--store",
        "postgres",
        "--tasks",
        "3",
        "--database-url",
        &url,
    ]);
    check_workflow(&doc, "diamond", "postgres", 3);
}

fn throughput_reports_one_point_per_worker_count() {
    let url = tasker_testkit::postgres_url();
    let doc = bench(&[
        "throughput",
        "--store",
        "postgres",
        "--workers",
        "1,2",
        "--tasks",
        "6",
        "--database-url",
        &url,
    ]);
    assert_eq!(doc["store"], "postgres");
    let points = doc["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (point, workers) in points.iter().zip([1, 2]) {
        assert_eq!(point["workers"].as_u64(), Some(workers));
        assert!(point["steps_per_s"].as_f64().unwrap() > 0.0, "{point}");
    }
}

#[test]
fn throughput_refuses_sqlite() {
    let output = Command::new(env!("CARGO_BIN_EXE_tasker-bench"))
        .args(["throughput", "--store", "sqlite", "--quick"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PostgreSQL only"));
}

#[test]
fn console_list_reports_three_pages() {
    let doc = bench(&["console-list", "--tasks", "300", "--requests", "3"]);
    assert_eq!(doc["benchmark"], "console-list");
    assert_eq!(doc["tasks"], 300);
    let pages = doc["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3);
    for page in pages {
        for key in [
            "server_p50_ms",
            "server_p95_ms",
            "round_trip_p50_ms",
            "round_trip_p95_ms",
        ] {
            assert_number(page, key);
        }
    }
}
