//! Failures an operator meets: each is one clear line on stderr with exit 1 (2 for usage
//! errors), never a panic, never a credential; credentials and URLs come from the environment
//! the way the client resolves them, and flags override it.

use tasker_testkit::closed_port_url;

use crate::live::{self, MONITOR_KEY, admin_token, assert_no_secret, one_error_line, token};
use crate::support::Ctl;

const UNKNOWN_TASK: &str = "6f1d2c3e-0000-4000-8000-000000000001";

#[test]
fn an_unreachable_server_is_one_line() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = closed_port_url();
    let secret = admin_token();
    for args in [
        vec!["task", "list"],
        vec!["system", "health"],
        vec!["dlq", "stats", "--format", "json"],
    ] {
        let out = Ctl::new(dir.path())
            .env("TASKER_AUTH_TOKEN", &secret)
            .args(["--url", &url])
            .args(&args)
            .run();
        assert_no_secret(&out, &secret);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        let line = one_error_line(out);
        assert!(
            line.starts_with(&format!("error: cannot reach {url}: connection refused")),
            "{line}"
        );
    }
    // The same through TASKER_ORCHESTRATION_URL.
    let out = Ctl::new(dir.path())
        .env("TASKER_ORCHESTRATION_URL", &url)
        .args(["task", "get", UNKNOWN_TASK])
        .run();
    assert!(one_error_line(out).contains(&url));
}

#[test]
fn bad_input_and_refusals_are_one_line_each() {
    let live = live::start();
    let admin = admin_token();

    let line = one_error_line(live.ctl(
        &admin,
        &[
            "task",
            "create",
            "--namespace",
            "examples",
            "--name",
            "diamond_math",
            "--context",
            "{value: 5",
        ],
    ));
    assert!(
        line.starts_with("error: invalid JSON in --context: "),
        "{line}"
    );
    let line = one_error_line(live.ctl(
        &admin,
        &[
            "task",
            "create",
            "--namespace",
            "examples",
            "--name",
            "diamond_math",
            "--context",
            "[1]",
        ],
    ));
    assert_eq!(line, "error: --context must be a JSON object");

    let line = one_error_line(live.ctl(&admin, &["task", "get", UNKNOWN_TASK]));
    assert!(line.starts_with("error: not found (404): "), "{line}");
    let line =
        one_error_line(live.ctl(&admin, &["task", "steps", UNKNOWN_TASK, "--format", "json"]));
    assert!(line.starts_with("error: not found (404): "), "{line}");

    let line = one_error_line(live.ctl(
        &admin,
        &[
            "task",
            "create",
            "--namespace",
            "examples",
            "--name",
            "diamond_math",
            "--context",
            r#"{"value": "five"}"#,
        ],
    ));
    assert!(
        line.starts_with("error: request refused (422 unprocessable): "),
        "{line}"
    );

    let reader = token(&["tasks:read"]);
    let line = one_error_line(live.ctl(
        &reader,
        &[
            "task",
            "create",
            "--namespace",
            "examples",
            "--name",
            "diamond_math",
            "--context",
            r#"{"value": 5}"#,
        ],
    ));
    assert_eq!(
        line,
        "error: forbidden (403): Missing required permission: tasks:create"
    );
    let line = one_error_line(live.ctl(&reader, &["dlq", "list", "--format", "json"]));
    assert_eq!(
        line,
        "error: forbidden (403): Missing required permission: dlq:read"
    );

    // Created, but the token cannot read it back: the line says the task exists.
    let creator = token(&["tasks:create"]);
    let out = live
        .ctl(
            &creator,
            &[
                "task",
                "create",
                "--namespace",
                "examples",
                "--name",
                "diamond_math",
                "--context",
                r#"{"value": 5}"#,
                "--wait",
            ],
        )
        .expect_code(1);
    // The creation's progress line, then the error.
    let line = out.stderr.lines().last().unwrap();
    assert!(line.starts_with("error: task "), "{line}");
    assert!(
        line.ends_with(
            " was created, but following it failed: forbidden (403): Missing required \
             permission: tasks:read"
        ),
        "{line}"
    );

    // No credentials at all.
    let out = Ctl::new(live.config.root())
        .args(["--url", &live.server.base_url, "task", "list"])
        .run();
    assert_eq!(
        one_error_line(out),
        "error: not authenticated (401): Missing authentication credentials — set \
         TASKER_AUTH_TOKEN, TASKER_API_KEY or TASKER_JWT_PRIVATE_KEY_PATH"
    );
    // A token the server does not accept.
    let forged = tasker_testkit::Token::with_permissions(&["*"])
        .signed_by("rsa-b-private.pem")
        .sign();
    let out = live.ctl(&forged, &["task", "list"]);
    let line = one_error_line(out);
    assert!(
        line.starts_with("error: not authenticated (401): "),
        "{line}"
    );
}

