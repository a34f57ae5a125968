//! `auth validate-token --jwks-url` against a real key server on loopback.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use tasker_jwt::{Claims, mint_token};
use tempfile::TempDir;

use crate::support::Ctl;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tasker-auth/tests/fixtures")
}

/// Serves `body` to every request until the test process ends; returns the URL.
fn serve(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

fn token(kid: &str, key: &str) -> String {
    let pem = std::fs::read_to_string(fixtures().join(key)).unwrap();
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
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("jwks-keys.json")).unwrap())
            .unwrap();
    let url = serve(serde_json::json!({"keys": [keys["rsa-a"]]}).to_string());
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
