//! Startup validation: every rule names the key, where it was set and why, and never a
//! configured secret. Returns the non-fatal warnings.

use std::collections::HashMap;
use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use tasker_proto::PermissionSet;

use crate::bounded::read_bounded;
use crate::error::ConfigError;
use crate::loader::{Loaded, RoleConfig};
use crate::model::{
    ApiKeyConfig, AuthConfig, MAX_CANCEL_GRACE_SECONDS, MAX_PREFETCH, MAX_STATIC_KEYS,
    MAX_STEP_LOG_BYTES, VerificationMethod, WebConfig,
};
use tasker_proto::Env;

/// JWS algorithms a deployment may allow: asymmetric only.
pub const ALLOWED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

pub(crate) fn validate<C: RoleConfig>(
    config: &C,
    loaded: &Loaded<C>,
    env: &Env,
) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    let web = config.web();
    let bind = web.bind_address();
    if bind.parse::<SocketAddr>().is_err() && !is_host_port(bind) {
        return Err(loaded.error_at(
            "web.bind_address",
            "expected host:port, e.g. 127.0.0.1:8080",
        ));
    }
    validate_connection_limits(web, loaded)?;
    let url = config.database_url();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err(loaded.error_at("database.url", "expected a sqlite:… or postgres://… URL"));
    }
    if config.database_connect_timeout_seconds() == 0 {
        return Err(loaded.error_at("database.connect_timeout_seconds", "must be at least 1"));
    }
    if config.worker_section().step_log_max_bytes > MAX_STEP_LOG_BYTES {
        return Err(loaded.error_at(
            "worker.step_log_max_bytes",
            format!("must be at most {MAX_STEP_LOG_BYTES} (16 MiB)"),
        ));
    }
    if config.worker_section().prefetch.unwrap_or(0) > MAX_PREFETCH {
        return Err(loaded.error_at(
            "worker.prefetch",
            format!("must be at most {MAX_PREFETCH} (the most steps one claim takes)"),
        ));
    }
    if config.worker_section().cancel_grace_seconds > MAX_CANCEL_GRACE_SECONDS {
        return Err(loaded.error_at(
            "worker.cancel_grace_seconds",
            format!("must be at most {MAX_CANCEL_GRACE_SECONDS} (one hour)"),
        ));
    }
    validate_engine(config.engine(), loaded)?;
    validate_oidc(&web.ui, web.auth.enabled, loaded, &mut warnings)?;
    if let Some(endpoint) = &config.telemetry().otlp_endpoint {
        check_otlp_endpoint(endpoint)
            .map_err(|why| loaded.error_at("telemetry.otlp_endpoint", why))?;
    }
    let auth = &web.auth;
    validate_auth(auth, loaded, &mut warnings)?;
    if loaded.environment == "production"
        && !auth.enabled
        && env.get("TASKER_ALLOW_INSECURE") != Some("1")
    {
        return Err(loaded.error_at(
            "web.auth.enabled",
            "authentication must be enabled in the production environment \
             (set TASKER_ALLOW_INSECURE=1 to override)",
        ));
    }
    Ok(warnings)
}

/// The slow-client protections: zero would close every connection or admit none, and an
/// upper bound keeps deadlines representable.
fn validate_connection_limits<C: RoleConfig>(
    web: &WebConfig,
    loaded: &Loaded<C>,
) -> Result<(), ConfigError> {
    const DAY: u64 = 86_400;
    let limits: [(&str, u64, u64, &str); 4] = [
        (
            "header_read_timeout_ms",
            web.header_read_timeout_ms,
            3_600_000,
            "3600000 (one hour)",
        ),
        (
            "idle_timeout_seconds",
            web.idle_timeout_seconds,
            DAY,
            "86400 (one day)",
        ),
        (
            "write_timeout_seconds",
            web.write_timeout_seconds,
            DAY,
            "86400 (one day)",
        ),
        (
            "max_connections",
            u64::try_from(web.max_connections).unwrap_or(u64::MAX),
            MAX_CONNECTIONS,
            "1048576",
        ),
    ];
    for (key, value, max, max_text) in limits {
        if value == 0 || value > max {
            return Err(loaded.error_at(
                &format!("web.{key}"),
                format!("must be between 1 and {max_text}"),
            ));
        }
    }
    if web.ui.session_hours == 0 || web.ui.session_hours > MAX_SESSION_HOURS {
        return Err(loaded.error_at(
            "web.ui.session_hours",
            format!("must be between 1 and {MAX_SESSION_HOURS} (30 days)"),
        ));
    }
    Ok(())
}

