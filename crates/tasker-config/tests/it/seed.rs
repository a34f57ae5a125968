//! The configuration reference's snippets, pasted verbatim into role files, load for both roles.

use tasker_config::{AuthConfig, VerificationMethod};

use crate::{Root, no_env, public_key_path};

/// The "Full Reference" block of the configuration reference, verbatim.
const FULL_REFERENCE: &str = r#"[web]
# Whether the /config endpoint is registered (default: false).
# When false, GET /config returns 404. When true, requires system:config_read permission.
config_endpoint_enabled = false
[web.auth]
# Master switch (default: false). When disabled, all routes are accessible without credentials.
enabled = false
# --- JWT Configuration ---
# Token issuer claim (validated against incoming tokens)
jwt_issuer = "tasker-core"
# Token audience claim (validated against incoming tokens)
jwt_audience = "tasker-api"
# Token expiry for generated tokens (via CLI)
jwt_token_expiry_hours = 24
# Verification method: "public_key" (static RSA key) or "jwks" (dynamic key rotation)
jwt_verification_method = "public_key"
# Static public key (one of these, path takes precedence):
jwt_public_key_path = "/etc/tasker/keys/jwt-public-key.pem"
jwt_public_key = "" # Inline PEM string (use path instead for production)
# Private key (for token generation only, not needed for verification):
jwt_private_key = ""
# --- JWKS Configuration (when jwt_verification_method = "jwks") ---
# JWKS endpoint URL
jwks_url = "https://auth.example.com/.well-known/jwks.json"
# How often to refresh the key set (seconds)
jwks_refresh_interval_seconds = 3600
# --- Permission Validation ---
# JWT claim name containing the permissions array
permissions_claim = "permissions"
# Reject tokens with unrecognized permission strings
strict_validation = true
# Log unrecognized permissions even when strict_validation = false
log_unknown_permissions = true
# --- API Key Authentication ---
# Header name for API key authentication
api_key_header = "X-API-Key"
# Enable multi-key registry (default: false)
api_keys_enabled = false
# API key registry (multiple keys with individual permissions)
[[web.auth.api_keys]]
key = "sk-prod-monitoring-key"
permissions = ["tasks:read", "tasks:list", "dlq:read", "dlq:stats"]
description = "Production monitoring service"
[[web.auth.api_keys]]
key = "sk-prod-admin-key"
permissions = ["*"]
description = "Production admin"
"#;

const AUTH_DISABLED: &str = "[web.auth]\nenabled = false\n";

const STATIC_KEY: &str = r#"[web.auth]
enabled = true
jwt_verification_method = "public_key"
jwt_public_key_path = "./keys/jwt-public-key.pem"
jwt_issuer = "tasker-core"
jwt_audience = "tasker-api"
strict_validation = false
[[web.auth.api_keys]]
key = "dev-key"
permissions = ["*"]
description = "Dev superuser key"
"#;

const JWKS_AND_API_KEYS: &str = r#"[web.auth]
enabled = true
jwt_verification_method = "jwks"
jwks_url = "https://auth.company.com/.well-known/jwks.json"
jwks_refresh_interval_seconds = 3600
jwt_issuer = "https://auth.company.com/"
jwt_audience = "tasker-api"
strict_validation = true
log_unknown_permissions = true
api_keys_enabled = true
api_key_header = "X-API-Key"
[[web.auth.api_keys]]
key = "sk-monitoring-prod"
permissions = ["tasks:read", "tasks:list", "steps:read", "dlq:read", "dlq:stats"]
description = "Monitoring service"
[[web.auth.api_keys]]
key = "sk-submitter-prod"
permissions = ["tasks:create", "tasks:read", "tasks:list"]
description = "Task submission service"
"#;

const CONFIG_ENDPOINT: &str = r#"[web]
config_endpoint_enabled = true
[web.auth]
enabled = true
# ... auth config ...
"#;

fn both_roles(root: &Root, snippet: &str) -> (AuthConfig, AuthConfig) {
    root.write("base/orchestration.toml", snippet);
    root.write("base/worker.toml", snippet);
    let env = no_env();
    let orchestration = root
        .orchestration(&env)
        .unwrap_or_else(|e| panic!("orchestration: {e}"));
    let worker = root.worker(&env).unwrap_or_else(|e| panic!("worker: {e}"));
    (orchestration.config.web.auth, worker.config.web.auth)
}

