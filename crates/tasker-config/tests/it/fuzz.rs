//! Property tests of the loader on inputs generated from the configuration grammar.
//!
//! Role files are built from the keys, sections and default values documented in the
//! repository's base files: each key set to its default, to another value of its type, to a
//! value of the wrong type, or to an interpolation reference, beside misspelt keys and unknown
//! sections. Every file either loads or is refused with an error naming the role file and a key
//! it sets, and no error quotes a configured value. Interpolated strings are generated from the
//! interpolation grammar and compared with a reference model. A test checks that each generator
//! reaches every class of input it exists for.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tasker_config::{ConfigError, Env};
use toml::{Table, Value};

use crate::Root;

/// A variable that is set, its value, a variable set to the empty string, and one never set.
const SET: (&str, &str) = ("X", "from-x");
const EMPTY: &str = "EMPTY";
const UNSET: &str = "UNSET_VAR";
/// Every generated free-form string carries this, so an error quoting a value is caught.
const PLANTED: &str = "PLANTED";

fn env() -> Env {
    Env::from_pairs([(SET.0, SET.1), (EMPTY, "")])
}

/// A documented key: its section path and default value.
#[derive(Debug, Clone)]
struct Key {
    section: Vec<String>,
    name: String,
    default: Value,
}

/// Every key of the base `common.toml` and `orchestration.toml`, plus the fields of an
/// `[[web.auth.api_keys]]` entry (documented in comments only).
fn grammar() -> &'static [Key] {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let base = tasker_testkit::repo_config_root().join("base");
        let mut keys = Vec::new();
        for file in ["common.toml", "orchestration.toml"] {
            let text = std::fs::read_to_string(base.join(file)).unwrap();
            let table: Table = toml::from_str(&text).unwrap();
            flatten(&mut keys, &mut Vec::new(), &table);
        }
        assert!(
            keys.len() > 30,
            "the grammar is the documented keys: {keys:?}"
        );
        keys
    })
}

fn flatten(keys: &mut Vec<Key>, section: &mut Vec<String>, table: &Table) {
    for (name, value) in table {
        match value {
            Value::Table(inner) => {
                section.push(name.clone());
                flatten(keys, section, inner);
                section.pop();
            }
            other => keys.push(Key {
                section: section.clone(),
                name: name.clone(),
                default: other.clone(),
            }),
        }
    }
}

/// One generated assignment and what it is meant to exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Default,
    SameType,
    WrongType,
    Reference,
    UnknownKey,
    UnknownSection,
    ApiKey,
}

#[derive(Debug, Clone)]
struct Assignment {
    section: Vec<String>,
    name: String,
    value: Value,
    class: Class,
}

/// A free-form string: mostly plausible, always carrying [`PLANTED`].
fn free_string() -> impl Strategy<Value = String> {
    "[a-z0-9:/._-]{0,10}".prop_map(|s| format!("{PLANTED}-{s}"))
}

/// Another value of the same type as `default`.
fn same_type(default: &Value) -> BoxedStrategy<Value> {
    match default {
        Value::String(_) => prop_oneof![
            Just(Value::String(String::new())),
            free_string().prop_map(Value::String),
            prop_oneof![
                Just("127.0.0.1:0"),
                Just("sqlite://data/other.db"),
                Just("postgres://u@h/db"),
                Just("jwks"),
                Just("public_key"),
                Just("json"),
                Just("debug"),
                Just("http://127.0.0.1:9/jwks"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ]
        .boxed(),
        Value::Integer(_) => prop_oneof![
            Just(Value::Integer(0)),
            (1i64..100_000).prop_map(Value::Integer),
            Just(Value::Integer(-1)),
            Just(Value::Integer(i64::MAX)),
        ]
        .boxed(),
        Value::Boolean(b) => Just(Value::Boolean(!b)).boxed(),
        Value::Array(_) => prop_oneof![
            Just(Value::Array(Vec::new())),
            proptest::collection::vec(
                prop_oneof![
                    Just("RS256".to_owned()),
                    Just("ES256".to_owned()),
                    Just("HS256".to_owned()),
                    free_string(),
                ],
                1..3
            )
            .prop_map(|items| Value::Array(items.into_iter().map(Value::String).collect())),
        ]
        .boxed(),
        other => Just(other.clone()).boxed(),
    }
}

/// A value of another type than `default`.
fn wrong_type(default: &Value) -> Value {
    match default {
        Value::String(_) | Value::Array(_) => Value::Integer(7),
        _ => Value::String(format!("{PLANTED}-seven")),
    }
}

/// A string with an interpolation reference in it.
fn reference() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(format!("${{{}}}", SET.0)),
        Just(format!("${{{UNSET}:-{PLANTED}-default}}")),
        Just(format!("${{{UNSET}}}")),
        Just(format!("$${{{PLANTED}}}")),
        Just(format!("${{{PLANTED}")),
    ]
    .prop_map(Value::String)
}

