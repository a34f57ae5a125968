//! Property tests of the credential path: arbitrary headers and mutated tokens never panic
//! and are never accepted.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue};
use futures::FutureExt;
use proptest::prelude::*;
use tasker_auth::Authenticator;
use tasker_config::{ApiKeyConfig, AuthConfig, Secret};
use tasker_testkit::{Token, fixture};

fn authenticator() -> &'static Authenticator {
    static AUTH: OnceLock<Authenticator> = OnceLock::new();
    AUTH.get_or_init(|| {
        let config = AuthConfig {
            enabled: true,
            jwt_public_key_path: fixture("rsa-a-public.pem").display().to_string(),
            api_keys: vec![ApiKeyConfig {
                key: Some(Secret::new("sk-fuzz-known")),
                permissions: vec!["*".into()],
                description: "fuzz".into(),
                ..ApiKeyConfig::default()
            }],
            ..AuthConfig::default()
        };
        Authenticator::from_config(&config).unwrap()
    })
}

fn valid_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| Token::with_permissions(&["*"]).sign())
}

fn decide(headers: &HeaderMap) -> bool {
    authenticator()
        .authenticate(headers)
        .now_or_never()
        .expect("no await point without JWKS")
        .is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_authorization_values_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value.clone());
            prop_assert!(!decide(&headers));
            let mut with_key = HeaderMap::new();
            with_key.insert("x-api-key", value);
            prop_assert!(!decide(&with_key));
        }
    }

    #[test]
    fn arbitrary_bearer_strings_are_refused(token in "[A-Za-z0-9_.=-]{0,300}") {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        prop_assert!(!decide(&headers));
    }

    #[test]
    fn mutated_tokens_are_refused(position in 0usize..10_000, replacement in "[A-Za-z0-9_-]") {
        let token = valid_token();
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        // Change one character of the header or payload (the signed part).
        let index = position % signing_input.len();
        let original = &token[index..index + 1];
        prop_assume!(original != "." && original != replacement.as_str());
        let mut mutated = token.to_owned();
        mutated.replace_range(index..index + 1, &replacement);
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {mutated}")).unwrap());
        prop_assert!(!decide(&headers), "a token with a changed signed byte was accepted");
    }
}

#[test]
fn the_unmutated_token_is_accepted() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", valid_token())).unwrap(),
    );
    assert!(decide(&headers));
}