#[test]
fn full_reference_loads_and_every_value_matches() {
    let root = Root::new();
    let (orchestration, worker) = both_roles(&root, FULL_REFERENCE);
    for auth in [orchestration, worker] {
        assert!(!auth.enabled);
        assert_eq!(auth.jwt_issuer, "tasker-core");
        assert_eq!(auth.jwt_audience, "tasker-api");
        assert_eq!(auth.jwt_token_expiry_hours, 24);
        assert_eq!(auth.jwt_verification_method, VerificationMethod::PublicKey);
        assert_eq!(
            auth.jwt_public_key_path,
            "/etc/tasker/keys/jwt-public-key.pem"
        );
        assert_eq!(auth.jwt_public_key, "");
        assert!(auth.jwt_private_key.is_empty());
        assert_eq!(
            auth.jwks_url,
            "https://auth.example.com/.well-known/jwks.json"
        );
        assert_eq!(auth.jwks_refresh_interval_seconds, 3600);
        assert_eq!(auth.permissions_claim, "permissions");
        assert!(auth.strict_validation);
        assert!(auth.log_unknown_permissions);
        assert_eq!(auth.api_key_header, "X-API-Key");
        assert_eq!(auth.api_keys_enabled, Some(false));
        assert!(!auth.api_key_registry_active());
        assert_eq!(auth.api_keys.len(), 2);
        assert_eq!(
            auth.api_keys[0].key.as_ref().unwrap().expose(),
            "sk-prod-monitoring-key"
        );
        assert_eq!(
            auth.api_keys[0].permissions,
            ["tasks:read", "tasks:list", "dlq:read", "dlq:stats"]
        );
        assert_eq!(
            auth.api_keys[0].description,
            "Production monitoring service"
        );
        assert_eq!(auth.api_keys[1].permissions, ["*"]);
        assert_eq!(auth.api_keys[1].description, "Production admin");
    }
}

#[test]
fn defaults_without_any_file_are_the_references_defaults() {
    let root = Root::new();
    root.write("base/common.toml", "");
    let loaded = root.orchestration(&no_env()).unwrap();
    let web = &loaded.config.web;
    assert!(!web.config_endpoint_enabled);
    assert_eq!(web.bind_address(), "127.0.0.1:8080");
    let auth = &web.auth;
    assert!(!auth.enabled);
    assert_eq!(auth.jwt_issuer, "tasker-core");
    assert_eq!(auth.jwt_audience, "tasker-api");
    assert_eq!(auth.jwt_token_expiry_hours, 24);
    assert_eq!(auth.jwt_verification_method, VerificationMethod::PublicKey);
    assert_eq!(auth.jwt_public_key_path, "");
    assert_eq!(auth.jwt_public_key, "");
    assert!(auth.jwt_private_key.is_empty());
    assert_eq!(auth.jwks_url, "");
    assert_eq!(auth.jwks_refresh_interval_seconds, 3600);
    assert_eq!(auth.jwks_min_refresh_interval_seconds, 30);
    assert_eq!(auth.jwks_fetch_timeout_seconds, 5);
    assert_eq!(auth.permissions_claim, "permissions");
    assert!(auth.strict_validation);
    assert!(auth.log_unknown_permissions);
    assert_eq!(auth.api_key_header, "X-API-Key");
    assert_eq!(auth.api_keys_enabled, None);
    assert!(!auth.api_key_registry_active());
    assert_eq!(auth.jwt_allowed_algorithms, ["RS256"]);
    assert_eq!(auth.jwt_leeway_seconds, 60);
    assert!(auth.api_keys.is_empty());
    assert_eq!(
        loaded.config.database.url.expose(),
        "sqlite://data/tasker.db"
    );
    assert_eq!(loaded.config.templates.search_paths, ["config/tasks"]);
    assert_eq!(loaded.config.logging.level, "info");
    assert!(loaded.config.orchestration.embedded_worker);
    let worker = root.worker(&no_env()).unwrap();
    assert_eq!(worker.config.web.bind_address(), "127.0.0.1:8081");
    assert_eq!(worker.config.worker.concurrency, 8);
    assert_eq!(worker.config.worker.lease_seconds, 30);
    assert!(worker.config.worker.namespaces.is_empty());
}

