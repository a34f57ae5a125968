//! Token hygiene the JWT library leaves to its caller: a `crit` header is refused (Tasker
//! understands no header extension), neither the header nor the claims may repeat a member
//! (JSON parsers disagree on which copy wins, so a repeated claim can mean two things), `iss`
//! is a single string, and with `jwt_max_lifetime_seconds` set a token carries `iat` and lives
//! no longer than that.

use std::collections::HashSet;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{AuthError, FailureReason};

/// Checks the shape of a compact token before its signature: no repeated member in the
/// header or the claims, no `crit` header. (The JWT library refuses some repeated claims
/// itself, as malformed; checking first gives every repeat the same answer.)
pub(crate) fn check_shape(token: &str) -> Result<(), AuthError> {
    let mut segments = token.split('.');
    let header =
        unique_object(segments.next().unwrap_or_default()).map_err(|problem| match problem {
            Problem::Duplicate => malformed("Token header has duplicate members"),
            Problem::Unreadable => malformed("Malformed token"),
        })?;
    if header.contains_key("crit") {
        return Err(invalid(
            "Token header has critical parameters (crit) this server does not understand",
        ));
    }
    unique_object(segments.next().unwrap_or_default()).map_err(|problem| match problem {
        Problem::Duplicate => malformed("Token has duplicate claims"),
        Problem::Unreadable => malformed("Malformed token"),
    })?;
    Ok(())
}

/// Checks the claims of a token whose signature verified: a string `iss`, and the lifetime
/// bound (`max_lifetime` seconds, 0 = none).
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    max_lifetime: u64,
) -> Result<(), AuthError> {
    if !matches!(claims.get("iss"), Some(Value::String(_))) {
        return Err(invalid("Token claim `iss` must be a string"));
    }
    if max_lifetime == 0 {
        return Ok(());
    }
    let iat = match claims.get("iat") {
        None => return Err(invalid("Token is missing the `iat` claim")),
        Some(value) => value
            .as_f64()
            .ok_or_else(|| invalid("Token claim `iat` has an invalid format"))?,
    };
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .unwrap_or(f64::MAX);
    // Seconds fit an f64 exactly far beyond any real timestamp.
    #[allow(clippy::cast_precision_loss)]
    let limit = max_lifetime as f64;
    if exp - iat > limit {
        return Err(invalid(&format!(
            "Token lifetime (exp - iat) exceeds {max_lifetime} seconds"
        )));
    }
    Ok(())
}

fn invalid(message: &str) -> AuthError {
    AuthError::unauthorized(FailureReason::Invalid, message, true)
}

fn malformed(message: &str) -> AuthError {
    AuthError::unauthorized(FailureReason::Malformed, message, true)
}

/// Why a segment is not a JSON object with unique members.
#[derive(Debug, PartialEq, Eq)]
enum Problem {
    Duplicate,
    Unreadable,
}

/// Decodes a base64url segment as a JSON object, refusing a member name repeated in any object
/// at any depth (names compared after unescaping, so `"a"` and `"\u0061"` are one name).
fn unique_object(segment: &str) -> Result<Map<String, Value>, Problem> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| Problem::Unreadable)?;
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value = UniqueValue.deserialize(&mut deserializer).map_err(|err| {
        if err.is_data() {
            Problem::Duplicate
        } else {
            Problem::Unreadable
        }
    })?;
    deserializer.end().map_err(|_| Problem::Unreadable)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Problem::Unreadable),
    }
}

/// Builds a [`Value`] like serde_json does, except that a repeated member name is an error
/// (the only data error this visitor raises).
#[derive(Clone, Copy)]
struct UniqueValue;

impl<'de> DeserializeSeed<'de> for UniqueValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        let mut seen = HashSet::new();
        while let Some(name) = access.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(de::Error::custom("duplicate member"));
            }
            let value = access.next_value_seed(UniqueValue)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segment(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn repeated_members_are_found_at_any_depth_and_after_unescaping() {
        assert!(unique_object(&segment(r#"{"a":1,"b":{"c":[{"d":1,"e":2}]}}"#)).is_ok());
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"b":1,"b":2}]}"#,
        ] {
            assert_eq!(
                unique_object(&segment(text)),
                Err(Problem::Duplicate),
                "{text}"
            );
        }
        for text in [r#"{"a":1"#, "[1]", r#"{"a":1} x"#, ""] {
            assert_eq!(
                unique_object(&segment(text)),
                Err(Problem::Unreadable),
                "{text}"
            );
        }
        assert_eq!(unique_object("!!"), Err(Problem::Unreadable));
    }

    #[test]
    fn lifetime_is_bounded_only_when_configured() {
        let claims = json!({"iss": "i", "iat": 100, "exp": 200});
        let claims = claims.as_object().unwrap();
        assert!(check_claims(claims, 0).is_ok());
        assert!(check_claims(claims, 100).is_ok());
        let err = check_claims(claims, 99).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Token lifetime (exp - iat) exceeds 99 seconds"
        );
        let no_iat = json!({"iss": "i", "exp": 200});
        let err = check_claims(no_iat.as_object().unwrap(), 99).unwrap_err();
        assert_eq!(err.to_string(), "Token is missing the `iat` claim");
    }

    #[test]
    fn shape_checks_name_the_part() {
        let token =
            |header: &str, claims: &str| format!("{}.{}.sig", segment(header), segment(claims));
        assert!(check_shape(&token(r#"{"alg":"RS256"}"#, r#"{"sub":"a"}"#)).is_ok());
        let message = |t: String| check_shape(&t).unwrap_err().to_string();
        assert_eq!(
            message(token(r#"{"alg":"RS256","alg":"RS256"}"#, "{}")),
            "Token header has duplicate members"
        );
        assert_eq!(
            message(token(r#"{"alg":"RS256","crit":["b64"]}"#, "{}")),
            "Token header has critical parameters (crit) this server does not understand"
        );
        assert_eq!(
            message(token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","sub":"b"}"#)),
            "Token has duplicate claims"
        );
        assert_eq!(
            message(token(r#"{"alg":"RS256"}"#, "[]")),
            "Malformed token"
        );
    }
}
