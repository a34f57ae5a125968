//! `[web.ui]` OIDC sign-in keys: off by default, used when all three are set, and refused
//! naming the key when one is missing or a value cannot work.

use crate::{Root, no_env};

const GOOD: &str = r#"[web.auth]
enabled = true
jwt_public_key = "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----"
[web.ui]
oidc_issuer = "https://idp.example.com/realms/ops"
oidc_client_id = "tasker-console"
oidc_redirect_url = "https://tasker.example.com/ui/oidc/callback"
"#;

#[test]
fn oidc_is_off_by_default_and_on_when_the_three_keys_are_set() {
    let root = Root::new();
    root.write("base/common.toml", "");
    let ui = root.orchestration(&no_env()).unwrap().config.web.ui;
    assert!(!ui.oidc_enabled());
    assert_eq!(ui.oidc_scopes, "openid");

    let root = Root::new();
    root.write("base/orchestration.toml", GOOD);
    let ui = root.orchestration(&no_env()).unwrap().config.web.ui;
    assert!(ui.oidc_enabled());
    assert_eq!(ui.oidc_client_id, "tasker-console");
}

#[test]
fn bad_oidc_settings_are_refused_naming_the_key() {
    let cases = [
        (
            "oidc_client_id = \"tasker-console\"",
            "",
            "web.ui.oidc_client_id",
        ),
        (
            "oidc_issuer = \"https://idp.example.com/realms/ops\"",
            "oidc_issuer = \"http://idp.example.com\"",
            "web.ui.oidc_issuer",
        ),
        (
            "oidc_issuer = \"https://idp.example.com/realms/ops\"",
            "oidc_issuer = \"https://idp.example.com/?x=1\"",
            "web.ui.oidc_issuer",
        ),
        (
            "oidc_redirect_url = \"https://tasker.example.com/ui/oidc/callback\"",
            "oidc_redirect_url = \"https://tasker.example.com/elsewhere\"",
            "web.ui.oidc_redirect_url",
        ),
        (
            "oidc_redirect_url = \"https://tasker.example.com/ui/oidc/callback\"",
            "oidc_redirect_url = \"\"",
            "web.ui.oidc_redirect_url",
        ),
        (
            "oidc_client_id = \"tasker-console\"",
            "oidc_client_id = \"tasker-console\"\noidc_scopes = \"profile email\"",
            "web.ui.oidc_scopes",
        ),
    ];
    for (from, to, key) in cases {
        let root = Root::new();
        root.write("base/orchestration.toml", &GOOD.replace(from, to));
        let err = root.orchestration(&no_env()).unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[test]
fn oidc_with_auth_disabled_is_a_warning() {
    let root = Root::new();
    root.write(
        "base/orchestration.toml",
        &GOOD.replace("enabled = true", "enabled = false"),
    );
    let loaded = root.orchestration(&no_env()).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w.contains("oidc_issuer")),
        "{:?}",
        loaded.warnings
    );
}