/// The dynamic-workflow limits: zero would refuse every decision or batch.
fn validate_engine<C: RoleConfig>(
    engine: &crate::model::EngineConfig,
    loaded: &Loaded<C>,
) -> Result<(), ConfigError> {
    use crate::model::engine::{
        MAX_BATCHES_LIMIT, MAX_DECISION_DEPTH_LIMIT, MAX_SUBTASK_DEPTH_LIMIT,
    };
    if engine.max_subtask_depth == 0 || engine.max_subtask_depth > MAX_SUBTASK_DEPTH_LIMIT {
        return Err(loaded.error_at(
            "engine.max_subtask_depth",
            format!("must be between 1 and {MAX_SUBTASK_DEPTH_LIMIT}"),
        ));
    }
    if engine.max_decision_depth == 0 || engine.max_decision_depth > MAX_DECISION_DEPTH_LIMIT {
        return Err(loaded.error_at(
            "engine.max_decision_depth",
            format!("must be between 1 and {MAX_DECISION_DEPTH_LIMIT}"),
        ));
    }
    if engine.max_batches == 0 || engine.max_batches > MAX_BATCHES_LIMIT {
        return Err(loaded.error_at(
            "engine.max_batches",
            format!("must be between 1 and {MAX_BATCHES_LIMIT}"),
        ));
    }
    Ok(())
}
/// The console's OIDC sign-in: all three of issuer, client id and redirect URL or none; an
/// issuer and redirect URL over https (http only to a loopback host), the redirect URL at
/// the console's callback, and `openid` among the scopes.
fn validate_oidc<C: RoleConfig>(
    ui: &crate::model::UiConfig,
    auth_enabled: bool,
    loaded: &Loaded<C>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let keys = [
        ("oidc_issuer", &ui.oidc_issuer),
        ("oidc_client_id", &ui.oidc_client_id),
        ("oidc_redirect_url", &ui.oidc_redirect_url),
    ];
    let set = keys.iter().filter(|(_, v)| !v.trim().is_empty()).count();
    if set == 0 {
        return Ok(());
    }
    if let Some((missing, _)) = keys.iter().find(|(_, v)| v.trim().is_empty()) {
        return Err(loaded.error_at(
            &format!("web.ui.{missing}"),
            "OIDC sign-in needs oidc_issuer, oidc_client_id and oidc_redirect_url together",
        ));
    }
    check_web_url(&ui.oidc_issuer).map_err(|why| loaded.error_at("web.ui.oidc_issuer", why))?;
    if ui.oidc_issuer.contains(['?', '#']) {
        return Err(loaded.error_at(
            "web.ui.oidc_issuer",
            "an issuer URL has no query or fragment",
        ));
    }
    check_web_url(&ui.oidc_redirect_url)
        .map_err(|why| loaded.error_at("web.ui.oidc_redirect_url", why))?;
    let path_end = ui
        .oidc_redirect_url
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    if !path_end.ends_with("/ui/oidc/callback") {
        return Err(loaded.error_at(
            "web.ui.oidc_redirect_url",
            "must be the console's callback: http(s)://HOST/ui/oidc/callback",
        ));
    }
    if ui.oidc_client_id.len() > 255 || ui.oidc_client_id.chars().any(char::is_control) {
        return Err(loaded.error_at(
            "web.ui.oidc_client_id",
            "must be at most 255 characters without control characters",
        ));
    }
    if !ui.oidc_scopes.split_whitespace().any(|s| s == "openid") {
        return Err(loaded.error_at(
            "web.ui.oidc_scopes",
            "must include openid (the sign-in checks the ID token's nonce)",
        ));
    }
    if !auth_enabled {
        warnings.push(
            "web.ui.oidc_issuer is set but web.auth.enabled = false: the console is open and \
             offers no OIDC sign-in"
                .to_owned(),
        );
    }
    Ok(())
}

/// Longest console session, in hours.
const MAX_SESSION_HOURS: u64 = 720;

/// Largest accepted `web.max_connections`.
const MAX_CONNECTIONS: u64 = 1 << 20;

