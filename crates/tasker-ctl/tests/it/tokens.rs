//! `auth generate-token` and `auth validate-token`.

use tasker_testkit::TestConfig;
use tempfile::TempDir;

use crate::support::{Ctl, decode, keys, mint, now, other_keys};

fn generate_token(cwd: &std::path::Path, extra: &[&str]) -> crate::support::Output {
    Ctl::new(cwd)
        .args(["auth", "generate-token", "--private-key"])
        .args([&keys().private_path])
        .args(extra)
        .run()
}

fn assert_about(actual: i64, expected: i64) {
    assert!((actual - expected).abs() <= 60, "{actual} vs {expected}");
}

#[test]
fn token_carries_the_requested_claims_and_is_all_of_stdout() {
    let cwd = TempDir::new().unwrap();
    let out = generate_token(
        cwd.path(),
        &[
            "--permissions",
            "tasks:read,tasks:list",
            "--subject",
            "svc-monitor",
            "--expiry-hours",
            "2",
        ],
    )
    .expect_code(0);
    let token = out.stdout.strip_suffix('\n').unwrap();
    assert!(!token.contains(char::is_whitespace));
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(out.stderr, "");

    let data = decode(token, keys(), "tasker-core", "tasker-api");
    assert_eq!(data.header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(data.claims.sub, "svc-monitor");
    assert_eq!(data.claims.permissions, ["tasks:read", "tasks:list"]);
    assert_about(data.claims.exp, now() + 2 * 3600);
    assert_about(data.claims.iat, now());
}

#[test]
fn seed_defaults_apply_without_configuration() {
    let cwd = TempDir::new().unwrap();
    let out = generate_token(cwd.path(), &["--permissions", "*"]).expect_code(0);
    let data = decode(out.stdout.trim_end(), keys(), "tasker-core", "tasker-api");
    assert_eq!(data.claims.sub, "tasker-ctl");
    assert_eq!(data.claims.permissions, ["*"]);
    assert_about(data.claims.exp, now() + 24 * 3600);
}

#[test]
fn issuer_audience_and_kid_flags_are_used() {
    let cwd = TempDir::new().unwrap();
    let out = generate_token(
        cwd.path(),
        &[
            "--permissions",
            "dlq:*",
            "--issuer",
            "https://auth.example.com/",
            "--audience",
            "other-api",
            "--kid",
            "key-7",
        ],
    )
    .expect_code(0);
    let data = decode(
        out.stdout.trim_end(),
        keys(),
        "https://auth.example.com/",
        "other-api",
    );
    assert_eq!(data.header.kid.as_deref(), Some("key-7"));
}

#[test]
fn unknown_permissions_are_warned_about_on_stderr_only() {
    let cwd = TempDir::new().unwrap();
    let out = generate_token(cwd.path(), &["--permissions", "tasks:read,tasks:fly"]).expect_code(0);
    assert!(out.stderr.contains("`tasks:fly`"), "{}", out.stderr);
    assert!(!out.stderr.contains("tasks:read"), "{}", out.stderr);
    let data = decode(out.stdout.trim_end(), keys(), "tasker-core", "tasker-api");
    assert_eq!(data.claims.permissions, ["tasks:read", "tasks:fly"]);
}

#[test]
fn orchestration_config_supplies_defaults_and_the_private_key() {
    let pem = &keys().private_pem;
    let orchestration = format!(
        "[web.auth]\njwt_issuer = \"configured-iss\"\njwt_audience = \"configured-aud\"\n\
         jwt_token_expiry_hours = 3\njwt_private_key = '''\n{pem}'''\n"
    );
    let root = TestConfig::with_files(&[("base/orchestration.toml", &orchestration)]);
    let cwd = TempDir::new().unwrap();
    let out = Ctl::new(cwd.path())
        .args(["--config-root"])
        .args([root.root()])
        .args(["auth", "generate-token", "--permissions", "tasks:read"])
        .run()
        .expect_code(0);
    let data = decode(
        out.stdout.trim_end(),
        keys(),
        "configured-iss",
        "configured-aud",
    );
    assert_about(data.claims.exp, now() + 3 * 3600);

    // TASKER_CONFIG_ROOT works as well as the flag, and flags beat the configuration.
    let out = Ctl::new(cwd.path())
        .env("TASKER_CONFIG_ROOT", root.root())
        .args(["auth", "generate-token", "--permissions", "tasks:read"])
        .args(["--issuer", "flag-iss", "--expiry-hours", "1"])
        .run()
        .expect_code(0);
    let data = decode(out.stdout.trim_end(), keys(), "flag-iss", "configured-aud");
    assert_about(data.claims.exp, now() + 3600);
}

#[test]
fn private_key_path_variable_is_used_when_the_flag_is_absent() {
    let cwd = TempDir::new().unwrap();
    let out = Ctl::new(cwd.path())
        .env("TASKER_JWT_PRIVATE_KEY_PATH", &keys().private_path)
        .args(["auth", "generate-token", "--permissions", "tasks:read"])
        .run()
        .expect_code(0);
    decode(out.stdout.trim_end(), keys(), "tasker-core", "tasker-api");
}

#[test]
fn missing_or_unusable_private_keys_fail_with_one_line() {
    let cwd = TempDir::new().unwrap();
    let out = Ctl::new(cwd.path())
        .args(["auth", "generate-token", "--permissions", "tasks:read"])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("no private key"), "{}", out.stderr);
    assert_eq!(out.stdout, "");

    // A public key is not a signing key; the message names the file, not its contents.
    let out = Ctl::new(cwd.path())
        .args(["auth", "generate-token", "--permissions", "tasks:read"])
        .args(["--private-key"])
        .args([&keys().public_path])
        .run()
        .expect_code(1);
    assert!(
        out.stderr
            .contains(&keys().public_path.display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    for line in keys().public_pem.lines().skip(1).take(3) {
        assert!(!out.stderr.contains(line), "{}", out.stderr);
    }
    assert_eq!(out.stdout, "");

    let out = Ctl::new(cwd.path())
        .args(["auth", "generate-token", "--permissions", "tasks:read"])
        .args(["--private-key", "does-not-exist.pem"])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("does-not-exist.pem"), "{}", out.stderr);
}

fn validate(token: &str, public: &std::path::Path, extra: &[&str]) -> crate::support::Output {
    let cwd = TempDir::new().unwrap();
    Ctl::new(cwd.path())
        .args(["auth", "validate-token", "--token", token, "--public-key"])
        .args([public])
        .args(extra)
        .run()
}

#[test]
fn a_valid_token_prints_its_claims() {
    let start = now();
    let token = mint(keys(), "svc-a", &["tasks:read", "dlq:*"], start, 2);
    let out = validate(&token, &keys().public_path, &[]).expect_code(0);
    let expires = chrono::DateTime::from_timestamp(start + 7200, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for line in [
        "subject:     svc-a",
        "issuer:      tasker-core",
        "audience:    tasker-api",
        &format!("expires:     {expires}"),
        "permissions: tasks:read, dlq:*",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "{line}\n{}",
            out.stdout
        );
    }
}

#[test]
fn a_generated_token_validates_through_stdin() {
    let cwd = TempDir::new().unwrap();
    let token = generate_token(cwd.path(), &["--permissions", "templates:read"])
        .expect_code(0)
        .stdout;
    let out = Ctl::new(cwd.path())
        .args(["auth", "validate-token", "--public-key"])
        .args([&keys().public_path])
        .stdin(&token)
        .run()
        .expect_code(0);
    assert!(
        out.stdout.contains("permissions: templates:read"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("subject:     tasker-ctl"),
        "{}",
        out.stdout
    );
}

#[test]
fn invalid_tokens_fail_with_the_reason_and_never_echo_the_token() {
    let expired = mint(keys(), "svc", &["tasks:read"], now() - 3 * 3600, 1);
    let wrong_key = mint(other_keys(), "svc", &["tasks:read"], now(), 1);
    let future = mint(keys(), "svc", &["tasks:read"], now() + 2 * 3600, 1);
    let confused = hmac_with_public_key();
    let unsigned = unsigned_token();
    let cases = [
        (expired.as_str(), "expired"),
        (wrong_key.as_str(), "signature"),
        (future.as_str(), "not yet valid"),
        (confused.as_str(), "algorithm"),
        (unsigned.as_str(), "malformed"),
        ("not-a-token", "malformed"),
        ("a.b.c", "malformed"),
    ];
    for (token, reason) in cases {
        let out = validate(token, &keys().public_path, &[]).expect_code(1);
        assert!(out.stderr.contains("invalid token"), "{}", out.stderr);
        assert!(
            out.stderr.to_lowercase().contains(reason),
            "{reason}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains(token), "token echoed: {}", out.stderr);
        assert_eq!(out.stdout, "");
    }
    let good = mint(keys(), "svc", &["tasks:read"], now(), 1);
    let out = validate(&good, &keys().public_path, &["--issuer", "someone-else"]).expect_code(1);
    assert!(out.stderr.contains("issuer"), "{}", out.stderr);
    let out = validate(&good, &keys().public_path, &["--audience", "another-api"]).expect_code(1);
    assert!(out.stderr.contains("audience"), "{}", out.stderr);
}

#[test]
fn validate_without_a_token_or_key_fails_clearly() {
    let cwd = TempDir::new().unwrap();
    let out = Ctl::new(cwd.path())
        .args(["auth", "validate-token", "--public-key"])
        .args([&keys().public_path])
        .stdin("")
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("no token"), "{}", out.stderr);
    let token = mint(keys(), "svc", &["tasks:read"], now(), 1);
    let out = Ctl::new(cwd.path())
        .args(["auth", "validate-token", "--token", &token])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("no public key"), "{}", out.stderr);
}

fn claims_json() -> serde_json::Value {
    serde_json::json!({
        "sub": "svc", "iss": "tasker-core", "aud": "tasker-api",
        "exp": now() + 3600, "permissions": ["*"],
    })
}

/// HS256 with the public key's PEM as the HMAC secret (algorithm confusion).
fn hmac_with_public_key() -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(keys().public_pem.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(&header, &claims_json(), &key).unwrap()
}

/// `alg: none` with an empty signature.
fn unsigned_token() -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims_json().to_string())
    )
}

