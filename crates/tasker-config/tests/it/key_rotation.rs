//! `jwt_previous_public_key_paths` and `jwt_max_lifetime_seconds`: defaults, limits, and bad
//! entries named by position and path.

use crate::{Root, no_env, public_key_pem};

fn auth_file(root: &Root, previous: &[String]) -> String {
    let current = root.write("keys/current.pem", &public_key_pem());
    let list = previous
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[web.auth]\nenabled = true\njwt_public_key_path = {:?}\njwt_previous_public_key_paths = [{list}]\n",
        current.display().to_string()
    )
}

#[test]
fn defaults_are_no_previous_keys_and_no_lifetime_limit() {
    let root = Root::new();
    root.write("base/orchestration.toml", "[web.auth]\n");
    let loaded = root.orchestration(&no_env()).unwrap();
    assert!(
        loaded
            .config
            .web
            .auth
            .jwt_previous_public_key_paths
            .is_empty()
    );
    assert_eq!(loaded.config.web.auth.jwt_max_lifetime_seconds, 0);
}

#[test]
fn up_to_four_previous_keys_load() {
    let root = Root::new();
    let previous: Vec<String> = (0..4)
        .map(|i| {
            root.write(&format!("keys/old-{i}.pem"), &public_key_pem())
                .display()
                .to_string()
        })
        .collect();
    let body = format!(
        "{}jwt_max_lifetime_seconds = 3600\n",
        auth_file(&root, &previous)
    );
    root.write("base/orchestration.toml", &body);
    let loaded = root.orchestration(&no_env()).unwrap();
    assert_eq!(
        loaded.config.web.auth.jwt_previous_public_key_paths,
        previous
    );
    assert_eq!(loaded.config.web.auth.jwt_max_lifetime_seconds, 3600);
}

#[test]
fn five_previous_keys_are_a_startup_error() {
    let root = Root::new();
    let old = root
        .write("keys/old.pem", &public_key_pem())
        .display()
        .to_string();
    let previous = vec![old; 5];
    root.write("base/orchestration.toml", &auth_file(&root, &previous));
    let err = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(
        err.contains("web.auth.jwt_previous_public_key_paths")
            && err.contains("lists 5 keys; at most 4 previous keys are accepted (5 keys in all"),
        "{err}"
    );
}

#[test]
fn a_bad_previous_key_is_named_by_position_and_path() {
    let root = Root::new();
    let good = root
        .write("keys/old.pem", &public_key_pem())
        .display()
        .to_string();
    let junk = root
        .write("keys/junk.pem", "not a key\n")
        .display()
        .to_string();
    root.write(
        "base/orchestration.toml",
        &auth_file(&root, &[good.clone(), junk.clone()]),
    );
    let err = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(
        err.contains("web.auth.jwt_previous_public_key_paths[1]")
            && err.contains(&format!("{junk} is not a PEM public key")),
        "{err}"
    );
    let missing = format!("{good}.missing");
    root.write(
        "base/orchestration.toml",
        &auth_file(&root, std::slice::from_ref(&missing)),
    );
    let err = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(
        err.contains("web.auth.jwt_previous_public_key_paths[0]")
            && err.contains(&format!("cannot read {missing}")),
        "{err}"
    );
}

#[test]
fn the_repository_base_files_state_both_keys_with_their_defaults() {
    for role in ["orchestration", "worker"] {
        let file = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../config/tasker/base/{role}.toml")),
        )
        .unwrap();
        assert!(
            file.contains("\njwt_previous_public_key_paths = []\n"),
            "{role}.toml"
        );
        assert!(
            file.contains("\njwt_max_lifetime_seconds = 0\n"),
            "{role}.toml"
        );
    }
}
