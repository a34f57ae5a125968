//! `auth validate-token`: verifies a token with exactly the servers' verifier (algorithm
//! allow-list, `typ`, `exp`/`nbf`/`iat` with leeway, issuer, audience, `sub`), against a
//! static public key or a JWKS URL, and prints its claims.

use std::io::{IsTerminal as _, Read as _, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::{Context, auth_defaults};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use tasker_auth::{
    JwksSource, JwtVerifier, KeyStore, MAX_TOKEN_BYTES, VerificationKey, VerifiedToken,
};
use tasker_config::AuthConfig;

/// Arguments of `auth validate-token`. `Debug` leaves the token out.
#[derive(Args)]
pub(crate) struct ValidateTokenArgs {
    /// The token; read from stdin when absent.
    #[arg(long)]
    token: Option<String>,
    /// PEM public key (SPKI or PKCS#1) [default: the configured jwt_public_key_path or
    /// jwt_public_key]
    #[arg(long, value_name = "PATH", conflicts_with = "jwks_url")]
    public_key: Option<PathBuf>,
    /// Verify against this JWKS endpoint instead of a public key (https, or http on loopback)
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
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
            .field("jwks_url", &self.jwks_url)
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
    let mut auth = auth_defaults::load(context);
    let token = read_token(args)?;
    if let Some(issuer) = &args.issuer {
        auth.jwt_issuer = issuer.clone();
    }
    if let Some(audience) = &args.audience {
        auth.jwt_audience = audience.clone();
    }
    let keys = match &args.jwks_url {
        Some(url) => jwks_keys(&mut auth, url)?,
        None => Arc::new(KeyStore::with_keys(vec![static_key(args, &auth)?])),
    };
    let verifier = JwtVerifier::new(&auth, keys).map_err(|e| anyhow!("{e}"))?;
    let header = jsonwebtoken::decode_header(&token).ok();
    let verified = verifier
        .inspect(&token, chrono::Utc::now().timestamp())
        .map_err(|err| anyhow!("invalid token: {err}"))?;
    print_claims(
        out,
        &verified,
        header.as_ref().and_then(|h| h.kid.as_deref()),
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

/// The static key: `--public-key`, else the configured path, else the inline PEM.
fn static_key(args: &ValidateTokenArgs, auth: &AuthConfig) -> Result<VerificationKey> {
    let configured_path =
        (!auth.jwt_public_key_path.is_empty()).then(|| PathBuf::from(&auth.jwt_public_key_path));
    let (pem, source) = match args.public_key.clone().or(configured_path) {
        Some(path) => (
            tasker_config::read_bounded(&path).context("public key file")?,
            format!("public key {}", path.display()),
        ),
        None if !auth.jwt_public_key.trim().is_empty() => (
            auth.jwt_public_key.clone(),
            "web.auth.jwt_public_key".to_owned(),
        ),
        None => {
            bail!(
                "no public key: pass --public-key PATH or --jwks-url URL, or configure web.auth.jwt_public_key_path"
            )
        }
    };
    if pem.contains("PRIVATE KEY-----") {
        bail!("{source} is a private key; pass the public key");
    }
    VerificationKey::rsa_pem(&pem, None).map_err(|why| anyhow!("{source}: {why}"))
}

/// Fetches the key set once from `url`.
fn jwks_keys(auth: &mut AuthConfig, url: &str) -> Result<Arc<KeyStore>> {
    tasker_config::check_jwks_url(url).map_err(|why| anyhow!("--jwks-url: {why}"))?;
    auth.jwks_url = url.to_owned();
    if auth.jwt_allowed_algorithms == ["RS256"] {
        // Identity providers sign with any asymmetric algorithm; accept what the JWK says.
        auth.jwt_allowed_algorithms = tasker_config::ALLOWED_ALGORITHMS
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
    }
    let store = Arc::new(KeyStore::unloaded());
    let source = JwksSource::new(auth, store.clone()).map_err(|e| anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let count = runtime
        .block_on(source.refresh())
        .map_err(|e| anyhow!("cannot load keys from {url}: {e}"))?;
    if count == 0 {
        bail!("{url} has no usable signing key");
    }
    Ok(store)
}

fn print_claims(
    out: &mut dyn Write,
    token: &VerifiedToken,
    kid: Option<&str>,
) -> std::io::Result<()> {
    let or_dash = |text: &str| {
        if text.is_empty() {
            "-".to_owned()
        } else {
            text.to_owned()
        }
    };
    writeln!(out, "valid token")?;
    writeln!(out, "subject:     {}", or_dash(&token.subject))?;
    writeln!(out, "issuer:      {}", or_dash(&token.issuer))?;
    writeln!(out, "audience:    {}", or_dash(&token.audience.join(", ")))?;
    let expires = chrono::DateTime::from_timestamp(token.expires_at, 0).map_or_else(
        || "-".to_owned(),
        |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    writeln!(out, "expires:     {expires}")?;
    if let Some(kid) = kid {
        writeln!(out, "key id:      {kid}")?;
    }
    writeln!(out, "permissions: {}", token.permissions.join(", "))?;
    let mut scopes: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for grant in token.granted.grants() {
        if let Some(namespace) = &grant.namespace {
            scopes
                .entry(namespace)
                .or_default()
                .push(grant.grant.to_string());
        }
    }
    if !scopes.is_empty() {
        let text: Vec<String> = scopes
            .iter()
            .map(|(namespace, grants)| format!("{namespace} ({})", grants.join(", ")))
            .collect();
        writeln!(out, "scoped to:   {}", text.join("; "))?;
    }
    if !token.ignored.is_empty() {
        writeln!(out, "ignored:     {}", token.ignored.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tasker_proto::PermissionSet;

    use super::*;

    #[test]
    fn printed_claims_name_every_field() {
        let mut out = Vec::new();
        let token = VerifiedToken {
            subject: "svc".into(),
            issuer: "tasker-core".into(),
            audience: vec!["tasker-api".into(), "other".into()],
            expires_at: 0,
            permissions: vec![
                "tasks:read".into(),
                "tasks:fly".into(),
                "dlq:*@billing".into(),
                "tasks:read@billing".into(),
            ],
            ignored: vec!["tasks:fly".into()],
            granted: PermissionSet::parse(["tasks:read", "dlq:*@billing", "tasks:read@billing"]),
        };
        print_claims(&mut out, &token, Some("k1")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "valid token\nsubject:     svc\nissuer:      tasker-core\n\
             audience:    tasker-api, other\nexpires:     1970-01-01T00:00:00Z\n\
             key id:      k1\npermissions: tasks:read, tasks:fly, dlq:*@billing, tasks:read@billing\n\
             scoped to:   billing (dlq:*, tasks:read)\nignored:     tasks:fly\n"
        );
    }
}
