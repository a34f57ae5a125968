//! `auth generate-api-key`.

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use tasker_testkit::TestConfig;

use crate::support::Ctl;

struct Generated {
    key: String,
    entry: String,
    stderr: String,
}

fn generate(extra: &[&str]) -> Generated {
    let cwd = TempDir::new().unwrap();
    let out = Ctl::new(cwd.path())
        .args(["auth", "generate-api-key"])
        .args(extra)
        .run()
        .expect_code(0);
    let keys: Vec<&str> = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tsk_"))
        .collect();
    assert_eq!(keys.len(), 1, "the key is printed once:\n{}", out.stdout);
    let start = out.stdout.find("[[web.auth.api_keys]]").unwrap();
    Generated {
        key: keys[0].to_owned(),
        entry: out.stdout[start..].to_owned(),
        stderr: out.stderr,
    }
}

#[test]
fn the_entry_holds_the_keys_hash_and_loads_with_config_validate() {
    let generated = generate(&[
        "--description",
        "Production monitoring service",
        "--permissions",
        "tasks:read,tasks:list,dlq:read,dlq:stats",
    ]);
    assert_eq!(generated.stderr, "");
    assert!(generated.key.len() > 40);
    assert!(!generated.entry.contains(&generated.key));
    let expected = format!(
        "key_hash = \"sha256:{}\"",
        hex::encode(Sha256::digest(generated.key.as_bytes()))
    );
    assert!(generated.entry.contains(&expected), "{}", generated.entry);
    assert!(
        generated.entry.contains(
            "permissions = [\"tasks:read\", \"tasks:list\", \"dlq:read\", \"dlq:stats\"]"
        )
    );
    assert!(
        generated
            .entry
            .contains("description = \"Production monitoring service\"")
    );

    // Pasted into a role file's [web.auth] configuration, it loads with the server's loader.
    let orchestration = format!(
        "[web.auth]\nenabled = false\nstrict_validation = true\n\n{}",
        generated.entry
    );
    let root = TestConfig::with_files(&[("base/orchestration.toml", &orchestration)]);
    let out = Ctl::new(root.root())
        .args(["config", "validate", "--config-root"])
        .args([root.root()])
        .run()
        .expect_code(0);
    assert!(
        out.stdout.starts_with("OK: orchestration"),
        "{}",
        out.stdout
    );
}

#[test]
fn keys_differ_every_time() {
    assert_ne!(generate(&[]).key, generate(&[]).key);
}

#[test]
fn unknown_permissions_are_warned_about() {
    let generated = generate(&["--permissions", "tasks:read,steps:fly"]);
    assert!(
        generated.stderr.contains("`steps:fly`"),
        "{}",
        generated.stderr
    );
}