fn assignment() -> impl Strategy<Value = Assignment> {
    let keys = grammar();
    let strings: Vec<&Key> = keys.iter().filter(|k| k.default.is_str()).collect();
    (any::<prop::sample::Index>(), 0u8..100).prop_flat_map(move |(index, roll)| {
        // References go into string keys: anywhere else the value's type is refused first.
        let key = if (60..82).contains(&roll) {
            strings[index.index(strings.len())].clone()
        } else {
            keys[index.index(keys.len())].clone()
        };
        let (section, name) = (key.section.clone(), key.name.clone());
        let value: BoxedStrategy<(Value, Class)> = match roll {
            0..20 => Just((key.default.clone(), Class::Default)).boxed(),
            20..50 => same_type(&key.default)
                .prop_map(|v| (v, Class::SameType))
                .boxed(),
            50..60 => Just((wrong_type(&key.default), Class::WrongType)).boxed(),
            60..82 => reference().prop_map(|v| (v, Class::Reference)).boxed(),
            82..90 => Just((key.default.clone(), Class::UnknownKey)).boxed(),
            90..95 => Just((key.default.clone(), Class::UnknownSection)).boxed(),
            _ => api_key_field().boxed(),
        };
        value.prop_map(move |(value, class)| {
            let (section, name) = match class {
                Class::UnknownKey => (section.clone(), format!("{name}_typo")),
                Class::UnknownSection => (vec!["nosuch".to_owned()], name.clone()),
                Class::ApiKey => (vec!["api_key".to_owned()], api_key_name(&value)),
                _ => (section.clone(), name.clone()),
            };
            Assignment {
                section,
                name,
                value,
                class,
            }
        })
    })
}

/// A field of an API key entry; the value's shape tells [`api_key_name`] which field it is.
fn api_key_field() -> impl Strategy<Value = (Value, Class)> {
    prop_oneof![
        free_string().prop_map(|s| Value::String(format!("sk-{s}"))),
        prop_oneof![
            Just(vec!["tasks:read"]),
            Just(vec!["*"]),
            Just(vec!["tasks:fly"]),
            Just(vec![]),
        ]
        .prop_map(|p| Value::Array(p.into_iter().map(Value::from).collect())),
        Just(Value::String("2020-01-01T00:00:00Z".to_owned())),
        Just(Value::Integer(3)),
    ]
    .prop_map(|v| (v, Class::ApiKey))
}

fn api_key_name(value: &Value) -> String {
    match value {
        Value::String(s) if s.starts_with("sk-") => "key",
        Value::String(_) => "expires_at",
        Value::Array(_) => "permissions",
        _ => "description",
    }
    .to_owned()
}

/// A role file: a few assignments, rendered as TOML.
fn role_file() -> impl Strategy<Value = (Vec<Assignment>, String)> {
    proptest::collection::vec(assignment(), 1..5).prop_map(|assignments| {
        let mut root = Table::new();
        let mut api_key = Table::new();
        for a in &assignments {
            if a.class == Class::ApiKey {
                api_key.insert(a.name.clone(), a.value.clone());
                continue;
            }
            let mut table = &mut root;
            for part in &a.section {
                table = table
                    .entry(part.clone())
                    .or_insert_with(|| Value::Table(Table::new()))
                    .as_table_mut()
                    .unwrap();
            }
            table.insert(a.name.clone(), a.value.clone());
        }
        if !api_key.is_empty() {
            let web = root
                .entry("web")
                .or_insert_with(|| Value::Table(Table::new()));
            let auth = web
                .as_table_mut()
                .unwrap()
                .entry("auth")
                .or_insert_with(|| Value::Table(Table::new()));
            auth.as_table_mut()
                .unwrap()
                .insert("api_keys".into(), Value::Array(vec![Value::Table(api_key)]));
        }
        let text = toml::to_string(&root).unwrap();
        (assignments, text)
    })
}

