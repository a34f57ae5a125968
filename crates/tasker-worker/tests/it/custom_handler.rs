//! The `custom_handler` example (a user's own worker binary with a Rust handler) runs the
//! steps of a `tasker-server` that has no embedded worker.

use std::process::{Child, Command, Stdio};

use serde_json::json;
use tasker_testkit::{ServerProcess, TestConfig};

use crate::{create_task, get_json, server_binary, wait_for_task};

/// The example binary, killed on drop.
struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_worker_binary_of_your_own_runs_its_rust_handler() {
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .with_file_name("examples")
        .join("custom_handler");
    assert!(
        example.exists(),
        "{} is missing: `cargo test` builds it (or `cargo build --example custom_handler -p tasker-worker`)",
        example.display()
    );
    let config = TestConfig::new().with_search_path(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/templates"),
    );
    config.write(
        "base/orchestration.toml",
        "[orchestration]\nembedded_worker = false\npoll_interval_ms = 50\n",
    );
    config.write(
        "base/worker.toml",
        "[worker]\nid = \"my-own-worker\"\npoll_interval_ms = 50\n",
    );
    let server = ServerProcess::start(&server_binary(), &config, &[]);
    let _worker = Example(
        Command::new(&example)
            .env("TASKER_CONFIG_ROOT", config.root())
            .env_remove("TASKER_ENV")
            .env_remove("TASKER_CONFIG_PATH")
            .env_remove("DATABASE_URL")
            .current_dir(config.root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let task = create_task(&server, "greeting", json!({"name": "Ada"})).await;
    wait_for_task(&server, &task, &["complete"]).await;
    let context = get_json(&server, &format!("/v1/tasks/{task}/context")).await;
    assert_eq!(
        context["step_results"]["greet"],
        json!({"message": "Hello, Ada!", "attempt": 1})
    );
    assert_eq!(
        context["step_results"]["echo"]["parent_results"]["greet"]["message"],
        "Hello, Ada!"
    );
}
