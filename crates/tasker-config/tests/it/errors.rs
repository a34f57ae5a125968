//! Bad input is a clear error naming file, key and reason; never a panic.

use tasker_config::{ConfigError, Env};

use crate::{Root, no_env};

fn orchestration_error(body: &str) -> (String, String) {
    let root = Root::new();
    let file = root.write("base/orchestration.toml", body);
    let err = root.orchestration(&no_env()).unwrap_err();
    (err.to_string(), file.display().to_string())
}

#[test]
fn malformed_toml_names_the_file_and_line() {
    let (err, file) = orchestration_error("[web.auth]\nenabled = tru\n");
    assert!(err.starts_with(&file), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn unknown_key_names_the_file_and_key() {
    let (err, file) = orchestration_error("[web.auth]\njwt_isuer = \"x\"\n");
    assert!(err.contains(&file), "{err}");
    assert!(err.contains("web.auth.jwt_isuer"), "{err}");
    assert!(err.contains("unknown key"), "{err}");
    let (err, _) = orchestration_error("[webb]\nx = 1\n");
    assert!(err.contains("`webb`"), "{err}");
}

#[test]
fn unknown_key_in_common_file_is_rejected() {
    let root = Root::new();
    let file = root.write("base/common.toml", "[web.auth]\nenabled = true\n");
    let err = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(
        err.contains(&file.display().to_string()) && err.contains("web"),
        "{err}"
    );
}

#[test]
fn wrong_type_names_the_key_without_the_value() {
    let (err, _) = orchestration_error("[web.auth]\nenabled = \"sk-typed-into-wrong-key\"\n");
    assert!(err.contains("web.auth.enabled"), "{err}");
    assert!(!err.contains("sk-typed-into-wrong-key"), "{err}");
    let (err, _) = orchestration_error("[web.auth]\njwt_token_expiry_hours = -3\n");
    assert!(err.contains("web.auth.jwt_token_expiry_hours"), "{err}");
}

#[test]
fn invalid_verification_method_is_an_error() {
    let (err, _) = orchestration_error("[web.auth]\njwt_verification_method = \"hmac\"\n");
    assert!(err.contains("web.auth.jwt_verification_method"), "{err}");
    assert!(err.contains("public_key") && err.contains("jwks"), "{err}");
}

#[test]
fn api_key_entries_are_checked_and_named_by_description() {
    let (err, file) = orchestration_error(
        "[[web.auth.api_keys]]\nkey = \"\"\npermissions = [\"*\"]\ndescription = \"Empty one\"\n",
    );
    assert!(
        err.contains(&file) && err.contains("\"Empty one\"") && err.contains("empty"),
        "{err}"
    );

    let (err, _) = orchestration_error(
        "[[web.auth.api_keys]]\nkey = \"sk-dup-secret\"\npermissions = []\ndescription = \"First\"\n[[web.auth.api_keys]]\nkey = \"sk-dup-secret\"\npermissions = []\ndescription = \"Second\"\n",
    );
    assert!(
        err.contains("\"Second\"") && err.contains("\"First\"") && err.contains("duplicates"),
        "{err}"
    );
    assert!(!err.contains("sk-dup-secret"), "{err}");

    let (err, _) = orchestration_error(
        "[[web.auth.api_keys]]\nkey = \"sk-perm-secret\"\npermissions = [\"tasks:read\", \"tasks:destroy\"]\ndescription = \"Typo\"\n",
    );
    assert!(err.contains("web.auth.api_keys[0].permissions"), "{err}");
    assert!(err.contains("unknown permissions: tasks:destroy"), "{err}");
    assert!(!err.contains("sk-perm-secret"), "{err}");

    // Badly scoped permissions, and scopes on global permissions, are unknown permissions.
    for bad in [
        "tasks:read@",
        "tasks:read@Payments",
        "system:config_read@x",
        "*@",
    ] {
        let (err, _) = orchestration_error(&format!(
            "[[web.auth.api_keys]]\nkey = \"sk-scope-secret\"\npermissions = [\"tasks:read@payments\", \"{bad}\"]\ndescription = \"Team key\"\n"
        ));
        assert!(err.contains("\"Team key\""), "{bad}: {err}");
        assert!(
            err.contains(&format!("unknown permissions: {bad} ")),
            "{bad}: {err}"
        );
        assert!(!err.contains("sk-scope-secret"), "{err}");
    }
    let scoped = Root::new();
    scoped.write(
        "base/orchestration.toml",
        "[[web.auth.api_keys]]\nkey = \"k\"\npermissions = [\"tasks:*@payments\", \"*@billing\", \"worker:templates_read@x\"]\ndescription = \"Scoped\"\n",
    );
    assert!(scoped.orchestration(&no_env()).is_ok(), "valid scopes load");

    let ok = Root::new();
    ok.write(
        "base/orchestration.toml",
        "[web.auth]\nstrict_validation = false\n[[web.auth.api_keys]]\nkey = \"k\"\npermissions = [\"tasks:destroy\"]\ndescription = \"Lenient\"\n",
    );
    assert!(
        ok.orchestration(&no_env()).is_ok(),
        "unknown permissions pass when not strict"
    );

    let (err, _) = orchestration_error(
        "[[web.auth.api_keys]]\nkey_hash = \"md5:abc\"\npermissions = []\ndescription = \"Bad hash\"\n",
    );
    assert!(err.contains("sha256:"), "{err}");
    let (err, _) = orchestration_error(
        "[[web.auth.api_keys]]\nkey = \"k\"\npermissions = []\ndescription = \"When\"\nexpires_at = \"tomorrow\"\n",
    );
    assert!(
        err.contains("expires_at") && err.contains("RFC 3339"),
        "{err}"
    );
}

#[test]
fn toml_datetime_expiry_is_accepted() {
    let root = Root::new();
    root.write(
        "base/orchestration.toml",
        "[[web.auth.api_keys]]\nkey = \"k\"\npermissions = []\ndescription = \"d\"\nexpires_at = 2030-01-01T00:00:00Z\n",
    );
    let loaded = root.orchestration(&no_env()).unwrap();
    assert_eq!(
        loaded.config.web.auth.api_keys[0].expires_at.as_deref(),
        Some("2030-01-01T00:00:00Z")
    );
}

#[test]
fn algorithms_refuse_none_hmac_and_unknown() {
    for (alg, expect) in [
        ("none", "never accepted"),
        ("HS256", "HMAC"),
        ("XY999", "unknown algorithm"),
    ] {
        let (err, _) = orchestration_error(&format!(
            "[web.auth]\njwt_allowed_algorithms = [\"RS256\", \"{alg}\"]\n"
        ));
        assert!(
            err.contains("web.auth.jwt_allowed_algorithms") && err.contains(expect),
            "{alg}: {err}"
        );
    }
}

#[test]
fn enabled_auth_needs_a_usable_key_source() {
    let (err, _) = orchestration_error("[web.auth]\nenabled = true\n");
    assert!(
        err.contains("needs jwt_public_key_path or jwt_public_key"),
        "{err}"
    );
    let (err, _) = orchestration_error(
        "[web.auth]\nenabled = true\njwt_public_key_path = \"/nonexistent/key.pem\"\n",
    );
    assert!(err.contains("cannot read /nonexistent/key.pem"), "{err}");
    let (err, _) =
        orchestration_error("[web.auth]\nenabled = true\njwt_public_key = \"not a pem\"\n");
    assert!(
        err.contains("web.auth.jwt_public_key") && err.contains("not a PEM"),
        "{err}"
    );
    let (err, _) =
        orchestration_error("[web.auth]\nenabled = true\njwt_verification_method = \"jwks\"\n");
    assert!(
        err.contains("web.auth.jwks_url") && err.contains("needs jwks_url"),
        "{err}"
    );
    let (err, _) = orchestration_error(
        "[web.auth]\nenabled = true\njwt_verification_method = \"jwks\"\njwks_url = \"http://idp.example.com/jwks\"\n",
    );
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn production_refuses_disabled_auth_unless_allowed() {
    let root = Root::new();
    root.write(
        "environments/production/orchestration.toml",
        "[web.auth]\nenabled = false\n",
    );
    let options = root.options("production");
    let err =
        tasker_config::Loaded::<tasker_config::OrchestrationConfig>::load(&options, &no_env())
            .unwrap_err();
    assert!(
        matches!(err, ConfigError::Invalid { ref key, .. } if key == "web.auth.enabled"),
        "{err}"
    );
    assert!(err.to_string().contains("TASKER_ALLOW_INSECURE=1"));
    let allowed = Env::from_pairs([("TASKER_ALLOW_INSECURE", "1")]);
    assert!(
        tasker_config::Loaded::<tasker_config::OrchestrationConfig>::load(&options, &allowed)
            .is_ok()
    );
}

#[test]
fn explicit_false_ignores_keys_with_a_warning() {
    let root = Root::new();
    root.write(
        "base/orchestration.toml",
        "[web.auth]\napi_keys_enabled = false\n[[web.auth.api_keys]]\nkey = \"k\"\npermissions = []\ndescription = \"d\"\n",
    );
    let loaded = root.orchestration(&no_env()).unwrap();
    assert!(!loaded.config.web.auth.api_key_registry_active());
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].contains("api_keys_enabled = false"));
}

#[test]
fn other_bad_values_are_errors() {
    let (err, _) = orchestration_error("[web]\nbind_address = \"nonsense\"\n");
    assert!(err.contains("web.bind_address"), "{err}");
    let (err, _) = orchestration_error("[web.auth]\napi_key_header = \"X API Key\"\n");
    assert!(err.contains("web.auth.api_key_header"), "{err}");
    let (err, _) = orchestration_error("[worker]\nstep_log_max_bytes = 16777217\n");
    assert!(
        err.contains("worker.step_log_max_bytes") && err.contains("at most 16777216"),
        "{err}"
    );
    let root = Root::new();
    root.write(
        "base/worker.toml",
        "[worker]\nstep_log_max_bytes = 16777216\n",
    );
    assert!(root.worker(&no_env()).is_ok());
    let (err, _) = orchestration_error("[worker]\nprefetch = 1001\n");
    assert!(
        err.contains("worker.prefetch") && err.contains("must be at most 1000"),
        "{err}"
    );
    let (err, _) = orchestration_error("[worker]\nprefetch = \"lots\"\n");
    assert!(err.contains("prefetch"), "{err}");
    let root = Root::new();
    root.write("base/worker.toml", "[worker]\nprefetch = 1000\n");
    let worker = root.worker(&no_env()).unwrap().config.worker;
    assert_eq!(worker.prefetch_steps(), 1000);
    let root = Root::new();
    root.write("base/worker.toml", "[worker]\nconcurrency = 4\n");
    let worker = root.worker(&no_env()).unwrap().config.worker;
    assert_eq!(worker.prefetch, None);
    assert_eq!(worker.prefetch_steps(), 64, "16 x concurrency by default");
    let root = Root::new();
    root.write("base/common.toml", "[database]\nurl = \"mysql://x\"\n");
    let err = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(err.contains("database.url"), "{err}");
    root.write(
        "base/common.toml",
        "[database]\nconnect_timeout_seconds = 0\n",
    );
    let err = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(
        err.contains("database.connect_timeout_seconds") && err.contains("must be at least 1"),
        "{err}"
    );
    let missing = Root::new();
    let options = tasker_config::LoadOptions {
        config_root: missing.path().join("nope"),
        environment: "development".into(),
        config_path: None,
    };
    let err = tasker_config::Loaded::<tasker_config::OrchestrationConfig>::load(
        &options,
        &Env::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
}
