//! Paths into the repository: the committed key fixtures (generated once, kept under
//! `crates/tasker-auth/tests/fixtures`), the example templates and the repository's config root.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The repository root (this crate lives in `crates/tasker-testkit`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// `config/tasks`: the example templates.
pub fn examples_dir() -> PathBuf {
    repo_root().join("config/tasks")
}

/// `config/tasker`: the repository's own configuration root.
pub fn repo_config_root() -> PathBuf {
    repo_root().join("config/tasker")
}

/// Path of a key fixture (`rsa-a-private.pem`, `rsa-a-public.pem`, `jwks-keys.json`, …).
pub fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("crates/tasker-auth/tests/fixtures")
        .join(name)
}

/// Contents of a key fixture.
pub fn fixture_text(name: &str) -> String {
    let path = fixture(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The public JWK of fixture key `kid` (`rsa-a`, `rsa-b`, `ec-p256`, `ec-p384`, `ed25519`).
pub fn fixture_jwk(kid: &str) -> Value {
    let all: Value = serde_json::from_str(&fixture_text("jwks-keys.json")).unwrap();
    assert!(all[kid].is_object(), "no fixture JWK named {kid}");
    all[kid].clone()
}

/// A JWKS document holding the fixture keys `kids`.
pub fn jwks_document(kids: &[&str]) -> Value {
    json!({ "keys": kids.iter().map(|kid| fixture_jwk(kid)).collect::<Vec<_>>() })
}
