//! `tasker-ctl` refuses, at once and by name, a configuration or key path that is not a
//! regular file of at most 1 MiB (`/dev/zero`, a FIFO with no writer, a directory, a file one
//! byte too large) instead of hanging or reading without end. Bounded by the hang guard.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use tasker_testkit::TestConfig;

use crate::support::Ctl;

fn hostile_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo.pem");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let directory = dir.join("a-directory");
    std::fs::create_dir(&directory).unwrap();
    let big = dir.join("big.pem");
    std::fs::write(&big, "A".repeat(1024 * 1024 + 1)).unwrap();
    vec![
        (
            PathBuf::from("/dev/zero"),
            "it is a device, not a regular file",
        ),
        (fifo, "it is a FIFO, not a regular file"),
        (directory, "it is a directory, not a regular file"),
        (big, "larger than 1 MiB"),
    ]
}

fn assert_refused((code, stderr): (Option<i32>, String), path: &Path, reason: &str) {
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains(reason), "{stderr}");
    assert!(
        !stderr.contains("AAAA") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn config_validate_refuses_hostile_key_paths() {
    let files = TempDir::new().unwrap();
    for (path, reason) in hostile_files(files.path()) {
        let role_file = format!(
            "[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\n",
            path.display()
        );
        let root = TestConfig::with_files(&[
            ("base/common.toml", "[logging]\nlevel = \"info\"\n"),
            ("base/orchestration.toml", &role_file),
        ]);
        let out = Ctl::new(root.root())
            .args(["config", "validate", "--config-root"])
            .args([root.root()])
            .run_guarded();
        assert!(out.1.contains("web.auth.jwt_public_key_path"), "{}", out.1);
        assert_refused(out, &path, reason);
    }
}

#[test]
fn config_validate_refuses_hostile_config_files() {
    let files = TempDir::new().unwrap();
    for (path, reason) in hostile_files(files.path()) {
        let out = Ctl::new(files.path())
            .args(["config", "validate", "--config"])
            .args([&path])
            .run_guarded();
        assert_refused(out, &path, reason);
        let out = Ctl::new(files.path())
            .args(["config", "validate"])
            .env("TASKER_CONFIG_PATH", &path)
            .run_guarded();
        assert_refused(out, &path, reason);
    }
}

#[test]
fn token_commands_refuse_hostile_key_files() {
    let files = TempDir::new().unwrap();
    for (path, reason) in hostile_files(files.path()) {
        let out = Ctl::new(files.path())
            .args(["auth", "generate-token", "--permissions", "tasks:read"])
            .args(["--private-key"])
            .args([&path])
            .run_guarded();
        assert_refused(out, &path, reason);
        let out = Ctl::new(files.path())
            .args(["auth", "validate-token", "--token", "a.b.c", "--public-key"])
            .args([&path])
            .run_guarded();
        assert_refused(out, &path, reason);
    }
}
