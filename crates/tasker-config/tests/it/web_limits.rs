//! The connection limits of `[web]`: documented defaults, the same in both roles and in the
//! repository's base files, and nonsensical values refused naming the key.

use tasker_config::{Loaded, OrchestrationConfig, WebConfig, WorkerConfig};

use crate::{Root, no_env};

const KEYS: [&str; 4] = [
    "header_read_timeout_ms",
    "idle_timeout_seconds",
    "write_timeout_seconds",
    "max_connections",
];

fn limits(web: &WebConfig) -> [u64; 4] {
    [
        web.header_read_timeout_ms,
        web.idle_timeout_seconds,
        web.write_timeout_seconds,
        web.max_connections as u64,
    ]
}

#[test]
fn defaults_are_the_documented_ones_in_both_roles() {
    let root = Root::new();
    root.write("base/common.toml", "");
    let expected = [10_000, 60, 30, 1024];
    assert_eq!(
        limits(&root.orchestration(&no_env()).unwrap().config.web),
        expected
    );
    assert_eq!(
        limits(&root.worker(&no_env()).unwrap().config.web),
        expected
    );
    assert_eq!(limits(&WebConfig::default()), expected);
}

#[test]
fn the_repository_base_files_state_the_defaults() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tasker");
    let options = tasker_config::LoadOptions {
        config_root: root,
        environment: "development".to_owned(),
        config_path: None,
    };
    for role in ["orchestration", "worker"] {
        let file = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../config/tasker/base/{role}.toml")),
        )
        .unwrap();
        for key in KEYS {
            assert!(
                file.contains(&format!("\n{key} = ")),
                "{role}.toml lacks {key}"
            );
        }
    }
    let orchestration = Loaded::<OrchestrationConfig>::load(&options, &no_env()).unwrap();
    let worker = Loaded::<WorkerConfig>::load(&options, &no_env()).unwrap();
    assert_eq!(
        limits(&orchestration.config.web),
        limits(&WebConfig::default())
    );
    assert_eq!(limits(&worker.config.web), limits(&WebConfig::default()));
}

#[test]
fn configured_values_are_used() {
    let root = Root::new();
    root.write(
        "base/worker.toml",
        "[web]\nheader_read_timeout_ms = 250\nidle_timeout_seconds = 5\n\
         write_timeout_seconds = 7\nmax_connections = 3\n",
    );
    let loaded = root.worker(&no_env()).unwrap();
    assert_eq!(limits(&loaded.config.web), [250, 5, 7, 3]);
}

#[test]
fn zero_too_large_and_negative_values_are_refused_naming_the_key() {
    let too_large = [3_600_001_u64, 86_401, 86_401, (1 << 20) + 1];
    for (key, too_large) in KEYS.into_iter().zip(too_large) {
        for value in [0, too_large] {
            let root = Root::new();
            let file = root.write(
                "base/orchestration.toml",
                &format!("[web]\n{key} = {value}\n"),
            );
            let err = root.orchestration(&no_env()).unwrap_err().to_string();
            assert!(err.contains(&format!("web.{key}")), "{err}");
            assert!(err.contains("must be between 1 and"), "{err}");
            assert!(err.contains(&file.display().to_string()), "{err}");
        }
        let root = Root::new();
        root.write("base/worker.toml", &format!("[web]\n{key} = -1\n"));
        let err = root.worker(&no_env()).unwrap_err().to_string();
        assert!(err.contains(&format!("web.{key}")), "{err}");
    }
}