#[test]
fn auth_disabled_pattern_loads() {
    let root = Root::new();
    let (orchestration, worker) = both_roles(&root, AUTH_DISABLED);
    assert!(!orchestration.enabled && !worker.enabled);
}

#[test]
fn static_key_pattern_loads_once_the_key_exists_and_uses_its_unlisted_key() {
    let root = Root::new();
    root.write("base/orchestration.toml", STATIC_KEY);
    let missing = root.orchestration(&no_env()).unwrap_err().to_string();
    assert!(
        missing.contains("web.auth.jwt_public_key_path"),
        "{missing}"
    );
    assert!(missing.contains("./keys/jwt-public-key.pem"), "{missing}");

    // With the key in place (here through the override variable, so the pattern stays
    // verbatim and nothing is written into the working directory; resolving the relative path
    // from a server's working directory is `tasker-server`'s `seed_pattern` test) both roles
    // load, and the listed key is used although `api_keys_enabled` is unset.
    let env = tasker_config::Env::from_pairs([("TASKER_JWT_PUBLIC_KEY_PATH", public_key_path())]);
    root.write("base/worker.toml", STATIC_KEY);
    let orchestration = root.orchestration(&env).unwrap().config.web.auth;
    let worker = root.worker(&env).unwrap().config.web.auth;
    for auth in [orchestration, worker] {
        assert!(auth.enabled);
        assert!(!auth.strict_validation);
        assert_eq!(auth.api_keys_enabled, None);
        assert!(
            auth.api_key_registry_active(),
            "listed key must be used when api_keys_enabled is unset"
        );
        assert_eq!(auth.api_keys[0].description, "Dev superuser key");
    }
}

#[test]
fn jwks_and_api_keys_pattern_loads() {
    let root = Root::new();
    let (orchestration, worker) = both_roles(&root, JWKS_AND_API_KEYS);
    for auth in [orchestration, worker] {
        assert_eq!(auth.jwt_verification_method, VerificationMethod::Jwks);
        assert_eq!(auth.jwt_issuer, "https://auth.company.com/");
        assert!(auth.api_key_registry_active());
        assert_eq!(auth.api_keys.len(), 2);
    }
}

#[test]
fn config_endpoint_pattern_loads_with_a_key() {
    let root = Root::new();
    let env = tasker_config::Env::from_pairs([("TASKER_JWT_PUBLIC_KEY_PATH", public_key_path())]);
    root.write("base/orchestration.toml", CONFIG_ENDPOINT);
    root.write("base/worker.toml", CONFIG_ENDPOINT);
    let orchestration = root.orchestration(&env).unwrap();
    let worker = root.worker(&env).unwrap();
    assert!(orchestration.config.web.config_endpoint_enabled);
    assert!(worker.config.web.config_endpoint_enabled);
    assert!(orchestration.config.web.auth.enabled);
}

#[test]
fn repository_config_loads_for_every_environment() {
    let root = tasker_testkit::repo_config_root();
    for environment in ["development", "test", "production"] {
        let options = tasker_config::LoadOptions {
            config_root: root.clone(),
            environment: environment.to_owned(),
            config_path: None,
        };
        let env =
            tasker_config::Env::from_pairs([("TASKER_JWT_PUBLIC_KEY_PATH", public_key_path())]);
        let orchestration =
            tasker_config::Loaded::<tasker_config::OrchestrationConfig>::load(&options, &env)
                .unwrap_or_else(|e| panic!("{environment}: {e}"));
        let worker = tasker_config::Loaded::<tasker_config::WorkerConfig>::load(&options, &env)
            .unwrap_or_else(|e| panic!("{environment}: {e}"));
        if environment == "production" {
            assert!(orchestration.config.web.auth.enabled);
            assert!(orchestration.config.web.auth.strict_validation);
            assert_eq!(orchestration.config.web.bind_address(), "0.0.0.0:8080");
            assert_eq!(worker.config.web.bind_address(), "0.0.0.0:8081");
            assert!(!orchestration.config.orchestration.embedded_worker);
        } else {
            assert!(!orchestration.config.web.auth.enabled);
            assert_eq!(worker.config.web.bind_address(), "127.0.0.1:8081");
        }
    }
}