fn validate_auth<C: RoleConfig>(
    auth: &AuthConfig,
    loaded: &Loaded<C>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let err = |key: &str, reason: String| loaded.error_at(&format!("web.auth.{key}"), reason);
    if auth.jwt_allowed_algorithms.is_empty() {
        return Err(err(
            "jwt_allowed_algorithms",
            "must list at least one algorithm".into(),
        ));
    }
    // The entry is named by position, not quoted: a value interpolated from the environment
    // into the wrong key could be a secret.
    for (index, alg) in auth.jwt_allowed_algorithms.iter().enumerate() {
        if !ALLOWED_ALGORITHMS.contains(&alg.as_str()) {
            let why = if alg.eq_ignore_ascii_case("none") {
                "`none` (unsigned tokens) is never accepted".to_owned()
            } else if alg.to_ascii_uppercase().starts_with("HS") {
                format!(
                    "entry {index} is an HMAC algorithm; only asymmetric algorithms are accepted"
                )
            } else {
                format!(
                    "entry {index} is an unknown algorithm; expected one of {}",
                    ALLOWED_ALGORITHMS.join(", ")
                )
            };
            return Err(err("jwt_allowed_algorithms", why));
        }
    }
    if auth.jwt_token_expiry_hours == 0 {
        return Err(err("jwt_token_expiry_hours", "must be at least 1".into()));
    }
    for (key, value) in [
        (
            "jwks_refresh_interval_seconds",
            auth.jwks_refresh_interval_seconds,
        ),
        (
            "jwks_fetch_timeout_seconds",
            auth.jwks_fetch_timeout_seconds,
        ),
    ] {
        if value == 0 {
            return Err(err(key, "must be at least 1".into()));
        }
    }
    if auth.permissions_claim.trim().is_empty() {
        return Err(err("permissions_claim", "must name a claim".into()));
    }
    if !is_header_name(&auth.api_key_header) {
        return Err(err(
            "api_key_header",
            "is not a valid HTTP header name".into(),
        ));
    }
    validate_api_keys(auth, loaded)?;
    if auth.api_keys_enabled == Some(false) && !auth.api_keys.is_empty() {
        warnings.push(format!(
            "web.auth.api_keys_enabled = false: the {} configured API key(s) are ignored",
            auth.api_keys.len()
        ));
    }
    let previous = &auth.jwt_previous_public_key_paths;
    if previous.len() >= MAX_STATIC_KEYS {
        return Err(err(
            "jwt_previous_public_key_paths",
            format!(
                "lists {} keys; at most {} previous keys are accepted ({MAX_STATIC_KEYS} keys in all, each tried for a token without kid)",
                previous.len(),
                MAX_STATIC_KEYS - 1
            ),
        ));
    }
    if !previous.is_empty() && auth.jwt_verification_method == VerificationMethod::Jwks {
        warnings.push(
            "web.auth.jwt_previous_public_key_paths is ignored: jwt_verification_method = \"jwks\""
                .to_owned(),
        );
    }
    if auth.enabled {
        match auth.jwt_verification_method {
            VerificationMethod::PublicKey => {
                check_public_key(auth, loaded)?;
                check_previous_keys(auth, loaded)?;
            }
            VerificationMethod::Jwks => {
                check_jwks_url(&auth.jwks_url).map_err(|why| err("jwks_url", why))?
            }
        }
    }
    Ok(())
}

fn check_public_key<C: RoleConfig>(
    auth: &AuthConfig,
    loaded: &Loaded<C>,
) -> Result<(), ConfigError> {
    if !auth.jwt_public_key_path.is_empty() {
        let key = "web.auth.jwt_public_key_path";
        let text = read_bounded(&auth.jwt_public_key_path)
            .map_err(|e| loaded.error_at(key, e.to_string()))?;
        if !looks_like_public_key_pem(&text) {
            return Err(loaded.error_at(
                key,
                format!(
                    "{} is not a PEM public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)",
                    auth.jwt_public_key_path
                ),
            ));
        }
        return Ok(());
    }
    if auth.jwt_public_key.trim().is_empty() {
        return Err(loaded.error_at(
            "web.auth.jwt_public_key_path",
            "jwt_verification_method = \"public_key\" needs jwt_public_key_path or jwt_public_key",
        ));
    }
    if !looks_like_public_key_pem(&auth.jwt_public_key) {
        return Err(loaded.error_at(
            "web.auth.jwt_public_key",
            "is not a PEM public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)",
        ));
    }
    Ok(())
}

