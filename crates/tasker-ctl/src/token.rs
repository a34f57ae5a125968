//! `auth generate-token`: mints an RS256 token and prints only the token.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use rand::RngCore as _;
use tasker_jwt::{Claims, PrivateKeyPem, mint_token};

use crate::{Context, auth_defaults, permissions};

/// Arguments of `auth generate-token`.
#[derive(Debug, Args)]
pub(crate) struct GenerateTokenArgs {
    /// PEM private key (PKCS#8 or PKCS#1) [default: TASKER_JWT_PRIVATE_KEY_PATH, then the
    /// configured jwt_private_key]
    #[arg(long, value_name = "PATH")]
    private_key: Option<PathBuf>,
    /// Comma-separated permissions, e.g. tasks:read,tasks:list or dlq:* or *.
    #[arg(long, required = true, value_delimiter = ',', value_name = "LIST")]
    permissions: Vec<String>,
    /// The `sub` claim.
    #[arg(long, default_value = "tasker-ctl")]
    subject: String,
    /// Token lifetime in hours [default: jwt_token_expiry_hours, else 24]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    expiry_hours: Option<u64>,
    /// The `iss` claim [default: jwt_issuer, else tasker-core]
    #[arg(long)]
    issuer: Option<String>,
    /// The `aud` claim [default: jwt_audience, else tasker-api]
    #[arg(long)]
    audience: Option<String>,
    /// Key id for the token header: the JWKS key's id, or for a static key the thumbprint
    /// `auth generate-keys` printed (lets verifiers with several keys pick the right one).
    #[arg(long)]
    kid: Option<String>,
}

/// Mints the token and prints it, alone, on stdout.
pub(crate) fn generate(
    args: &GenerateTokenArgs,
    context: &Context,
    out: &mut dyn Write,
) -> Result<()> {
    let defaults = auth_defaults::load(context);
    let (private_key, key_source) = private_key(args, context, defaults.jwt_private_key.expose())?;
    let permissions = permissions::normalize(&args.permissions);
    if permissions.is_empty() {
        bail!("--permissions lists no permission");
    }
    permissions::warn_unknown(&permissions);
    let hours = args.expiry_hours.unwrap_or(defaults.jwt_token_expiry_hours);
    let lifetime = Duration::from_secs(hours.saturating_mul(3600));
    let now = chrono::Utc::now().timestamp();
    let claims = Claims::new(
        args.subject.clone(),
        args.issuer.clone().unwrap_or(defaults.jwt_issuer),
        args.audience.clone().unwrap_or(defaults.jwt_audience),
        permissions,
        lifetime,
        now,
    )?
    .with_jti(token_id());
    let token = mint_token(private_key.expose(), &claims, args.kid.as_deref())
        .with_context(|| format!("cannot sign with {key_source}"))?;
    writeln!(out, "{token}")?;
    Ok(())
}

/// The signing key's PEM: `--private-key`, else `TASKER_JWT_PRIVATE_KEY_PATH`, else the
/// configured inline key; with a description of where it came from.
fn private_key(
    args: &GenerateTokenArgs,
    context: &Context,
    configured: &str,
) -> Result<(PrivateKeyPem, String)> {
    let path = args.private_key.clone().or_else(|| {
        context
            .env
            .get("TASKER_JWT_PRIVATE_KEY_PATH")
            .map(PathBuf::from)
    });
    if let Some(path) = path {
        let pem = tasker_config::read_bounded(&path).context("private key file")?;
        return Ok((
            PrivateKeyPem::new(pem),
            format!("private key {}", path.display()),
        ));
    }
    if !configured.trim().is_empty() {
        return Ok((
            PrivateKeyPem::new(configured),
            "web.auth.jwt_private_key".to_owned(),
        ));
    }
    bail!(
        "no private key: pass --private-key PATH, set TASKER_JWT_PRIVATE_KEY_PATH, \
         or configure web.auth.jwt_private_key"
    )
}

fn token_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
