//! Every file the loader reads — layers, `TASKER_CONFIG_PATH`, the public key, `*_file`
//! secrets — must be a regular file of at most 1 MiB; anything else fails at once with an
//! error naming the path and the key, never the content.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use tasker_config::{ConfigError, Env, LoadOptions, Loaded, MAX_FILE_BYTES, OrchestrationConfig};

use crate::{Root, no_env, public_key_pem};

/// Generous deadline separating "refused" from "hangs" (a FIFO open or `/dev/zero` read).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// The hostile files, each with the reason the error must give.
fn hostile_files(root: &Root) -> Vec<(PathBuf, &'static str)> {
    let fifo = root.path().join("fifo.pem");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let dir = root.path().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let big = root.write(
        "big.pem",
        &"A".repeat(usize::try_from(MAX_FILE_BYTES).unwrap() + 1),
    );
    vec![
        (
            PathBuf::from("/dev/zero"),
            "it is a device, not a regular file",
        ),
        (fifo, "it is a FIFO, not a regular file"),
        (dir, "it is a directory, not a regular file"),
        (big, "larger than 1 MiB"),
    ]
}

/// Loads on another thread so that a hang fails the test instead of blocking it.
fn load_guarded(
    options: LoadOptions,
    env: Env,
) -> Result<Loaded<OrchestrationConfig>, ConfigError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Loaded::<OrchestrationConfig>::load(&options, &env));
    });
    rx.recv_timeout(HANG_GUARD)
        .expect("hang guard: loading did not return")
}

fn assert_refused(
    result: Result<Loaded<OrchestrationConfig>, ConfigError>,
    path: &Path,
    reason: &str,
    key: Option<&str>,
) {
    let err = result
        .expect_err("a hostile file must be refused")
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains(reason), "{err}");
    if let Some(key) = key {
        assert!(err.contains(key), "{err}");
    }
    assert!(!err.contains("AAAA"), "the content leaked: {err}");
}

#[test]
fn hostile_public_key_paths_are_refused() {
    let root = Root::new();
    for (path, reason) in hostile_files(&root) {
        root.write(
            "base/orchestration.toml",
            &format!(
                "[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\n",
                path.display()
            ),
        );
        let result = load_guarded(root.options("development"), no_env());
        assert_refused(result, &path, reason, Some("web.auth.jwt_public_key_path"));
    }
}

#[test]
fn hostile_secret_files_are_refused() {
    let root = Root::new();
    for (path, reason) in hostile_files(&root) {
        for (section, key) in [
            (
                format!(
                    "[web.auth]\njwt_private_key_file = \"{}\"\n",
                    path.display()
                ),
                "web.auth.jwt_private_key_file",
            ),
            (
                format!(
                    "[[web.auth.api_keys]]\nkey_file = \"{}\"\npermissions = []\ndescription = \"k\"\n",
                    path.display()
                ),
                "web.auth.api_keys[0].key_file",
            ),
        ] {
            root.write("base/orchestration.toml", &section);
            let result = load_guarded(root.options("development"), no_env());
            assert_refused(result, &path, reason, Some(key));
        }
    }
}

#[test]
fn hostile_configuration_files_are_refused() {
    let root = Root::new();
    for (path, reason) in hostile_files(&root) {
        let options = LoadOptions {
            config_path: Some(path.clone()),
            ..root.options("development")
        };
        assert_refused(load_guarded(options, no_env()), &path, reason, None);
    }
    // A layer that is a FIFO (or a directory) where a file is expected.
    let layer = root.path().join("base/orchestration.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&layer)
        .status()
        .unwrap();
    assert!(made.success());
    assert_refused(
        load_guarded(root.options("development"), no_env()),
        &layer,
        "it is a FIFO, not a regular file",
        None,
    );
}

#[test]
fn a_key_of_exactly_the_limit_is_read() {
    let root = Root::new();
    let pem = public_key_pem();
    let padding = usize::try_from(MAX_FILE_BYTES).unwrap() - pem.len();
    let key = root.write("key.pem", &format!("{pem}{}", "\n".repeat(padding)));
    root.write(
        "base/orchestration.toml",
        &format!(
            "[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\n",
            key.display()
        ),
    );
    load_guarded(root.options("development"), no_env()).unwrap();
}
