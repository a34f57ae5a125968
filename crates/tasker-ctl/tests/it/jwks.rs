//! `auth validate-token --jwks-url` against a real key server on loopback.

use tasker_jwt::{Claims, mint_token};
use tasker_testkit::{JwksServer, fixture_text};
use tempfile::TempDir;

use crate::support::Ctl;

fn token(kid: &str, key: &str) -> String {
    let pem = fixture_text(key);
    let now = chrono::Utc::now().timestamp();
    let claims = Claims::new(
        "jwks-user",
        "tasker-core",
        "tasker-api",
        vec!["tasks:read".into()],
        std::time::Duration::from_secs(600),
        now,
    )
    .unwrap();
    mint_token(&pem, &claims, Some(kid)).unwrap()
}

#[test]
fn validate_token_against_a_jwks_url() {
    let server = JwksServer::start(&["rsa-a"]);
    let url = server.url();
    let cwd = TempDir::new().unwrap();
    let good = token("rsa-a", "rsa-a-private.pem");
    let out = Ctl::new(cwd.path())
        .args([
            "auth",
            "validate-token",
            "--token",
            &good,
            "--jwks-url",
            &url,
        ])
        .run()
        .expect_code(0);
    assert!(
        out.stdout.contains("subject:     jwks-user"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("key id:      rsa-a"), "{}", out.stdout);

    let unknown = token("rsa-b", "rsa-b-private.pem");
    let out = Ctl::new(cwd.path())
        .args([
            "auth",
            "validate-token",
            "--token",
            &unknown,
            "--jwks-url",
            &url,
        ])
        .run()
        .expect_code(1);
    assert!(
        out.stderr
            .contains("invalid token: Token signing key is unknown"),
        "{}",
        out.stderr
    );

    let out = Ctl::new(cwd.path())
        .args([
            "auth",
            "validate-token",
            "--token",
            &good,
            "--jwks-url",
            "http://idp.example.com/jwks",
        ])
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
}
