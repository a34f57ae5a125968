//! The request-authentication path of `tasker-auth`: `Authorization` / API-key header parsing,
//! bearer JWT verification against the static RSA fixture key, and the API-key registry.
//!
//! Properties: never a panic; a request is accepted only when it carries, exactly, the one
//! valid token minted at start-up or a live configured API key (arbitrary bytes never
//! authenticate, and neither does any edit of the valid token); a refusal's message never
//! echoes the presented credential.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tasker_auth::{AuthMethod, Authenticator};
use tasker_config::{ApiKeyConfig, AuthConfig, Secret};
use tasker_testkit::{Token, fixture};

const LIVE_KEYS: [&str; 2] = ["sk-fuzz-live-alpha-7c1e", "sk-fuzz-live-beta-02d9"];
const EXPIRED_KEY: &str = "sk-fuzz-expired-55aa";

struct Harness {
    runtime: tokio::runtime::Runtime,
    auth: Authenticator,
    /// A token signed by the fixture private key, valid for an hour, minted at start-up.
    valid_token: String,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let key = |key: &str, description: &str, expires_at: Option<&str>| ApiKeyConfig {
        key: Some(Secret::new(key)),
        permissions: vec!["*".into()],
        description: description.into(),
        expires_at: expires_at.map(str::to_owned),
        ..ApiKeyConfig::default()
    };
    let config = AuthConfig {
        enabled: true,
        jwt_public_key_path: fixture("rsa-a-public.pem").display().to_string(),
        jwt_allowed_algorithms: vec!["RS256".into(), "PS256".into()],
        api_keys: vec![
            key(LIVE_KEYS[0], "alpha", None),
            key(LIVE_KEYS[1], "beta", Some("2999-01-01T00:00:00Z")),
            key(EXPIRED_KEY, "expired", Some("2001-01-01T00:00:00Z")),
        ],
        ..AuthConfig::default()
    };
    let harness = Harness {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime"),
        auth: Authenticator::from_config(&config).expect("authenticator from the fixtures"),
        valid_token: Token::with_permissions(&["*"]).sign(),
    };
    // The harness must be able to say yes, or "always refused" would prove nothing.
    let bearer = format!("Bearer {}", harness.valid_token);
    assert!(
        harness
            .decide(&headers(&[("authorization", bearer.as_bytes())]))
            .is_ok()
    );
    for live in LIVE_KEYS {
        assert!(
            harness
                .decide(&headers(&[("x-api-key", live.as_bytes())]))
                .is_ok()
        );
    }
    assert!(
        harness
            .decide(&headers(&[("x-api-key", EXPIRED_KEY.as_bytes())]))
            .is_err()
    );
    harness
});

impl Harness {
    fn decide(&self, headers: &HeaderMap) -> Result<AuthMethod, String> {
        self.runtime
            .block_on(self.auth.authenticate(headers))
            .map(|principal| principal.method)
            .map_err(|err| format!("{err} / {err:?}"))
    }
}

fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(*name, value);
        }
    }
    map
}

/// Whether an `Authorization` value may authenticate: `Bearer <the valid token>`.
fn carries_valid_token(value: &[u8], valid: &str) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let text = text.trim();
    text.len() > 7
        && text.is_char_boundary(6)
        && text[..6].eq_ignore_ascii_case("bearer")
        && text[6..].starts_with(' ')
        && text[7..].trim() == valid
}

