//! `${VAR}` and `${VAR:-default}` substitution in parsed string values (`$${` is a literal
//! `${`). Substitution happens after parsing, so a value cannot inject TOML.

use toml::{Table, Value};

use tasker_proto::Env;

/// Why a string could not be interpolated. Never carries a substituted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterpolationError {
    pub(crate) key: String,
    pub(crate) reason: String,
}

/// Interpolates every string in `table`, recursively.
pub(crate) fn interpolate_table(
    table: &mut Table,
    prefix: &str,
    env: &Env,
) -> Result<(), InterpolationError> {
    for (key, value) in table.iter_mut() {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        interpolate_value(value, &path, env)?;
    }
    Ok(())
}

fn interpolate_value(value: &mut Value, path: &str, env: &Env) -> Result<(), InterpolationError> {
    match value {
        Value::String(text) => {
            *text = interpolate(text, env).map_err(|reason| InterpolationError {
                key: path.to_owned(),
                reason,
            })?;
        }
        Value::Table(table) => interpolate_table(table, path, env)?,
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{index}]"), env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Interpolates one string.
pub(crate) fn interpolate(text: &str, env: &Env) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| "unterminated `${` (write `$${` for a literal `${`)".to_owned())?;
            out.push_str(&substitute(&tail[..end], env)?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute(expr: &str, env: &Env) -> Result<String, String> {
    let (name, default) = match expr.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (expr, None),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(format!("`${{{expr}}}` is not a valid variable reference"));
    }
    match default {
        Some(default) => Ok(env.get(name).unwrap_or(default).to_owned()),
        None => env.get_raw(name).map(str::to_owned).ok_or_else(|| {
            format!(
                "environment variable {name} is not set (use `${{{name}:-default}}` for a default)"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs([("HOST", "db"), ("EMPTY", ""), ("SECRET", "s3cr3t")])
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        let env = env();
        assert_eq!(interpolate("pg://${HOST}/x", &env).unwrap(), "pg://db/x");
        assert_eq!(
            interpolate("${MISSING:-fallback}", &env).unwrap(),
            "fallback"
        );
        assert_eq!(interpolate("${EMPTY:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(interpolate("${EMPTY}", &env).unwrap(), "");
        assert_eq!(interpolate("${HOST:-x}", &env).unwrap(), "db");
        assert_eq!(interpolate("cost $5", &env).unwrap(), "cost $5");
    }

    #[test]
    fn escape_writes_a_literal() {
        assert_eq!(interpolate("$${HOST}", &env()).unwrap(), "${HOST}");
        assert_eq!(interpolate("a$${b}${HOST}", &env()).unwrap(), "a${b}db");
    }

    #[test]
    fn unset_variable_is_an_error_naming_it() {
        let err = interpolate("${NOPE}", &env()).unwrap_err();
        assert!(err.contains("NOPE is not set"), "{err}");
        assert!(interpolate("${unterminated", &env()).is_err());
        assert!(interpolate("${1BAD}", &env()).is_err());
        assert!(interpolate("${}", &env()).is_err());
    }

    #[test]
    fn table_errors_name_the_key_and_never_the_value() {
        let mut table: Table =
            toml::from_str("[web.auth]\nkey = \"${SECRET}\"\nother = \"${NOPE}\"").unwrap();
        let err = interpolate_table(&mut table, "", &env()).unwrap_err();
        assert_eq!(err.key, "web.auth.other");
        assert!(!err.reason.contains("s3cr3t"));
    }
}
