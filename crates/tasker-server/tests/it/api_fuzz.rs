//! Hostile input against a running server, with auth on and off: random bodies, paths,
//! queries and headers on every documented operation never produce a 5xx, and every error
//! uses the envelope.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::Value;
use tasker_testkit::Token;

use crate::*;

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "-1",
    "1e309",
    "\"namespace\"",
    "\"name\"",
    "\"examples\"",
    "\"linear_math\"",
    "\"context\"",
    "\"action_type\"",
    "\"resolve_manually\"",
    "\"resolution_status\"",
    "\\u0000",
    "\u{1F600}",
    "%",
    "../",
    "'",
    " ",
    "\n",
    "name: x\nnamespace: y\nversion: 1\nsteps: [",
    "steps:\n  - name: a\n",
];

fn junk(rng: &mut StdRng) -> String {
    (0..rng.random_range(0..12))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

fn fill(template: &str, rng: &mut StdRng) -> String {
    let choices = [
        "6f1d2c3e-0000-4000-8000-000000000001",
        "not-a-uuid",
        "%00",
        "examples",
        "..",
        "a%2Fb",
        "9999999999999999999999",
    ];
    let mut out = String::new();
    for segment in template.split('/') {
        if segment.is_empty() {
            continue;
        }
        out.push('/');
        if segment.starts_with('{') {
            out.push_str(choices[rng.random_range(0..choices.len())]);
        } else {
            out.push_str(segment);
        }
    }
    if rng.random_bool(0.3) {
        out.push_str(
            [
                "?page=-1",
                "?per_page=100000",
                "?status=%FF",
                "?hours=abc",
                "?limit=1&limit=2",
                "?x=1",
            ][rng.random_range(0..6)],
        );
    }
    out
}

async fn hammer(base: &str, doc: &Value, token: Option<&str>) {
    let mut rng = StdRng::seed_from_u64(0x7a5c);
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    let client = reqwest::Client::new();
    for round in 0..400 {
        let (method, template) = &operations[round % operations.len()];
        let path = fill(template, &mut rng);
        let mut request = client.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let content_type = [
            "application/json",
            "application/yaml",
            "text/plain",
            "application/json; charset=utf-16",
        ][rng.random_range(0..4)];
        let response = request
            .header("content-type", content_type)
            .body(junk(&mut rng))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(!status.is_server_error(), "{method} {path}: {status}");
        if status.is_client_error() {
            let body: Value = response
                .json()
                .await
                .unwrap_or_else(|_| panic!("{method} {path}: {status} without a JSON envelope"));
            assert!(
                body["error"].is_string() && body["message"].is_string(),
                "{method} {path}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn random_requests_never_produce_5xx_with_auth_on_and_off() {
    let (secured, _a) = start(SERVER, "orchestration", &auth_config("", ""));
    let doc: Value = get(&secured, "/api-docs/openapi.json", &[])
        .await
        .json()
        .await
        .unwrap();
    let token = Token::with_permissions(&["*"]).sign();
    hammer(&secured.base_url, &doc, Some(&token)).await;
    hammer(&secured.base_url, &doc, None).await;
    let (open, _b) = start(
        SERVER,
        "orchestration",
        "[web]\nconfig_endpoint_enabled = true\n",
    );
    hammer(&open.base_url, &doc, None).await;
    assert!(!secured.logs().contains("panicked") && !open.logs().contains("panicked"));
}
