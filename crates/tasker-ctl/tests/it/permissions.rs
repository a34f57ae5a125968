//! `auth show-permissions`.

use tasker_proto::Permission;
use tempfile::TempDir;

use crate::support::Ctl;

#[test]
fn lists_every_permission_grouped_by_resource_with_wildcards() {
    let cwd = TempDir::new().unwrap();
    let out = Ctl::new(cwd.path())
        .args(["auth", "show-permissions"])
        .run()
        .expect_code(0);
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    for permission in Permission::ALL {
        let at = lines
            .iter()
            .position(|l| *l == permission.as_str())
            .unwrap_or_else(|| panic!("{permission} missing:\n{}", out.stdout));
        // The nearest heading above it is its resource.
        let heading = lines[..at]
            .iter()
            .rev()
            .find(|l| !l.is_empty() && !l.contains(':'))
            .unwrap();
        assert_eq!(*heading, permission.resource());
    }
    assert!(lines.iter().any(|l| l.starts_with("* ")));
    let scopes = lines
        .iter()
        .position(|l| *l == "Namespace scopes")
        .unwrap_or_else(|| panic!("no scope section:\n{}", out.stdout));
    let section = lines[scopes..].join("\n");
    assert!(section.contains("tasks:read@payments"), "{section}");
    assert!(section.contains("[a-z0-9_-]{1,64}"), "{section}");
    assert!(
        section.contains("global, never scoped: system:config_read system:handlers_read system:analytics_read worker:config_read"),
        "{section}"
    );
    for resource in Permission::resources() {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{resource}:* "))),
            "{resource}:* missing"
        );
    }
}

#[test]
fn a_closed_stdout_ends_quietly_instead_of_panicking() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tasker-ctl"))
        .args(["auth", "show-permissions"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr, "");
    assert_eq!(out.status.code(), Some(0));
}
