//! `tasker-ctl auth …`: the subcommands and what each one runs.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;

use crate::Context;
use crate::{api_key, keys, permissions, token, verify};

/// Authentication tooling.
#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Generate an RSA key pair for signing (private) and verifying (public) tokens.
    GenerateKeys(keys::GenerateKeysArgs),
    /// Mint an RS256 token; prints only the token.
    GenerateToken(token::GenerateTokenArgs),
    /// Verify a token and print its claims.
    ValidateToken(verify::ValidateTokenArgs),
    /// List the permission vocabulary and its wildcards.
    ShowPermissions,
    /// Generate an API key and the configuration entry (with its hash) to paste.
    GenerateApiKey(api_key::GenerateApiKeyArgs),
}

/// Runs one `auth` subcommand.
pub(crate) fn run(command: AuthCommand, context: &Context, out: &mut dyn Write) -> Result<()> {
    match command {
        AuthCommand::GenerateKeys(args) => keys::generate(&args, out),
        AuthCommand::GenerateToken(args) => token::generate(&args, context, out),
        AuthCommand::ValidateToken(args) => verify::validate(&args, context, out),
        AuthCommand::ShowPermissions => Ok(permissions::show(out)?),
        AuthCommand::GenerateApiKey(args) => api_key::generate(&args, out),
    }
}