/// Every `jwt_previous_public_key_paths` entry is a readable PEM public key, named by its
/// position and path.
fn check_previous_keys<C: RoleConfig>(
    auth: &AuthConfig,
    loaded: &Loaded<C>,
) -> Result<(), ConfigError> {
    for (index, path) in auth.jwt_previous_public_key_paths.iter().enumerate() {
        let key = format!("web.auth.jwt_previous_public_key_paths[{index}]");
        let text = read_bounded(path).map_err(|e| loaded.error_at(&key, e.to_string()))?;
        if !looks_like_public_key_pem(&text) {
            return Err(loaded.error_at(
                &key,
                format!(
                    "{path} is not a PEM public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)"
                ),
            ));
        }
    }
    Ok(())
}

fn looks_like_public_key_pem(text: &str) -> bool {
    text.contains("-----BEGIN PUBLIC KEY-----") || text.contains("-----BEGIN RSA PUBLIC KEY-----")
}

/// Checks a JWKS URL: https, or http to a loopback host.
pub fn check_jwks_url(url: &str) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("jwt_verification_method = \"jwks\" needs jwks_url".into());
    }
    check_web_url(url)
}

/// Checks a URL the server fetches or sends browsers to: https, or http to a loopback host.
pub fn check_web_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let hostname = if host.starts_with('[') {
            host.split(']')
                .next()
                .map(|h| h.trim_start_matches('['))
                .unwrap_or_default()
        } else {
            host.split(':').next().unwrap_or_default()
        };
        let loopback = hostname == "localhost"
            || hostname
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        return Err("http:// is allowed only for loopback hosts; use https://".into());
    }
    Err("must be an https:// URL".into())
}

