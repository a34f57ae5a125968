//! A live orchestration server with auth on (fixture key, two API keys), the example
//! templates plus test templates, and `tasker-ctl` runs against it with credentials in the
//! child's environment, checked never to echo them.

use serde_json::{Value, json};
use tasker_testkit::{
    BROKEN, HANG_GUARD, SLOW, ServerProcess, TestConfig, Token, binary, eventually_blocking,
    fixture,
};

use crate::support::{Ctl, Output};

/// API key with only `tasks:read` and `dlq:stats`.
pub(crate) const MONITOR_KEY: &str = "sk-test-monitor-key";

pub(crate) struct Live {
    pub(crate) server: ServerProcess,
    pub(crate) config: TestConfig,
}

/// Starts `tasker-server` with auth on and the example and test templates.
pub(crate) fn start() -> Live {
    let config = TestConfig::new()
        .with_examples()
        .with_template("broken.yaml", BROKEN)
        .with_template("slow.yaml", SLOW)
        .backoff(10, 50);
    start_on(config, "")
}

/// Starts `tasker-server` over `config` with auth on (the fixture key and the monitor key),
/// fast polling, and `worker` added to its `[worker]` section.
pub(crate) fn start_on(config: TestConfig, worker: &str) -> Live {
    config.write(
        "base/orchestration.toml",
        &format!(
            r#"[orchestration]
poll_interval_ms = 50
[worker]
poll_interval_ms = 50
{worker}
[web.auth]
enabled = true
jwt_verification_method = "public_key"
jwt_public_key_path = "{}"
[[web.auth.api_keys]]
key = "{MONITOR_KEY}"
permissions = ["tasks:read", "dlq:stats"]
description = "Monitor key"
"#,
            fixture("rsa-a-public.pem").display()
        ),
    );
    let server = ServerProcess::start(&binary("tasker-server"), &config, &[]);
    Live { server, config }
}

/// A token for subject `operator` with every permission.
pub(crate) fn admin_token() -> String {
    token(&["*"])
}

/// A token for subject `operator` with `permissions`.
pub(crate) fn token(permissions: &[&str]) -> String {
    Token::with_permissions(permissions)
        .claim("sub", json!("operator"))
        .sign()
}

impl Live {
    /// `tasker-ctl --url <server> <args>` with `TASKER_AUTH_TOKEN=<token>`; asserts the token
    /// appears in neither output stream.
    pub(crate) fn ctl(&self, token: &str, args: &[&str]) -> Output {
        let output = Ctl::new(self.config.root())
            .env("TASKER_AUTH_TOKEN", token)
            .args(["--url", &self.server.base_url])
            .args(args)
            .run();
        assert_no_secret(&output, token);
        output
    }

    /// Runs `args` as admin, once as a table and once as JSON; both must succeed. Returns the
    /// table text and the parsed JSON.
    pub(crate) fn both(&self, args: &[&str]) -> (String, Value) {
        let token = admin_token();
        let table = self.ctl(&token, args).expect_code(0);
        assert!(!table.stdout.trim().is_empty(), "{args:?}: empty table");
        let mut json_args = args.to_vec();
        json_args.extend(["--format", "json"]);
        let json = self.ctl(&token, &json_args).expect_code(0);
        let value = serde_json::from_str(&json.stdout)
            .unwrap_or_else(|e| panic!("{args:?} --format json: {e}\n{}", json.stdout));
        (table.stdout, value)
    }

    /// `task get --format json` as admin.
    pub(crate) fn task(&self, task: &str) -> Value {
        let out = self
            .ctl(&admin_token(), &["task", "get", task, "--format", "json"])
            .expect_code(0);
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// Polls the task until it reaches `status`.
    pub(crate) fn wait_for(&self, task: &str, status: &str) -> Value {
        eventually_blocking(&format!("task {task} to be {status}"), HANG_GUARD, || {
            let view = self.task(task);
            if view["status"] == status {
                Ok(view)
            } else {
                Err(view)
            }
        })
    }

    /// Creates a task (no wait) as admin and returns its id.
    pub(crate) fn create(&self, namespace: &str, name: &str, context: &str) -> String {
        let out = self
            .ctl(
                &admin_token(),
                &[
                    "task",
                    "create",
                    "--namespace",
                    namespace,
                    "--name",
                    name,
                    "--context",
                    context,
                    "--format",
                    "json",
                ],
            )
            .expect_code(0);
        let task: Value = serde_json::from_str(&out.stdout).unwrap();
        task["task_uuid"].as_str().unwrap().to_owned()
    }

    /// The id of the task's step called `name`.
    pub(crate) fn step(&self, task: &str, name: &str) -> String {
        let out = self
            .ctl(&admin_token(), &["task", "steps", task, "--format", "json"])
            .expect_code(0);
        let steps: Value = serde_json::from_str(&out.stdout).unwrap();
        steps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name} in {steps}"))["step_uuid"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Neither stream holds `secret`.
pub(crate) fn assert_no_secret(output: &Output, secret: &str) {
    assert!(
        !output.stdout.contains(secret) && !output.stderr.contains(secret),
        "a credential was printed"
    );
}

/// A failure: exit 1 and exactly one line on stderr, starting with `error: `; returns it.
pub(crate) fn one_error_line(output: Output) -> String {
    let output = output.expect_code(1);
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr:\n{}", output.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    lines[0].to_owned()
}
