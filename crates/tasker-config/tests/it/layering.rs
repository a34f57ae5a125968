//! Layer order, array replacement, the single merged file and environment overrides.

use tasker_config::{Env, LoadOptions, Loaded, OrchestrationConfig};

use crate::{Root, no_env};

#[test]
fn later_layers_win_and_arrays_are_replaced_wholesale() {
    let root = Root::new();
    root.write(
        "base/common.toml",
        "[templates]\nsearch_paths = [\"a\", \"b\"]\n[logging]\nlevel = \"debug\"\n",
    );
    root.write(
        "environments/development/common.toml",
        "[logging]\nformat = \"json\"\n",
    );
    root.write(
        "base/orchestration.toml",
        "[web.auth]\njwt_issuer = \"base\"\n[[web.auth.api_keys]]\nkey = \"k1\"\ndescription = \"one\"\npermissions = []\n[[web.auth.api_keys]]\nkey = \"k2\"\ndescription = \"two\"\npermissions = []\n",
    );
    root.write(
        "environments/development/orchestration.toml",
        "[templates]\nsearch_paths = [\"c\"]\n[[web.auth.api_keys]]\nkey = \"k3\"\ndescription = \"three\"\npermissions = [\"*\"]\n",
    );
    let loaded = root.orchestration(&no_env()).unwrap();
    let config = &loaded.config;
    assert_eq!(config.templates.search_paths, ["c"]);
    assert_eq!(config.logging.level, "debug");
    assert_eq!(config.logging.format, tasker_config::LogFormat::Json);
    assert_eq!(config.web.auth.jwt_issuer, "base");
    let descriptions: Vec<_> = config
        .web
        .auth
        .api_keys
        .iter()
        .map(|k| k.description.as_str())
        .collect();
    assert_eq!(descriptions, ["three"]);
    assert_eq!(loaded.files.len(), 4);
    assert!(
        loaded
            .origin_of("web.auth.api_keys[0].key")
            .ends_with("environments/development/orchestration.toml")
    );
    assert!(
        loaded
            .origin_of("web.auth.jwt_issuer")
            .ends_with("base/orchestration.toml")
    );
}

#[test]
fn environment_name_selects_the_override_directory() {
    let root = Root::new();
    root.write(
        "environments/test/orchestration.toml",
        "[web.auth]\njwt_audience = \"test-aud\"\n",
    );
    root.write("base/orchestration.toml", "");
    let loaded: Loaded<OrchestrationConfig> =
        Loaded::load(&root.options("test"), &no_env()).unwrap();
    assert_eq!(loaded.config.web.auth.jwt_audience, "test-aud");
    let dev = root.orchestration(&no_env()).unwrap();
    assert_eq!(dev.config.web.auth.jwt_audience, "tasker-api");
    let missing =
        Loaded::<OrchestrationConfig>::load(&root.options("staging"), &no_env()).unwrap_err();
    assert!(missing.to_string().contains("staging"), "{missing}");
}

#[test]
fn options_come_from_variables_and_flags_win() {
    let env = Env::from_pairs([
        ("TASKER_ENV", "test"),
        ("TASKER_CONFIG_ROOT", "/etc/tasker/config"),
        ("TASKER_CONFIG_PATH", ""),
    ]);
    let options = LoadOptions::from_env(&env);
    assert_eq!(options.environment, "test");
    assert_eq!(
        options.config_root,
        std::path::PathBuf::from("/etc/tasker/config")
    );
    assert_eq!(options.config_path, None, "empty variables count as unset");
    let defaults = LoadOptions::from_env(&no_env());
    assert_eq!(defaults.environment, "development");
    assert_eq!(
        defaults.config_root,
        std::path::PathBuf::from("./config/tasker")
    );
    let flagged = options.with_flags(None, Some("production".into()), Some("/x.toml".into()));
    assert_eq!(flagged.environment, "production");
    assert_eq!(flagged.config_path, Some("/x.toml".into()));
}

#[test]
fn single_merged_file_replaces_the_layers() {
    let root = Root::new();
    root.write(
        "base/orchestration.toml",
        "[web.auth]\njwt_issuer = \"layered\"\n",
    );
    let merged = root.write(
        "merged.toml",
        "[web.auth]\njwt_issuer = \"merged\"\n[web]\nbind_address = \"127.0.0.1:9999\"\n",
    );
    let mut options = root.options("development");
    options.config_path = Some(merged);
    let loaded: Loaded<OrchestrationConfig> = Loaded::load(&options, &no_env()).unwrap();
    assert_eq!(loaded.config.web.auth.jwt_issuer, "merged");
    assert_eq!(loaded.config.web.bind_address(), "127.0.0.1:9999");
}

#[test]
fn seed_variables_override_toml_when_set_and_non_empty() {
    let root = Root::new();
    let key = crate::public_key_path();
    root.write(
        "base/orchestration.toml",
        "[web]\nbind_address = \"127.0.0.1:1\"\n[web.auth]\njwt_public_key_path = \"/from/toml.pem\"\njwt_public_key = \"toml\"\n",
    );
    root.write(
        "base/common.toml",
        "[database]\nurl = \"sqlite://from-toml.db\"\n",
    );
    let env = Env::from_pairs([
        ("TASKER_JWT_PUBLIC_KEY_PATH", key.clone()),
        ("TASKER_JWT_PUBLIC_KEY", "inline-from-env".to_owned()),
        ("DATABASE_URL", "postgres://u@db/tasker".to_owned()),
        ("TASKER_WEB_BIND_ADDRESS", "0.0.0.0:7000".to_owned()),
    ]);
    let loaded = root.orchestration(&env).unwrap();
    let config = &loaded.config;
    assert_eq!(config.web.auth.jwt_public_key_path, key);
    assert_eq!(config.web.auth.jwt_public_key, "inline-from-env");
    assert_eq!(config.database.url.expose(), "postgres://u@db/tasker");
    assert_eq!(config.web.bind_address(), "0.0.0.0:7000");
    assert_eq!(
        loaded.origin_of("database.url"),
        "environment variable DATABASE_URL"
    );

    let empty = Env::from_pairs([("TASKER_JWT_PUBLIC_KEY_PATH", ""), ("DATABASE_URL", "")]);
    let loaded = root.orchestration(&empty).unwrap();
    assert_eq!(loaded.config.web.auth.jwt_public_key_path, "/from/toml.pem");
    assert_eq!(loaded.config.database.url.expose(), "sqlite://from-toml.db");
}

#[test]
fn secret_files_are_read_into_their_keys() {
    let root = Root::new();
    let key_file = root.write("secrets/api-key", "sk-from-file\n");
    let private = root.write(
        "secrets/private.pem",
        "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
    );
    root.write(
        "base/orchestration.toml",
        &format!(
            "[web.auth]\njwt_private_key_file = \"{}\"\n[[web.auth.api_keys]]\nkey_file = \"{}\"\npermissions = [\"tasks:read\"]\ndescription = \"file key\"\n",
            private.display(),
            key_file.display()
        ),
    );
    let loaded = root.orchestration(&no_env()).unwrap();
    let auth = &loaded.config.web.auth;
    assert_eq!(
        auth.api_keys[0].key.as_ref().unwrap().expose(),
        "sk-from-file"
    );
    assert!(
        auth.jwt_private_key
            .expose()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
}