/// A refusal must not echo the credential. A fixed message can happen to contain a credential
/// that spells part of it, so an apparent echo is confirmed by changing one character of the
/// credential and checking that the new refusal contains the changed credential too.
fn assert_not_echoed(h: &Harness, sent: &HeaderMap, name: &str, credential: &[u8], message: &str) {
    let trimmed = credential.trim_ascii();
    if trimmed.len() < 16 || !contains(message, trimmed) {
        return;
    }
    let middle = trimmed.len() / 2;
    let Some(at) = (middle..trimmed.len())
        .chain(0..middle)
        .find(|i| trimmed[*i].is_ascii_alphanumeric())
    else {
        return;
    };
    let mut changed = trimmed.to_vec();
    changed[at] = match changed[at] {
        b'z' => b'y',
        b'Z' => b'Y',
        b'9' => b'8',
        other => other + 1,
    };
    let mut again = HeaderMap::new();
    for (key, value) in sent {
        let value = if key.as_str() == name && value.as_bytes() == credential {
            HeaderValue::from_bytes(&changed).expect("same bytes class")
        } else {
            value.clone()
        };
        again.append(key.clone(), value);
    }
    if let Err(second) = h.decide(&again) {
        assert!(
            !contains(&second, &changed),
            "a refusal echoes the presented credential: {second}"
        );
    }
}

fn contains(haystack: &str, needle: &[u8]) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w == needle)
}

fn split(data: &[u8], separator: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == separator) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// A compact JWS from arbitrary header JSON, claims JSON and signature bytes.
fn token_from_parts(data: &[u8]) -> Vec<u8> {
    let (header, rest) = split(data, 0xff);
    let (claims, signature) = split(rest, 0xff);
    format!(
        "Bearer {}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
    .into_bytes()
}

/// The valid token with byte edits: pairs of (position, replacement byte).
fn edited_token(valid: &str, data: &[u8]) -> Vec<u8> {
    let mut token = valid.as_bytes().to_vec();
    for edit in data.chunks_exact(3) {
        let position = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % token.len();
        token[position] = edit[2];
    }
    let mut value = b"Bearer ".to_vec();
    value.extend_from_slice(&token);
    value
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let h = &*HARNESS;
    let mut authorization: Vec<Vec<u8>> = Vec::new();
    let mut api_key: Vec<Vec<u8>> = Vec::new();
    match mode % 8 {
        0 => authorization.push(rest.to_vec()),
        1 => api_key.push(rest.to_vec()),
        2 => authorization.push([b"Bearer ".as_slice(), rest].concat()),
        3 => {
            let (a, b) = split(rest, 0);
            authorization.push(a.to_vec());
            api_key.push(b.to_vec());
        }
        4 => authorization.push(token_from_parts(rest)),
        5 => {
            let (a, b) = split(rest, 0);
            api_key.push(a.to_vec());
            api_key.push(b.to_vec());
        }
        6 => {
            let (a, b) = split(rest, 0);
            authorization.push(a.to_vec());
            authorization.push(b.to_vec());
        }
        _ => authorization.push(edited_token(&h.valid_token, rest)),
    }
    let mut map = HeaderMap::new();
    for (name, values) in [("authorization", &authorization), ("x-api-key", &api_key)] {
        for value in values {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                map.append(name, value);
            }
        }
    }
    let sent_authorization: Vec<&[u8]> = map
        .get_all("authorization")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let sent_keys: Vec<&[u8]> = map
        .get_all("x-api-key")
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();

    match h.decide(&map) {
        Ok(AuthMethod::Jwt) => assert!(
            sent_authorization.len() == 1
                && carries_valid_token(sent_authorization[0], &h.valid_token),
            "a request without the valid token authenticated by JWT: {sent_authorization:?}"
        ),
        Ok(AuthMethod::ApiKey) => assert!(
            sent_authorization.is_empty()
                && sent_keys.len() == 1
                && LIVE_KEYS
                    .iter()
                    .any(|k| sent_keys[0].trim_ascii() == k.as_bytes()),
            "a request without a live API key authenticated by API key: {sent_keys:?}"
        ),
        Ok(other) => panic!("unexpected authentication method {other:?} with auth enabled"),
        Err(message) => {
            for (name, credential) in sent_authorization
                .iter()
                .map(|c| ("authorization", *c))
                .chain(sent_keys.iter().map(|c| ("x-api-key", *c)))
            {
                assert_not_echoed(h, &map, name, credential, &message);
            }
        }
    }
});
