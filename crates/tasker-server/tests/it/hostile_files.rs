//! Both servers refuse, at once and by name, a key or configuration path that is not a regular
//! file of at most 1 MiB: `/dev/zero`, a FIFO with no writer, a directory, a file one byte too
//! large. Each run is bounded by the hang guard, so a startup that blocks fails the test.

use std::path::{Path, PathBuf};

use tasker_testkit::{TestConfig, run_to_exit_guarded};

use crate::binaries;

fn hostile_files(config: &TestConfig) -> Vec<(PathBuf, &'static str)> {
    let fifo = config.root().join("fifo.pem");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let dir = config.root().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let big = config.write("big.pem", &"A".repeat(1024 * 1024 + 1));
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

fn assert_refused(code: Option<i32>, stderr: &str, path: &Path, reason: &str) {
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains(reason), "{stderr}");
    assert!(
        !stderr.contains("AAAA") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn hostile_public_key_paths_stop_both_servers_at_once() {
    for (binary, role, _) in binaries() {
        let config = TestConfig::new();
        for (path, reason) in hostile_files(&config) {
            config.write(
                &format!("base/{role}.toml"),
                &format!(
                    "[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\n",
                    path.display()
                ),
            );
            let (code, stderr) = run_to_exit_guarded(binary, &config, &[]);
            assert_refused(code, &stderr, &path, reason);
            assert!(stderr.contains("web.auth.jwt_public_key_path"), "{stderr}");
        }
    }
}

#[test]
fn hostile_key_files_and_config_paths_stop_the_server() {
    let (binary, role, _) = binaries()[0];
    let config = TestConfig::new();
    for (path, reason) in hostile_files(&config) {
        config.write(
            &format!("base/{role}.toml"),
            &format!(
                "[[web.auth.api_keys]]\nkey_file = \"{}\"\npermissions = []\ndescription = \"k\"\n",
                path.display()
            ),
        );
        let (code, stderr) = run_to_exit_guarded(binary, &config, &[]);
        assert_refused(code, &stderr, &path, reason);
        assert!(stderr.contains("web.auth.api_keys[0].key_file"), "{stderr}");

        let variable = path.display().to_string();
        let (code, stderr) =
            run_to_exit_guarded(binary, &config, &[("TASKER_CONFIG_PATH", &variable)]);
        assert_refused(code, &stderr, &path, reason);
    }
}
