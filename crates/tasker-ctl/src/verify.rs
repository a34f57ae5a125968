//! `auth validate-token`: verifies a token the way the servers do (RS256, `exp` and `sub`
//! required, issuer and audience checked, `nbf` honoured with the configured leeway) and
//! prints its claims.

use std::io::{IsTerminal as _, Read as _, Write};
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Map, Value};
use tasker_config::AuthConfig;
use tasker_proto::PermissionSet;

use crate::{Context, auth_defaults};

/// Tokens above this size are refused before parsing, as the servers do.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Arguments of `auth validate-token`. `Debug` leaves the token out.
#[derive(Args)]
pub(crate) struct ValidateTokenArgs {
    /// The token; read from stdin when absent.
    #[arg(long)]
    token: Option<String>,
    /// PEM public key (SPKI or PKCS#1) [default: the configured jwt_public_key_path or
    /// jwt_public_key]
    #[arg(long, value_name = "PATH")]
    public_key: Option<PathBuf>,
    /// Required issuer [default: jwt_issuer, else tasker-core]
    #[arg(long)]
    issuer: Option<String>,
    /// Required audience [default: jwt_audience, else tasker-api]
    #[arg(long)]
    audience: Option<String>,
}

impl std::fmt::Debug for ValidateTokenArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidateTokenArgs")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("public_key", &self.public_key)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Verifies the token; prints its claims, or fails with the reason.
pub(crate) fn validate(
    args: &ValidateTokenArgs,
    context: &Context,
    out: &mut dyn Write,
) -> Result<()> {
    let auth = auth_defaults::load(context);
    let token = read_token(args)?;
    let (key, key_source) = decoding_key(args, &auth)?;
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| auth.jwt_issuer.clone());
    let audience = args
        .audience
        .clone()
        .unwrap_or_else(|| auth.jwt_audience.clone());
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&[&audience]);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = auth.jwt_leeway_seconds;
    let data = decode::<Map<String, Value>>(&token, &key, &validation).map_err(|err| {
        anyhow!(
            "invalid token: {}",
            reason(&err, &issuer, &audience, &key_source)
        )
    })?;
    print_claims(
        out,
        &data.claims,
        &auth.permissions_claim,
        data.header.kid.as_deref(),
    )?;
    Ok(())
}

fn read_token(args: &ValidateTokenArgs) -> Result<String> {
    let token = match &args.token {
        Some(token) => token.trim().to_owned(),
        None => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("no token: pass --token or pipe one on stdin");
            }
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .context("cannot read the token from stdin")?;
            text.trim().to_owned()
        }
    };
    if token.is_empty() {
        bail!("no token: pass --token or pipe one on stdin");
    }
    if token.len() > MAX_TOKEN_BYTES {
        bail!("invalid token: larger than 8 KiB");
    }
    Ok(token)
}

/// The verification key: `--public-key`, else the configured path, else the inline PEM.
fn decoding_key(args: &ValidateTokenArgs, auth: &AuthConfig) -> Result<(DecodingKey, String)> {
    let configured_path =
        (!auth.jwt_public_key_path.is_empty()).then(|| PathBuf::from(&auth.jwt_public_key_path));
    let (pem, source) = match args.public_key.clone().or(configured_path) {
        Some(path) => (
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read public key {}", path.display()))?,
            format!("public key {}", path.display()),
        ),
        None if !auth.jwt_public_key.trim().is_empty() => (
            auth.jwt_public_key.clone(),
            "web.auth.jwt_public_key".to_owned(),
        ),
        None => {
            bail!("no public key: pass --public-key PATH or configure web.auth.jwt_public_key_path")
        }
    };
    if pem.contains("PRIVATE KEY-----") {
        bail!("{source} is a private key; pass the public key");
    }
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|err| anyhow!("{source} is not an RSA public key in PEM form: {err}"))?;
    Ok((key, source))
}