/// Signs `claims` as they are (RS256, the fixture key), so a test can send shapes the minting
/// code never produces.
fn sign_raw(claims: &serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(keys().private_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        claims,
        &key,
    )
    .unwrap()
}

#[test]
fn validate_refuses_what_a_server_refuses() {
    // A non-string entry makes the server refuse the whole claim; the CLI must not drop it
    // and call the rest valid.
    let mut mixed = claims_json();
    mixed["permissions"] = serde_json::json!(["tasks:read", 3]);
    let out = validate(&sign_raw(&mixed), &keys().public_path, &[]).expect_code(1);
    assert!(
        out.stderr
            .contains("Claim `permissions` must be an array of strings"),
        "{}",
        out.stderr
    );
    // Unknown strings are refused under strict validation (the default), as a server does.
    let mut unknown = claims_json();
    unknown["permissions"] = serde_json::json!(["tasks:read", "tasks:fly"]);
    let out = validate(&sign_raw(&unknown), &keys().public_path, &[]).expect_code(1);
    assert!(
        out.stderr.contains("Unknown permissions: tasks:fly"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn a_thumbprint_kid_picks_its_key_among_several_static_keys() {
    use std::sync::Arc;
    use tasker_auth::{JwtVerifier, KeyStore, VerificationKey};

    let cwd = TempDir::new().unwrap();
    let kid = tasker_auth::rsa_thumbprint(&keys().public_pem).unwrap();
    let out = generate_token(cwd.path(), &["--permissions", "*", "--kid", &kid]).expect_code(0);
    let token = out.stdout.trim_end();
    assert_eq!(
        decode(token, keys(), "tasker-core", "tasker-api")
            .header
            .kid
            .as_deref(),
        Some(kid.as_str())
    );
    // The server's key set during a rotation: the other key first, this one second.
    let static_key = |pem: &str| VerificationKey::rsa_pem(pem, None).unwrap();
    let store = KeyStore::with_keys(vec![
        static_key(&other_keys().public_pem),
        static_key(&keys().public_pem),
    ]);
    let verifier =
        JwtVerifier::new(&tasker_config::AuthConfig::default(), Arc::new(store)).unwrap();
    assert_eq!(
        verifier.inspect(token, now()).unwrap().subject,
        "tasker-ctl"
    );
    let stray =
        generate_token(cwd.path(), &["--permissions", "*", "--kid", "key-7"]).expect_code(0);
    assert_eq!(
        verifier
            .inspect(stray.stdout.trim_end(), now())
            .unwrap_err()
            .to_string(),
        "Token signing key is unknown"
    );
}
