//! `${VAR}`, `${VAR:-default}` and `$${` in real files.

use tasker_config::Env;

use crate::{Root, no_env};

#[test]
fn api_keys_can_come_from_variables() {
    let root = Root::new();
    root.write(
        "base/orchestration.toml",
        "[web.auth]\njwt_issuer = \"${ISSUER:-tasker-core}\"\n[[web.auth.api_keys]]\nkey = \"${MONITORING_API_KEY}\"\npermissions = [\"tasks:read\"]\ndescription = \"Monitoring\"\n",
    );
    let env = Env::from_pairs([("MONITORING_API_KEY", "sk-from-env")]);
    let loaded = root.orchestration(&env).unwrap();
    let auth = &loaded.config.web.auth;
    assert_eq!(
        auth.api_keys[0].key.as_ref().unwrap().expose(),
        "sk-from-env"
    );
    assert_eq!(auth.jwt_issuer, "tasker-core");
}

#[test]
fn unset_variable_without_default_names_the_key_and_file() {
    let root = Root::new();
    let file = root.write(
        "base/orchestration.toml",
        "[[web.auth.api_keys]]\nkey = \"${MONITORING_API_KEY}\"\npermissions = []\ndescription = \"Monitoring\"\n",
    );
    let err = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("web.auth.api_keys[0].key"), "{err}");
    assert!(err.contains("MONITORING_API_KEY is not set"), "{err}");
}

#[test]
fn escape_writes_a_literal_and_values_are_not_reparsed() {
    let root = Root::new();
    root.write(
        "base/orchestration.toml",
        "[web.auth]\njwt_issuer = \"$${NOT_A_VAR}\"\njwt_audience = \"${INJECT}\"\n",
    );
    let env = Env::from_pairs([("INJECT", "x\"\nenabled = true\n#")]);
    let loaded = root.orchestration(&env).unwrap();
    assert_eq!(loaded.config.web.auth.jwt_issuer, "${NOT_A_VAR}");
    assert_eq!(
        loaded.config.web.auth.jwt_audience,
        "x\"\nenabled = true\n#"
    );
    assert!(
        !loaded.config.web.auth.enabled,
        "a substituted value must not inject TOML"
    );
}

#[test]
fn overridden_layer_does_not_need_its_variables() {
    let root = Root::new();
    root.write(
        "base/orchestration.toml",
        "[web.auth]\njwt_issuer = \"${UNSET_ISSUER}\"\n",
    );
    root.write(
        "environments/development/orchestration.toml",
        "[web.auth]\njwt_issuer = \"dev\"\n",
    );
    let loaded = root.orchestration(&no_env()).unwrap();
    assert_eq!(loaded.config.web.auth.jwt_issuer, "dev");
}