fn reason(err: &jsonwebtoken::errors::Error, issuer: &str, audience: &str, key: &str) -> String {
    match err.kind() {
        ErrorKind::ExpiredSignature => "token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => format!("issuer is not `{issuer}`"),
        ErrorKind::InvalidAudience => format!("audience does not include `{audience}`"),
        ErrorKind::InvalidSignature => format!("signature does not verify with {key}"),
        ErrorKind::InvalidAlgorithm => "algorithm is not RS256".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing required claim `{claim}`"),
        ErrorKind::InvalidClaimFormat(claim) => format!("claim `{claim}` has the wrong type"),
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            format!("{key} is not a usable RSA public key")
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "malformed token".to_owned(),
        _ => err.to_string(),
    }
}

fn print_claims(
    out: &mut dyn Write,
    claims: &Map<String, Value>,
    permissions_claim: &str,
    kid: Option<&str>,
) -> std::io::Result<()> {
    let text = |name: &str| match claims.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => strings(items).join(", "),
        Some(other) => other.to_string(),
        None => "-".to_owned(),
    };
    writeln!(out, "valid token")?;
    writeln!(out, "subject:     {}", text("sub"))?;
    writeln!(out, "issuer:      {}", text("iss"))?;
    writeln!(out, "audience:    {}", text("aud"))?;
    let expires = claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|exp| chrono::DateTime::from_timestamp(exp, 0))
        .map_or_else(
            || "-".to_owned(),
            |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    writeln!(out, "expires:     {expires}")?;
    if let Some(kid) = kid {
        writeln!(out, "key id:      {kid}")?;
    }
    let permissions = permissions_of(claims, permissions_claim);
    writeln!(out, "permissions: {}", permissions.join(", "))?;
    let unknown = PermissionSet::parse(&permissions).unknown().to_vec();
    if !unknown.is_empty() {
        writeln!(out, "unknown:     {}", unknown.join(", "))?;
    }
    Ok(())
}

/// The permissions claim: an array of strings or a space-delimited string, found by its
/// exact name or by following a dotted path into nested objects.
fn permissions_of(claims: &Map<String, Value>, claim: &str) -> Vec<String> {
    let value = claims.get(claim).or_else(|| {
        let mut parts = claim.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.get(part))
    });
    match value {
        Some(Value::Array(items)) => strings(items),
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn strings(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn permissions_come_from_arrays_scopes_and_dotted_paths() {
        let array = claims(json!({"permissions": ["tasks:read", 3, "dlq:*"]}));
        assert_eq!(
            permissions_of(&array, "permissions"),
            ["tasks:read", "dlq:*"]
        );
        let scope = claims(json!({"scope": "tasks:read  tasks:list"}));
        assert_eq!(
            permissions_of(&scope, "scope"),
            ["tasks:read", "tasks:list"]
        );
        let nested = claims(json!({"realm_access": {"roles": ["*"]}}));
        assert_eq!(permissions_of(&nested, "realm_access.roles"), ["*"]);
        // A literal dotted key wins over the path.
        let literal = claims(json!({"a.b": ["x"], "a": {"b": ["y"]}}));
        assert_eq!(permissions_of(&literal, "a.b"), ["x"]);
        assert!(permissions_of(&array, "missing").is_empty());
    }

    #[test]
    fn printed_claims_name_every_field() {
        let mut out = Vec::new();
        let token = claims(json!({
            "sub": "svc", "iss": "tasker-core", "aud": ["tasker-api", "other"],
            "exp": 0, "permissions": ["tasks:read", "tasks:fly"],
        }));
        print_claims(&mut out, &token, "permissions", Some("k1")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "valid token\nsubject:     svc\nissuer:      tasker-core\n\
             audience:    tasker-api, other\nexpires:     1970-01-01T00:00:00Z\n\
             key id:      k1\npermissions: tasks:read, tasks:fly\nunknown:     tasks:fly\n"
        );
    }
}
