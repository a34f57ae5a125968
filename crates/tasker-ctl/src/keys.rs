//! `auth generate-keys`: an RSA key pair on disk, the configuration that uses it, and the key id
//! (RFC 7638 thumbprint) tokens signed by it can carry.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;

use crate::files::{refuse_existing, write_file};

const PRIVATE_KEY_FILE: &str = "jwt-private-key.pem";
const PUBLIC_KEY_FILE: &str = "jwt-public-key.pem";

/// Arguments of `auth generate-keys`.
#[derive(Debug, Args)]
pub(crate) struct GenerateKeysArgs {
    /// Directory for jwt-private-key.pem and jwt-public-key.pem (created if missing).
    #[arg(long, default_value = "./keys", value_name = "DIR")]
    output_dir: PathBuf,
    /// RSA modulus size in bits: 2048, 3072 or 4096.
    #[arg(long, default_value_t = 2048, value_parser = parse_key_size)]
    key_size: u32,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

fn parse_key_size(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(bits) if tasker_jwt::SUPPORTED_KEY_SIZES.contains(&bits) => Ok(bits),
        _ => Err("expected 2048, 3072 or 4096".to_owned()),
    }
}

/// Generates and writes the pair; prints the paths and configuration lines, never key
/// material.
pub(crate) fn generate(args: &GenerateKeysArgs, out: &mut dyn Write) -> Result<()> {
    let dir = std::path::absolute(&args.output_dir)
        .with_context(|| format!("invalid output directory {}", args.output_dir.display()))?;
    let private_path = dir.join(PRIVATE_KEY_FILE);
    let public_path = dir.join(PUBLIC_KEY_FILE);
    refuse_existing(&[&private_path, &public_path], args.force)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let pair = tasker_jwt::generate_rsa_keypair(args.key_size)?;
    write_file(
        &private_path,
        pair.private_key.expose().as_bytes(),
        0o600,
        args.force,
    )?;
    write_file(
        &public_path,
        pair.public_key_pem.as_bytes(),
        0o644,
        args.force,
    )?;
    let kid = tasker_auth::rsa_thumbprint(&pair.public_key_pem)
        .map_err(|why| anyhow::anyhow!("cannot compute the key id of the new key: {why}"))?;
    print_usage(out, &private_path, &public_path, args.key_size, &kid)?;
    Ok(())
}

fn print_usage(
    out: &mut dyn Write,
    private_path: &Path,
    public_path: &Path,
    bits: u32,
    kid: &str,
) -> std::io::Result<()> {
    let public_toml = toml::Value::String(public_path.display().to_string());
    writeln!(out, "Generated a {bits}-bit RSA key pair:")?;
    writeln!(
        out,
        "  {}  (private, mode 0600: keep secret, used to sign tokens)",
        private_path.display()
    )?;
    writeln!(
        out,
        "  {}  (public: distribute to servers for verification)",
        public_path.display()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Server configuration, [web.auth] in orchestration.toml and worker.toml:"
    )?;
    writeln!(out, "  jwt_verification_method = \"public_key\"")?;
    writeln!(out, "  jwt_public_key_path = {public_toml}")?;
    writeln!(
        out,
        "or the environment: TASKER_JWT_PUBLIC_KEY_PATH={}",
        public_path.display()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Token minting (tasker-ctl auth generate-token, tasker-client):"
    )?;
    writeln!(
        out,
        "  TASKER_JWT_PRIVATE_KEY_PATH={}",
        private_path.display()
    )?;
    writeln!(out)?;
    writeln!(out, "Key id (RFC 7638 thumbprint of the public key): {kid}")?;
    writeln!(
        out,
        "  tokens naming it are matched to this key at once during a rotation (docs/auth.md):"
    )?;
    writeln!(
        out,
        "  tasker-ctl auth generate-token --kid {kid} --permissions ..."
    )?;
    Ok(())
}
