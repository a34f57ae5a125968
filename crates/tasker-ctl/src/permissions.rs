//! `auth show-permissions`, and the warning other commands give for strings outside the
//! vocabulary.

use std::io::Write;

use tasker_proto::{Permission, PermissionSet};

/// Prints the vocabulary grouped by resource, then the wildcards.
pub(crate) fn show(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Permissions ({} in all), by resource:",
        Permission::ALL.len()
    )?;
    for resource in Permission::resources() {
        writeln!(out)?;
        writeln!(out, "{resource}")?;
        for permission in Permission::ALL.iter().filter(|p| p.resource() == resource) {
            writeln!(out, "  {permission}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Wildcards")?;
    writeln!(out, "  {:<12} every permission", "*")?;
    for resource in Permission::resources() {
        writeln!(
            out,
            "  {:<12} every {resource} permission",
            format!("{resource}:*")
        )?;
    }
    Ok(())
}

/// Warns on stderr about each string that is neither a permission nor a valid wildcard.
pub(crate) fn warn_unknown(permissions: &[String]) {
    let set = PermissionSet::parse(permissions);
    for unknown in set.unknown() {
        eprintln!(
            "warning: `{unknown}` is not a Tasker permission; \
             servers with strict_validation = true reject credentials carrying it"
        );
    }
}

/// Splits, trims and drops empty entries of `--permissions a,b` values.
pub(crate) fn normalize(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}
