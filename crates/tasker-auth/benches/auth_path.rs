//! Cost of the authentication path per request: API key, cached JWT, cold RS256 JWT (full
//! verification, no cache), and the crypto library's raw RSA-2048 verify as the floor.
//!
//! `cargo bench -p tasker-auth --bench auth_path`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use tasker_auth::Authenticator;
use tasker_config::{ApiKeyConfig, AuthConfig, Secret};
use tasker_testkit::{Token, fixture, fixture_text};

fn config() -> AuthConfig {
    AuthConfig {
        enabled: true,
        jwt_public_key_path: fixture("rsa-a-public.pem").display().to_string(),
        api_keys: vec![ApiKeyConfig {
            key: Some(Secret::new("sk-bench-key")),
            permissions: vec!["*".into()],
            description: "bench".into(),
            ..ApiKeyConfig::default()
        }],
        ..AuthConfig::default()
    }
}

fn pkcs1_der() -> Vec<u8> {
    let pem = fixture_text("rsa-a-public-pkcs1.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

fn bench(c: &mut Criterion) {
    let auth = Authenticator::from_config(&config()).unwrap();
    let token = Token::with_permissions(&["*"]).sign();
    let now = chrono::Utc::now().timestamp();

    let mut api_key = HeaderMap::new();
    api_key.insert("x-api-key", HeaderValue::from_static("sk-bench-key"));
    let mut bearer = HeaderMap::new();
    bearer.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );

    let mut group = c.benchmark_group("auth_path");
    group.bench_function("api_key", |b| {
        b.iter(|| {
            auth.authenticate(black_box(&api_key))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    group.bench_function("jwt_cached", |b| {
        b.iter(|| {
            auth.authenticate(black_box(&bearer))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    let verifier = auth.jwt().unwrap();
    group.bench_function("jwt_cold_rs256", |b| {
        b.iter(|| verifier.inspect(black_box(&token), now).unwrap())
    });

    let (message, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1_der());
    key.verify(message.as_bytes(), &signature).unwrap();
    group.bench_function("raw_rsa2048_verify_floor", |b| {
        b.iter(|| {
            key.verify(black_box(message.as_bytes()), black_box(&signature))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
