//! Planted secrets never appear in Debug output, the redacted view or error messages.

use tasker_config::{Env, REDACTED, redacted_view};

use crate::Root;

const PLANTED: [&str; 5] = [
    "PLANTED-API-KEY-1",
    "PLANTED-KEY-FROM-ENV",
    "PLANTED-PRIVATE-KEY",
    "PLANTED-DB-PASSWORD",
    "PLANTED-FILE-KEY",
];

#[test]
fn planted_secrets_never_leak() {
    let root = Root::new();
    let key_file = root.write("api.key", "PLANTED-FILE-KEY");
    root.write(
        "base/common.toml",
        "[database]\nurl = \"postgres://tasker:PLANTED-DB-PASSWORD@db:5432/tasker\"\n",
    );
    root.write(
        "base/orchestration.toml",
        &format!(
            r#"[web.auth]
jwt_private_key = "-----BEGIN PRIVATE KEY-----PLANTED-PRIVATE-KEY-----END PRIVATE KEY-----"
[[web.auth.api_keys]]
key = "PLANTED-API-KEY-1"
permissions = ["*"]
description = "Admin"
[[web.auth.api_keys]]
key = "${{FROM_ENV}}"
permissions = ["tasks:read"]
description = "Env key"
[[web.auth.api_keys]]
key_file = "{}"
permissions = ["tasks:read"]
description = "File key"
[[web.auth.api_keys]]
key_hash = "sha256:{}"
permissions = ["tasks:read"]
description = "Hashed key"
"#,
            key_file.display(),
            "ab".repeat(32)
        ),
    );
    let env = Env::from_pairs([("FROM_ENV", "PLANTED-KEY-FROM-ENV")]);
    let loaded = root.orchestration(&env).unwrap();

    let debug = format!("{loaded:?} {env:?}");
    let view = redacted_view(&loaded.config).unwrap();
    let json = serde_json::to_string(&view).unwrap();
    for secret in PLANTED {
        assert!(!debug.contains(secret), "Debug leaks {secret}");
        assert!(!json.contains(secret), "redacted view leaks {secret}");
    }
    assert!(
        !json.contains(&"ab".repeat(32)),
        "key hashes are redacted too"
    );
    for path in [
        "database.url",
        "web.auth.jwt_private_key",
        "web.auth.api_keys[0].key",
        "web.auth.api_keys[1].key",
        "web.auth.api_keys[2].key",
        "web.auth.api_keys[3].key_hash",
    ] {
        assert!(
            view.redacted_paths.contains(&path.to_owned()),
            "{path} missing from {:?}",
            view.redacted_paths
        );
    }
    assert_eq!(view.config["web"]["auth"]["api_keys"][0]["key"], REDACTED);
    assert_eq!(
        view.config["web"]["auth"]["api_keys"][0]["description"],
        "Admin"
    );

    // A duplicate of a planted key is reported without the key.
    let dup = Root::new();
    dup.write(
        "base/orchestration.toml",
        "[[web.auth.api_keys]]\nkey = \"PLANTED-API-KEY-1\"\npermissions = []\ndescription = \"a\"\n[[web.auth.api_keys]]\nkey = \"${FROM_ENV}\"\npermissions = []\ndescription = \"b\"\n",
    );
    let same = Env::from_pairs([("FROM_ENV", "PLANTED-API-KEY-1")]);
    let err = dup.orchestration(&same).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("PLANTED-API-KEY-1"), "{text}");
}
