//! `POST /v1/templates/validate` under hostile input: documents past the size, nesting or step
//! limits are refused in the route's usual `{"valid": false, "errors": [...]}` shape, naming the
//! limit and not echoing the input, and validations run off the async executor, so `/health`
//! answers while the largest allowed documents are being validated.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tasker_testkit::{ServerProcess, TestConfig, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::*;

fn server() -> (ServerProcess, TestConfig) {
    start(SERVER, "orchestration", &auth_config("", ""))
}

async fn validate(server: &ServerProcess, token: &str, body: String) -> (StatusCode, Value) {
    let response = Client::new()
        .post(server.url("/v1/templates/validate"))
        .bearer_auth(token)
        .header("content-type", "application/yaml")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn refusal(error: &str) -> Value {
    json!({"valid": false, "errors": [error]})
}

/// The costliest document within the limits: 256 KiB of flow collections 27 deep.
fn largest_allowed_document() -> String {
    let mut text = String::from(
        "name: heavy\nnamespace: load\nversion: 1.0.0\nsteps:\n  - name: s\n    handler:\n      callable: builtin.echo\n      initialization: [",
    );
    let group = format!("{}1{}, ", "[".repeat(27), "]".repeat(27));
    while text.len() + group.len() + 3 < tasker_core::MAX_TEMPLATE_BYTES {
        text.push_str(&group);
    }
    text.push_str("1]\n");
    text
}

#[tokio::test]
async fn documents_past_the_limits_are_refused_naming_the_limit() {
    let (server, _config) = server();
    let token = Token::with_permissions(&["templates:validate"]).sign();
    let deep = "nests deeper than 32 levels";
    for (body, error) in [
        ("[".repeat(100_000), deep),
        ("{a: ".repeat(25_000), deep),
        (
            format!("# {}\n", "x".repeat(300 * 1024)),
            "is larger than 262144 bytes",
        ),
    ] {
        let (status, answer) = validate(&server, &token, body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, refusal(&format!("template document {error}")));
    }
    let mut many = String::from("name: many\nnamespace: load\nversion: 1.0.0\nsteps:\n");
    for i in 0..1001 {
        many.push_str(&format!(
            "  - {{name: s{i}, handler: {{callable: builtin.echo}}}}\n"
        ));
    }
    let (status, answer) = validate(&server, &token, many).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, refusal("template has more than 1000 steps"));
    let (status, answer) = validate(&server, &token, largest_allowed_document()).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"valid": true, "errors": []}))
    );
}

/// Sends a whole validation request over a raw connection, leaving the answer unread.
async fn send_validation(server: &ServerProcess, token: &str, body: &str) -> TcpStream {
    let address = server.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/templates/validate HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn health_answers_while_large_validations_run() {
    let (server, _config) = server();
    let token = Token::with_permissions(&["templates:validate"]).sign();
    let document = largest_allowed_document();
    let mut validations = Vec::new();
    for _ in 0..8 {
        validations.push(send_validation(&server, &token, &document).await);
    }
    let health = Client::new()
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // No validation has answered yet: /health did not wait for the parsing.
    for stream in &validations {
        let mut byte = [0u8; 1];
        let pending = stream.try_read(&mut byte);
        assert!(
            matches!(&pending, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a validation answered before /health: {pending:?}"
        );
    }
    for mut stream in validations {
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.ends_with(r#"{"valid":true,"errors":[]}"#),
            "{answer}"
        );
    }
}