/// What loading a generated file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Loaded,
    UnknownKey,
    WrongType,
    Interpolation,
    Invalid,
}

/// Loads `text` as the orchestration role file; checks what every outcome must satisfy.
fn load(text: &str) -> Result<Outcome, TestCaseError> {
    let root = Root::new();
    let file = root.write("base/orchestration.toml", text);
    let err = match root.orchestration(&env()) {
        Ok(_) => return Ok(Outcome::Loaded),
        Err(err) => err,
    };
    let message = err.to_string();
    // A file path is named in the error about its file (so the operator sees the path the
    // process tried, interpolated); it is not a secret. Every other value stays out.
    let about_a_path = matches!(&err, ConfigError::Invalid { key, .. }
        if key.ends_with("_path") || key.contains("_paths["));
    prop_assert!(
        about_a_path || !message.contains(PLANTED),
        "an error quotes a configured value: {message}"
    );
    match err {
        ConfigError::Invalid {
            origin,
            key,
            reason,
        } => {
            prop_assert!(
                origin.contains(&file.display().to_string()),
                "the error does not name the role file: {message}"
            );
            let documented = grammar().iter().any(|k| {
                let path = k
                    .section
                    .iter()
                    .chain([&k.name])
                    .cloned()
                    .collect::<Vec<_>>();
                key == path.join(".")
            });
            let set_here = key
                .split(['.', '['])
                .filter(|part| !part.is_empty() && !part.ends_with(']'))
                .all(|part| text.contains(part));
            prop_assert!(
                documented || set_here,
                "the error names `{key}`, neither documented nor set in the file: {message}\n{text}"
            );
            Ok(if reason.starts_with("unknown key") {
                Outcome::UnknownKey
            } else if reason.contains("invalid type") {
                Outcome::WrongType
            } else if reason.contains("variable") || reason.contains("`${`") {
                Outcome::Interpolation
            } else {
                Outcome::Invalid
            })
        }
        other => Err(TestCaseError::fail(format!(
            "a generated file is refused without naming a key: {other}"
        ))),
    }
}

/// A piece of an interpolated string and what it becomes.
#[derive(Debug, Clone)]
struct Piece {
    text: String,
    /// The substituted text, or why the string is refused.
    becomes: Result<String, &'static str>,
}

fn literal(text: &str) -> Piece {
    Piece {
        text: text.to_owned(),
        becomes: Ok(text.to_owned()),
    }
}

/// Pieces of the interpolation grammar. None of them changes meaning next to another, except
/// an unterminated `${`, which the generator only puts last.
fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => "[a-z0-9 ./:{}-]{1,6}".prop_map(|s| literal(&s)),
        1 => Just(literal("$5")),
        2 => Just(Piece { text: format!("${{{}}}", SET.0), becomes: Ok(SET.1.to_owned()) }),
        1 => Just(Piece { text: format!("${{{EMPTY}}}"), becomes: Ok(String::new()) }),
        2 => "[a-z0-9./-]{0,6}".prop_map(|d| Piece {
            text: format!("${{{UNSET}:-{d}}}"),
            becomes: Ok(d),
        }),
        1 => "[a-z0-9./-]{0,6}".prop_map(|d| Piece {
            text: format!("${{{EMPTY}:-{d}}}"),
            becomes: Ok(d),
        }),
        1 => "[a-z0-9./-]{1,6}".prop_map(|d| Piece {
            text: format!("${{{}:-{d}}}", SET.0),
            becomes: Ok(SET.1.to_owned()),
        }),
        2 => Just(Piece { text: "$${".to_owned(), becomes: Ok("${".to_owned()) }),
        1 => Just(Piece { text: format!("${{{UNSET}}}"), becomes: Err("is not set") }),
        1 => prop_oneof![Just("${}"), Just("${1X}"), Just("${A-B}")]
            .prop_map(|t| Piece { text: t.to_owned(), becomes: Err("not a valid variable reference") }),
    ]
}