fn validate_api_keys<C: RoleConfig>(
    auth: &AuthConfig,
    loaded: &Loaded<C>,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<[u8; 32], String> = HashMap::new();
    for (index, entry) in auth.api_keys.iter().enumerate() {
        let path = format!("web.auth.api_keys[{index}]");
        let label = entry.label(index);
        let hash =
            entry_hash(entry).map_err(|why| loaded.error_at(&path, format!("{label}: {why}")))?;
        if let Some(previous) = seen.insert(hash, label.clone()) {
            return Err(
                loaded.error_at(&path, format!("{label}: duplicates the key of {previous}"))
            );
        }
        let permissions = PermissionSet::parse(&entry.permissions);
        if auth.strict_validation && !permissions.unknown().is_empty() {
            return Err(loaded.error_at(
                &format!("{path}.permissions"),
                format!(
                    "{label}: unknown permissions: {} (strict_validation = true)",
                    permissions.unknown().join(", ")
                ),
            ));
        }
        if let Some(expires) = &entry.expires_at {
            chrono::DateTime::parse_from_rfc3339(expires).map_err(|e| {
                loaded.error_at(
                    &format!("{path}.expires_at"),
                    format!("{label}: not an RFC 3339 instant: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// SHA-256 of the entry's key, from `key` or `key_hash`.
fn entry_hash(entry: &ApiKeyConfig) -> Result<[u8; 32], String> {
    match (&entry.key, &entry.key_hash) {
        (Some(_), Some(_)) => Err("set either key or key_hash, not both".into()),
        (None, None) => Err("has no key (set key, key_hash or key_file)".into()),
        (Some(key), None) if key.is_empty() => Err("key is empty".into()),
        (Some(key), None) => Ok(Sha256::digest(key.expose().as_bytes()).into()),
        (None, Some(hash)) => parse_key_hash(hash.expose()),
    }
}

/// Parses `sha256:<64 hex digits>`.
pub fn parse_key_hash(text: &str) -> Result<[u8; 32], String> {
    let hex_part = text
        .strip_prefix("sha256:")
        .ok_or_else(|| "key_hash must look like sha256:<64 hex digits>".to_owned())?;
    let bytes = hex::decode(hex_part).map_err(|_| "key_hash is not valid hex".to_owned())?;
    bytes
        .try_into()
        .map_err(|_| "key_hash must hold 32 bytes (64 hex digits)".to_owned())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks an OTLP/HTTP endpoint: empty (export off), or an `http://` / `https://` URL with a
/// host, an optional numeric port and path, and no credentials, query or fragment. The reason
/// never quotes the value.
pub(crate) fn check_otlp_endpoint(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err("expected an http:// or https:// URL, e.g. http://127.0.0.1:4318".into());
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    if url.contains(['?', '#']) {
        return Err("must not have a query or fragment".into());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry credentials".into());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, port)) if host.parse::<std::net::Ipv6Addr>().is_ok() => (host, port),
            _ => return Err("has a malformed IPv6 host".into()),
        }
    } else {
        match authority.split_once(':') {
            Some((host, _)) => (host, &authority[host.len()..]),
            None => (authority, ""),
        }
    };
    let host_ok = !host.is_empty()
        && (authority.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if !host_ok {
        return Err("needs a host, e.g. http://127.0.0.1:4318".into());
    }
    if let Some(port) = port.strip_prefix(':') {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Err("has a port that is not a number from 1 to 65535".into());
        }
    } else if !port.is_empty() {
        return Err("has characters after its host that are not a port".into());
    }
    Ok(())
}

fn is_host_port(text: &str) -> bool {
    text.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_endpoint_rules() {
        for good in [
            "",
            "http://127.0.0.1:4318",
            "http://collector:4318/",
            "https://otel.example.com/otlp/v1/traces",
            "http://[::1]:4318",
            "http://localhost",
        ] {
            assert_eq!(check_otlp_endpoint(good), Ok(()), "{good}");
        }
        for bad in [
            "127.0.0.1:4318",
            "grpc://collector:4317",
            "http://",
            "http://:4318",
            "http://collector:port",
            "http://collector:0",
            "http://collector:70000",
            "http://user:CANARY@collector:4318",
            "http://collector:4318?x=1",
            "http://coll ector:4318",
            "http://[nothost]:4318",
        ] {
            let reason = check_otlp_endpoint(bad).expect_err(bad);
            assert!(!reason.contains("CANARY"), "{reason}");
        }
    }

    #[test]
    fn jwks_url_rules() {
        assert!(check_jwks_url("https://auth.example.com/.well-known/jwks.json").is_ok());
        assert!(check_jwks_url("http://127.0.0.1:9000/jwks").is_ok());
        assert!(check_jwks_url("http://localhost/jwks").is_ok());
        assert!(check_jwks_url("http://[::1]:80/jwks").is_ok());
        assert!(check_jwks_url("http://auth.example.com/jwks").is_err());
        assert!(check_jwks_url("ftp://x").is_err());
        assert!(check_jwks_url("").is_err());
    }

    #[test]
    fn key_hash_format() {
        let hex = "a".repeat(64);
        assert!(parse_key_hash(&format!("sha256:{hex}")).is_ok());
        assert!(parse_key_hash(&hex).is_err());
        assert!(parse_key_hash("sha256:abcd").is_err());
        assert!(parse_key_hash(&format!("sha256:{}", "z".repeat(64))).is_err());
    }

    // Found by the `config_loader` fuzz target: an unknown algorithm was quoted in the error, so
    // a secret interpolated into `jwt_allowed_algorithms` by mistake reached the error message.
    #[test]
    fn algorithm_errors_do_not_quote_the_value() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("base")).unwrap();
        let options = crate::LoadOptions {
            config_root: root.path().to_owned(),
            environment: "development".into(),
            config_path: None,
        };
        let env = Env::from_pairs([("SECRET", "sk-canary-4f1d")]);
        for (alg, expect) in [("${SECRET}", "unknown algorithm"), ("HS${SECRET}", "HMAC")] {
            std::fs::write(
                root.path().join("base/orchestration.toml"),
                format!("[web.auth]\njwt_allowed_algorithms = [\"RS256\", \"{alg}\"]\n"),
            )
            .unwrap();
            let err = Loaded::<crate::OrchestrationConfig>::load(&options, &env).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("sk-canary-4f1d"), "{text}");
            assert!(text.contains("web.auth.jwt_allowed_algorithms"), "{text}");
            assert!(text.contains("entry 1") && text.contains(expect), "{text}");
        }
    }

    #[test]
    fn header_names() {
        assert!(is_header_name("X-API-Key"));
        assert!(!is_header_name("X API Key"));
        assert!(!is_header_name(""));
    }
}
