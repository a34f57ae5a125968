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
    writeln!(out)?;
    writeln!(out, "Namespace scopes")?;
    writeln!(
        out,
        "  PERMISSION@NAMESPACE  the permission in one namespace only: tasks:read@payments, \
         tasks:*@payments, *@payments"
    )?;
    let scopable: Vec<&str> = Permission::ALL
        .iter()
        .filter(|p| p.is_scopable())
        .map(|p| p.as_str())
        .collect();
    let global: Vec<&str> = Permission::ALL
        .iter()
        .filter(|p| !p.is_scopable())
        .map(|p| p.as_str())
        .collect();
    writeln!(
        out,
        "  namespaces are [a-z0-9_-]{{1,{}}}; an unscoped permission covers every namespace",
        tasker_proto::MAX_NAMESPACE_LEN
    )?;
    writeln!(out, "  scopable: {}", scopable.join(" "))?;
    writeln!(out, "  global, never scoped: {}", global.join(" "))?;
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