fn interpolated() -> impl Strategy<Value = Vec<Piece>> {
    (
        proptest::collection::vec(piece(), 0..8),
        prop_oneof![
            6 => Just(None),
            1 => Just(Some(Piece { text: "${X".to_owned(), becomes: Err("unterminated") })),
        ],
    )
        .prop_map(|(mut pieces, tail)| {
            pieces.extend(tail);
            pieces
        })
}

/// The reference model: the text and its expected interpolation.
fn model(pieces: &[Piece]) -> (String, Result<String, &'static str>) {
    let text = pieces.iter().map(|p| p.text.as_str()).collect();
    let mut out = String::new();
    for piece in pieces {
        match &piece.becomes {
            Ok(part) => out.push_str(part),
            Err(why) => return (text, Err(why)),
        }
    }
    (text, Ok(out))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_role_files_load_or_name_the_file_and_key((_, text) in role_file()) {
        load(&text)?;
    }

    #[test]
    fn interpolation_matches_the_model(pieces in interpolated()) {
        let (value, expected) = model(&pieces);
        let root = Root::new();
        let quoted = Value::String(value.clone()).to_string();
        root.write("base/orchestration.toml", &format!("[web.auth]\njwt_issuer = {quoted}\n"));
        match (root.orchestration(&env()), expected) {
            (Ok(loaded), Ok(want)) => prop_assert_eq!(loaded.config.web.auth.jwt_issuer, want, "{}", value),
            (Err(err), Err(why)) => {
                let message = err.to_string();
                prop_assert!(message.contains("web.auth.jwt_issuer"), "{}", message);
                prop_assert!(message.contains(why), "{} (expected: {})", message, why);
                prop_assert!(!message.contains(SET.1), "an error quotes a substituted value: {}", message);
            }
            (got, want) => prop_assert!(false, "{value:?}: loader {got:?}, model {want:?}"),
        }
    }
}

#[test]
fn the_generators_reach_every_class_of_input() {
    // Guard against generators that never produce what the properties are about.
    let mut runner = TestRunner::deterministic();
    let mut classes = BTreeSet::new();
    let mut outcomes = std::collections::BTreeMap::<Outcome, usize>::new();
    for _ in 0..600 {
        let (assignments, text) = role_file().new_tree(&mut runner).unwrap().current();
        classes.extend(assignments.iter().map(|a| a.class));
        *outcomes.entry(load(&text).unwrap()).or_default() += 1;
    }
    assert_eq!(classes.len(), 7, "assignment classes reached: {classes:?}");
    for outcome in [
        Outcome::Loaded,
        Outcome::UnknownKey,
        Outcome::WrongType,
        Outcome::Interpolation,
        Outcome::Invalid,
    ] {
        assert!(
            outcomes.get(&outcome).copied().unwrap_or(0) >= 20,
            "loader outcomes: {outcomes:?}"
        );
    }

    let (mut substituted, mut defaulted, mut escaped, mut refused, mut unterminated) =
        (0, 0, 0, 0, 0);
    for _ in 0..600 {
        let pieces = interpolated().new_tree(&mut runner).unwrap().current();
        let (text, expected) = model(&pieces);
        substituted += usize::from(text.contains("${X}") && expected.is_ok());
        defaulted += usize::from(text.contains(":-") && expected.is_ok());
        escaped += usize::from(text.contains("$${") && expected.is_ok());
        refused += usize::from(matches!(expected, Err(why) if why != "unterminated"));
        unterminated += usize::from(expected == Err("unterminated"));
    }
    assert!(
        [substituted, defaulted, escaped, refused, unterminated]
            .iter()
            .all(|n| *n >= 30),
        "substituted {substituted}, defaulted {defaulted}, escaped {escaped}, refused {refused}, unterminated {unterminated}"
    );
}

/// Found by the generator: an escaped `$${…}` key path is the literal path `${…}`, and the
/// error about its missing file names that path (and the key), not the file's content.
#[test]
fn a_missing_key_file_named_with_an_escaped_dollar_is_named_as_written() {
    let text = "[web.auth]\nenabled = true\njwt_public_key_path = \"$${PLANTED}\"\n";
    assert_eq!(load(text).unwrap(), Outcome::Invalid);
    let root = Root::new();
    root.write("base/orchestration.toml", text);
    let message = root.orchestration(&env()).unwrap_err().to_string();
    assert!(
        message.contains("`web.auth.jwt_public_key_path`: cannot read ${PLANTED}: No such file"),
        "{message}"
    );
}