#[test]
fn credentials_and_urls_come_from_the_environment() {
    let live = live::start();
    // An API key in TASKER_API_KEY: its permissions apply, it is never printed.
    let with_key = |args: &[&str]| {
        let out = Ctl::new(live.config.root())
            .env("TASKER_ORCHESTRATION_URL", &live.server.base_url)
            .env("TASKER_API_KEY", MONITOR_KEY)
            .args(args)
            .run();
        assert_no_secret(&out, MONITOR_KEY);
        out
    };
    with_key(&["dlq", "stats"]).expect_code(0);
    let line = one_error_line(with_key(&["dlq", "list"]));
    assert_eq!(
        line,
        "error: forbidden (403): Missing required permission: dlq:read"
    );

    // A private key: the CLI mints its own token with the subject and permissions given.
    let out = Ctl::new(live.config.root())
        .env("TASKER_ORCHESTRATION_URL", &live.server.base_url)
        .env(
            "TASKER_JWT_PRIVATE_KEY_PATH",
            tasker_testkit::fixture("rsa-a-private.pem"),
        )
        .env("TASKER_JWT_SUBJECT", "ci-bot")
        .env("TASKER_JWT_PERMISSIONS", "tasks:create,tasks:read")
        .args([
            "task",
            "create",
            "--namespace",
            "examples",
            "--name",
            "linear_math",
        ])
        .args(["--context", r#"{"value": 1}"#, "--wait", "--format", "json"])
        .run()
        .expect_code(0);
    let task: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(task["created_by"], "ci-bot");
    assert_eq!(task["status"], "complete");
    assert!(!out.stdout.contains("eyJ") && !out.stderr.contains("eyJ"));

    // The endpoint token beats TASKER_AUTH_TOKEN; --url beats TASKER_ORCHESTRATION_URL.
    let admin = admin_token();
    let weak = token(&["tasks:read"]);
    let out = Ctl::new(live.config.root())
        .env("TASKER_ORCHESTRATION_URL", "http://127.0.0.1:9")
        .env("TASKER_ORCHESTRATION_AUTH_TOKEN", &admin)
        .env("TASKER_AUTH_TOKEN", &weak)
        .args([
            "--url",
            &live.server.base_url,
            "dlq",
            "list",
            "--format",
            "json",
        ])
        .run();
    assert_no_secret(&out, &admin);
    assert_no_secret(&out, &weak);
    let out = out.expect_code(0);
    assert_eq!(out.stdout.trim(), "[]");
}

#[test]
fn credentials_bound_for_plain_http_beyond_loopback_are_warned_about() {
    let dir = tempfile::TempDir::new().unwrap();
    let secret = admin_token();
    // 0.0.0.0 is not a loopback address, and nothing listens on the port.
    let url = closed_port_url().replace("127.0.0.1", "0.0.0.0");
    let out = Ctl::new(dir.path())
        .env("TASKER_AUTH_TOKEN", &secret)
        .args(["--url", &url, "task", "list"])
        .run();
    assert_no_secret(&out, &secret);
    let out = out.expect_code(1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(
        lines[0].starts_with(&format!(
            "warning: credentials will be sent over plain HTTP to {url}"
        )),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("error: cannot reach"), "{}", lines[1]);
    // Without credentials there is nothing to warn about.
    let out = Ctl::new(dir.path())
        .args(["--url", &url, "task", "list"])
        .run();
    one_error_line(out);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::TempDir::new().unwrap();
    for args in [
        vec!["task", "get", "not-a-uuid"],
        vec!["task", "create", "--namespace", "examples"],
        vec![
            "task",
            "create",
            "--namespace",
            "n",
            "--name",
            "x",
            "--context",
            "{}",
            "--context-file",
            "f",
        ],
        vec!["task", "list", "--format", "yaml"],
        vec!["dlq", "update", UNKNOWN_TASK],
        vec!["task", "resolve-step", UNKNOWN_TASK, UNKNOWN_TASK],
        vec!["system", "nonsense"],
    ] {
        let out = Ctl::new(dir.path()).args(&args).run();
        assert_eq!(out.code, 2, "{args:?}\n{}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
