//! `config validate`, `config show` and `config generate`.

use tasker_testkit::{TestConfig, repo_config_root};
use tempfile::TempDir;

use crate::support::{Ctl, keys, mode};

const PLANTED_DB: &str = "postgres://u:PLANTED-DB-PASSWORD@h/db";
const PLANTED_API_KEY: &str = "sk-PLANTED-API-KEY";

fn ctl_in(root: &std::path::Path) -> Ctl {
    Ctl::new(root).args(["--config-root"]).args([root])
}

#[test]
fn the_repository_configuration_validates_for_both_roles() {
    let root = repo_config_root();
    let cwd = TempDir::new().unwrap();
    for (role, file) in [
        ("orchestration", "base/orchestration.toml"),
        ("worker", "base/worker.toml"),
    ] {
        let out = Ctl::new(cwd.path())
            .args(["config", "validate", "--role", role, "--config-root"])
            .args([&root])
            .run()
            .expect_code(0);
        let first = out.stdout.lines().next().unwrap();
        assert!(
            first.starts_with(&format!(
                "OK: {role} configuration for environment development ("
            )),
            "{first}"
        );
        assert!(first.contains(file), "{first}");
        assert!(first.contains("base/common.toml"), "{first}");
    }
    let out = Ctl::new(cwd.path())
        .args(["config", "validate", "--env", "test", "--config-root"])
        .args([&root])
        .run()
        .expect_code(0);
    assert!(out.stdout.contains("environment test ("), "{}", out.stdout);
    assert!(
        out.stdout.contains("environments/test/common.toml"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_unknown_key_fails_naming_the_file_and_key() {
    let root = TestConfig::with_files(&[
        ("base/common.toml", "[logging]\nlevel = \"info\"\n"),
        (
            "base/orchestration.toml",
            "[web.auth]\njwt_isuer = \"typo\"\n",
        ),
    ]);
    let out = ctl_in(root.root())
        .args(["config", "validate"])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("orchestration.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("jwt_isuer"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn a_missing_environment_fails() {
    let out = Ctl::new(&repo_config_root())
        .args(["config", "validate", "--env", "staging", "--config-root"])
        .args([repo_config_root()])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("staging"), "{}", out.stderr);
}

fn secret_tree() -> TestConfig {
    let private = &keys().private_pem;
    let orchestration = format!(
        "[web.auth]\nenabled = false\njwt_private_key = '''\n{private}'''\n\n\
         [[web.auth.api_keys]]\nkey = \"{PLANTED_API_KEY}\"\npermissions = [\"*\"]\n\
         description = \"admin\"\n"
    );
    TestConfig::with_files(&[
        (
            "base/common.toml",
            &format!("[database]\nurl = \"{PLANTED_DB}\"\n"),
        ),
        ("base/orchestration.toml", &orchestration),
    ])
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains("PLANTED"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    for line in keys().private_pem.lines().skip(1).take(5) {
        assert!(!text.contains(line), "{text}");
    }
}

#[test]
fn show_redacts_every_secret_in_both_formats() {
    let root = secret_tree();
    let out = ctl_in(root.root())
        .args(["config", "show", "--format", "json"])
        .run()
        .expect_code(0);
    assert_no_secret(&out.stdout);
    assert_no_secret(&out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["web"]["auth"]["api_keys"][0]["key"], "***REDACTED***");
    assert_eq!(json["web"]["auth"]["jwt_private_key"], "***REDACTED***");
    assert_eq!(json["web"]["auth"]["api_keys"][0]["description"], "admin");
    assert!(
        json["database"]["url"]
            .as_str()
            .unwrap()
            .contains("***REDACTED***")
    );

    let out = ctl_in(root.root())
        .args(["config", "show"])
        .run()
        .expect_code(0);
    assert_no_secret(&out.stdout);
    assert!(out.stdout.contains("***REDACTED***"));
    let toml: toml::Table = toml::from_str(&out.stdout).unwrap();
    assert_eq!(
        toml["web"]["auth"]["jwt_issuer"].as_str(),
        Some("tasker-core")
    );
    assert_eq!(toml["web"]["bind_address"].as_str(), Some("127.0.0.1:8080"));
}

#[test]
fn show_of_an_invalid_configuration_fails_without_secrets() {
    let root = TestConfig::with_files(&[(
        "base/orchestration.toml",
        &format!(
            "[[web.auth.api_keys]]\nkey = \"{PLANTED_API_KEY}\"\npermissions = [\"tasks:fly\"]\n\
             description = \"bad\"\n"
        ),
    )]);
    let out = ctl_in(root.root())
        .args(["config", "show"])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("tasks:fly"), "{}", out.stderr);
    assert_no_secret(&out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn generate_writes_a_merged_uninterpolated_file_that_loads_back() {
    let root = TestConfig::with_files(&[
        ("base/common.toml", "[logging]\nlevel = \"debug\"\n"),
        (
            "base/worker.toml",
            "[web.auth]\n\n[[web.auth.api_keys]]\nkey = \"${CTL_TEST_KEY}\"\n\
             permissions = [\"worker:config_read\"]\ndescription = \"ops\"\n",
        ),
        (
            "environments/test/worker.toml",
            "[worker]\nconcurrency = 3\n",
        ),
    ]);
    let out_dir = TempDir::new().unwrap();
    let output = out_dir.path().join("merged.toml");
    let generate = || {
        ctl_in(root.root())
            .args([
                "--env", "test", "config", "generate", "--role", "worker", "--output",
            ])
            .args([&output])
    };
    generate().run().expect_code(0);
    assert_eq!(mode(&output), 0o600);
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.contains("${CTL_TEST_KEY}"), "{text}");
    let table: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(table["worker"]["concurrency"].as_integer(), Some(3));
    assert_eq!(table["logging"]["level"].as_str(), Some("debug"));

    // Loads back through --config, interpolating then.
    let cwd = TempDir::new().unwrap();
    let out = Ctl::new(cwd.path())
        .env("CTL_TEST_KEY", "k-1")
        .args(["config", "validate", "--role", "worker", "--config"])
        .args([&output])
        .run()
        .expect_code(0);
    assert!(
        out.stdout.starts_with("OK: worker configuration"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("merged.toml"), "{}", out.stdout);
    let out = Ctl::new(cwd.path())
        .args(["config", "validate", "--role", "worker", "--config"])
        .args([&output])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("CTL_TEST_KEY"), "{}", out.stderr);

    // An existing file is kept unless --force.
    std::fs::write(&output, "# mine\n").unwrap();
    let out = generate().run().expect_code(1);
    assert!(out.stderr.contains("merged.toml"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "# mine\n");
    generate().args(["--force"]).run().expect_code(0);
    assert!(
        std::fs::read_to_string(&output)
            .unwrap()
            .contains("${CTL_TEST_KEY}")
    );
}
