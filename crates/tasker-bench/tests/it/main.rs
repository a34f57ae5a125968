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
    check_floor(&doc["floor"]);
    assert_number(doc, "complete_p50_in_commit_round_trips");
    for key in ["complete_p50_max_ms", "create_p50_max_ms"] {
        assert_number(&doc["targets"], key);
    }
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

tasker_testkit::postgres_tests!(sync: workflow_diamond_on_postgres, throughput_reports_one_point_per_worker_count, floors_on_postgres, all_reports_every_target, fanout_on_postgres, dispatch_on_postgres);

fn check_fanout(doc: &Value, store: &str, copies: u64) {
    assert_eq!(doc["benchmark"], "fanout");
    assert_eq!(doc["store"], store);
    assert_eq!(doc["copies"].as_u64(), Some(copies));
    for key in [
        "client_seconds",
        "server_seconds",
        "floor_one_copy_seconds",
        "copies_per_second",
        "server_peak_rss_kib",
    ] {
        assert_number(doc, key);
    }
}

#[test]
fn fanout_on_sqlite() {
    let doc = bench(&["fanout", "--copies", "20"]);
    check_fanout(&doc, "sqlite", 20);
}

fn fanout_on_postgres() {
    let url = tasker_testkit::postgres_url();
    let doc = bench(&[
        "fanout",
        "--store",
        "postgres",
        "--copies",
        "20",
        "--database-url",
        &url,
    ]);
    check_fanout(&doc, "postgres", 20);
}

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
    check_floor(&doc["floor"]);
    for (point, workers) in points.iter().zip([1, 2]) {
        assert_eq!(point["workers"].as_u64(), Some(workers));
        assert!(point["steps_per_s"].as_f64().unwrap() > 0.0, "{point}");
        assert!(point["ratio_to_floor"].as_f64().unwrap() > 0.0, "{point}");
        // Each of the 24 steps takes at least its claim and its result transaction.
        let per_step = point["transactions_per_step"].as_f64().unwrap();
        assert!(per_step >= 2.0, "{point}");
        // The processes' own counters saw the drain's statements.
        assert!(
            point["statements_per_step"].as_f64().unwrap() > 0.0,
            "{point}"
        );
        assert!(
            point["store_transactions_per_step"].as_f64().unwrap() > 0.0,
            "{point}"
        );
    }
}

/// A paced run: every step of the warm-up and paced tasks is a sample, and the wait until the
/// claim is part of the whole wait.
fn check_dispatch(doc: &Value, store: &str) {
    assert_eq!(doc["benchmark"], "dispatch");
    assert_eq!(doc["store"], store);
    assert_eq!(doc["rate_steps_per_s"].as_f64(), Some(40.0));
    // 10 warm-up tasks and 40 steps/s for 1 s (10 linear tasks), 4 steps each.
    assert_eq!(doc["samples"].as_u64(), Some(80), "{doc:#}");
    assert_eq!(doc["resolution_ms"].as_u64(), Some(1));
    let p50 = doc["dispatch_p50_ms"].as_f64().unwrap();
    let p99 = doc["dispatch_p99_ms"].as_f64().unwrap();
    assert!(p50 >= 0.0 && p99 >= p50, "{doc:#}");
    assert!(doc["dispatch_max_ms"].as_f64().unwrap() >= p99, "{doc:#}");
    assert!(
        doc["ready_to_claimed_p50_ms"].as_f64().unwrap() <= p50 + 1.0,
        "{doc:#}"
    );
    assert!(
        doc["offered_steps_per_s"].as_f64().unwrap() > 0.0,
        "{doc:#}"
    );
}

#[test]
fn dispatch_on_sqlite() {
    let doc = bench(&["dispatch", "--store", "sqlite", "--rate", "40"]);
    check_dispatch(&doc, "sqlite");
}

fn dispatch_on_postgres() {
    let url = tasker_testkit::postgres_url();
    let doc = bench(&[
        "dispatch",
        "--store",
        "postgres",
        "--rate",
        "40",
        "--database-url",
        &url,
    ]);
    check_dispatch(&doc, "postgres");
}

#[test]
fn dispatch_refuses_a_rate_that_is_not_positive() {
    let output = Command::new(env!("CARGO_BIN_EXE_tasker-bench"))
        .args(["dispatch", "--store", "sqlite", "--rate", "0", "--quick"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--rate must be a positive number of steps per second"),
        "{stderr}"
    );
}

fn check_floor(floor: &Value) {
    assert!(
        floor["claim_complete_rows_per_s"].as_f64().unwrap() > 0.0,
        "the floor claimed nothing: {floor}"
    );
    assert_eq!(floor["claim_complete_connections"].as_u64(), Some(4));
    assert_eq!(
        floor["claim_complete_rows_per_statement"].as_u64(),
        Some(16)
    );
    let (p50, p99) = (
        floor["commit_p50_ms"].as_f64().unwrap(),
        floor["commit_p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p99 >= p50, "commit percentiles: {floor}");
}

#[test]
fn floors_on_sqlite() {
    let doc = bench(&["floors", "--store", "sqlite"]);
    assert_eq!(doc["store"], "sqlite");
    check_floor(&doc["floor"]);
}

fn floors_on_postgres() {
    let url = tasker_testkit::postgres_url();
    let doc = bench(&["floors", "--store", "postgres", "--database-url", &url]);
    assert_eq!(doc["store"], "postgres");
    check_floor(&doc["floor"]);
}

#[test]
fn throughput_on_sqlite_drains_with_the_embedded_worker() {
    let doc = bench(&["throughput", "--store", "sqlite", "--tasks", "6"]);
    assert_eq!(doc["store"], "sqlite");
    check_floor(&doc["floor"]);
    let points = doc["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{doc:#}");
    assert_eq!(points[0]["embedded_worker"], true);
    assert_eq!(points[0]["steps"].as_u64(), Some(24));
    let ratio = points[0]["ratio_to_floor"].as_f64().unwrap();
    assert!(ratio > 0.0, "{doc:#}");
    assert!(points[0]["transactions_per_step"].is_null(), "{doc:#}");
    assert!(
        points[0]["statements_per_step"].as_f64().unwrap() > 0.0,
        "{doc:#}"
    );
}

/// `all` runs the whole suite and lists every PRODUCT 9 target it measures, met or not.
fn all_reports_every_target() {
    let url = tasker_testkit::postgres_url();
    let doc = bench(&["all", "--database-url", &url]);
    assert_eq!(doc["workflow"].as_array().unwrap().len(), 4);
    assert_eq!(doc["throughput"].as_array().unwrap().len(), 2);
    assert_eq!(doc["dispatch"].as_array().unwrap().len(), 2);
    let targets = doc["targets"].as_array().unwrap();
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    for expected in [
        "api_key throughput / disabled",
        "jwt_cached throughput / disabled",
        "cold RS256 verify / raw RSA-2048 verify",
        "linear on sqlite: create → complete p50 ms",
        "diamond on postgres: creation p50 ms",
        "throughput on sqlite / claim+complete floor",
        "throughput on postgres / claim+complete floor",
        "dispatch on sqlite at half of peak: p50 ms",
        "dispatch on postgres at half of peak: p99 ms",
    ] {
        assert!(names.contains(&expected), "no {expected:?} in {names:?}");
    }
    for t in targets {
        assert!(t["measured"].is_number() && t["met"].is_boolean(), "{t}");
    }
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
