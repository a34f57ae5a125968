//! Property tests of the template parser and validator: generated templates with random step
//! names and dependency edges (cycles, self-dependencies, unknown and duplicate dependencies,
//! duplicate and blank step names), in JSON or YAML form, plus random junk. Every input either
//! validates or is refused with errors naming each problem; nothing panics; whatever validates
//! is acyclic and closed under `depends_on`. The fuzz target `fuzz/fuzz_targets/template.rs`
//! checks the same properties on coverage-guided inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::collections::{BTreeSet, HashMap, HashSet};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};
use tasker_core::template::{TaskTemplate, TemplateError, parse_template};

/// A generated step: a name and the names it depends on.
#[derive(Debug, Clone)]
struct Step {
    name: String,
    depends_on: Vec<String>,
}

/// Names drawn partly from a small pool so that duplicates are common; blank names and names
/// that need quoting in YAML show up too.
fn step_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-f]".prop_map(String::from),
        6 => "[a-z]{1,3}".prop_map(String::from),
        2 => "[a-z_][a-z0-9_.-]{0,10}".prop_map(String::from),
        1 => prop_oneof![Just(String::new()), Just("  ".to_owned())],
        1 => prop_oneof![
            Just("yes"), Just("null"), Just("1.0"), Just("- x"), Just("a: b"), Just("#c"),
            Just("étape"), Just("[x]"), Just("*alias"), Just("\"q\"")
        ]
        .prop_map(str::to_owned),
    ]
}

/// Steps whose dependencies mostly name generated steps (so cycles, self-dependencies and
/// repeated edges are common) and sometimes a random name (usually unknown).
fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step_name(), 0..9).prop_flat_map(|names| {
        let count = names.len();
        let dependency = prop_oneof![
            8 => any::<prop::sample::Index>().prop_map(Ok),
            1 => step_name().prop_map(Err),
        ];
        let deps = proptest::collection::vec(proptest::collection::vec(dependency, 0..4), count);
        (Just(names), deps).prop_map(|(names, deps)| {
            names
                .iter()
                .zip(deps)
                .map(|(name, deps)| Step {
                    name: name.clone(),
                    depends_on: deps
                        .into_iter()
                        .map(|d| match d {
                            Ok(index) => names[index.index(names.len())].clone(),
                            Err(name) => name,
                        })
                        .collect(),
                })
                .collect()
        })
    })
}

fn document(steps: &[Step]) -> Value {
    json!({
        "name": "generated",
        "namespace": "props",
        "version": "1.0.0",
        "steps": steps.iter().map(|s| json!({
            "name": s.name,
            "handler": { "callable": "builtin.echo" },
            "depends_on": s.depends_on,
        })).collect::<Vec<_>>(),
    })
}

/// The same document as hand-written block YAML, every scalar double-quoted.
fn yaml(steps: &[Step]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap();
    let mut out = String::from("name: generated\nnamespace: props\nversion: 1.0.0\nsteps:\n");
    if steps.is_empty() {
        out = out.replace("steps:\n", "steps: []\n");
    }
    for step in steps {
        out.push_str(&format!(
            "  - name: {}\n    handler:\n      callable: builtin.echo\n",
            quote(&step.name)
        ));
        if !step.depends_on.is_empty() {
            out.push_str("    depends_on:\n");
            for dep in &step.depends_on {
                out.push_str(&format!("      - {}\n", quote(dep)));
            }
        }
    }
    out
}

/// What a correct validator must say about generated steps.
struct Expected {
    unknown: Vec<(String, String)>,
    duplicates: BTreeSet<String>,
    /// Any repeated name, blank ones included (the cycle search then sees merged steps).
    any_repeat: bool,
    blank: bool,
    cyclic: bool,
}

impl Expected {
    fn of(steps: &[Step]) -> Self {
        let names: HashSet<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        let unknown = steps
            .iter()
            .flat_map(|s| {
                s.depends_on
                    .iter()
                    .map(move |d| (s.name.clone(), d.clone()))
            })
            .filter(|(_, d)| !names.contains(d.as_str()))
            .collect();
        let mut seen = HashSet::new();
        let duplicates = steps
            .iter()
            .filter(|s| !s.name.trim().is_empty() && !seen.insert(s.name.as_str()))
            .map(|s| s.name.clone())
            .collect();
        Self {
            unknown,
            duplicates,
            any_repeat: names.len() != steps.len(),
            blank: steps.iter().any(|s| s.name.trim().is_empty()),
            cyclic: has_cycle(steps),
        }
    }

    fn valid(&self, steps: &[Step]) -> bool {
        !steps.is_empty()
            && self.unknown.is_empty()
            && self.duplicates.is_empty()
            && !self.blank
            && !self.cyclic
    }
}

/// Kahn's algorithm over the known edges (unknown parents are ignored; duplicate names merge).
fn has_cycle(steps: &[Step]) -> bool {
    let mut parents: HashMap<&str, HashSet<&str>> = HashMap::new();
    for step in steps {
        parents.entry(&step.name).or_default();
    }
    for step in steps {
        for dep in &step.depends_on {
            if parents.contains_key(dep.as_str()) {
                parents.get_mut(step.name.as_str()).unwrap().insert(dep);
            }
        }
    }
    let mut done: HashSet<&str> = HashSet::new();
    loop {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(name, ps)| !done.contains(*name) && ps.iter().all(|p| done.contains(p)))
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            return done.len() != parents.len();
        }
        done.extend(ready);
    }
}

/// Properties every accepted template has, whatever the input was.
fn assert_sound(t: &TaskTemplate) {
    assert!(!t.steps.is_empty());
    let names: HashSet<&str> = t.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), t.steps.len(), "duplicate step names validated");
    for step in &t.steps {
        assert!(!step.name.trim().is_empty());
        for dep in &step.depends_on {
            assert!(
                names.contains(dep.as_str()),
                "unknown dependency `{dep}` validated"
            );
        }
    }
    let generated: Vec<Step> = t
        .steps
        .iter()
        .map(|s| Step {
            name: s.name.clone(),
            depends_on: s.depends_on.clone(),
        })
        .collect();
    assert!(!has_cycle(&generated), "a cyclic template validated");
    assert!(t.validate().is_ok());
}

fn check_generated(steps: &[Step], text: &str) -> Result<(), TestCaseError> {
    let expected = Expected::of(steps);
    match parse_template(text) {
        Ok(template) => {
            prop_assert!(expected.valid(steps), "accepted but invalid: {text}");
            assert_sound(&template);
            prop_assert_eq!(template.steps.len(), steps.len());
        }
        Err(errors) => {
            prop_assert!(
                !expected.valid(steps),
                "refused but valid: {errors}\n{text}"
            );
            let list = errors.errors();
            let message = errors.to_string();
            for (step, dependency) in &expected.unknown {
                prop_assert!(
                    list.contains(&TemplateError::UnknownDependency {
                        step: step.clone(),
                        dependency: dependency.clone(),
                    }),
                    "unknown dependency {} -> {} not named: {}",
                    step,
                    dependency,
                    message
                );
                prop_assert!(message.contains(dependency.as_str()));
            }
            for name in &expected.duplicates {
                prop_assert!(
                    list.contains(&TemplateError::DuplicateStep(name.clone())),
                    "duplicate `{}` not named: {}",
                    name,
                    message
                );
            }
            if steps.is_empty() {
                prop_assert!(list.contains(&TemplateError::NoSteps));
            }
            if expected.blank {
                prop_assert!(
                    list.contains(&TemplateError::Empty("steps[].name")),
                    "{}",
                    message
                );
            }
            let cycle = list.iter().find_map(|e| match e {
                TemplateError::Cycle(c) => Some(c.clone()),
                _ => None,
            });
            if expected.unknown.is_empty() && !expected.any_repeat {
                prop_assert_eq!(cycle.is_some(), expected.cyclic, "{}", message);
            }
            if let Some(cycle) = cycle.filter(|_| !expected.any_repeat) {
                prop_assert!(
                    cycle.len() >= 2 && cycle.first() == cycle.last(),
                    "{:?}",
                    cycle
                );
                for pair in cycle.windows(2) {
                    let step = steps.iter().find(|s| s.name == pair[0]).unwrap();
                    prop_assert!(
                        step.depends_on.contains(&pair[1]),
                        "not a cycle: {:?}",
                        cycle
                    );
                }
            }
        }
    }
    Ok(())
}

/// YAML- and TOML-looking junk: fragments of templates glued at random.
fn junk() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("name: x\n"),
        Just("namespace: y\n"),
        Just("version: 1.0.0\n"),
        Just("steps:\n"),
        Just("  - name: a\n"),
        Just("    handler: {callable: h}\n"),
        Just("    depends_on: [a]\n"),
        Just("    depends_on: [b, a, a]\n"),
        Just("  - {name: b, handler: {callable: h}}\n"),
        Just("[steps]\n"),
        Just("name = \"x\"\n"),
        Just("[[steps]]\n"),
        Just("depends_on = [\"a\"]\n"),
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just("&a "),
        Just("*a "),
        Just("<<: *a\n"),
        Just("---\n"),
        Just("...\n"),
        Just("? "),
        Just(": "),
        Just("- "),
        Just("\t"),
        Just("!!binary "),
        Just("input_schema: {type: object, properties: {v: {type: number}}}\n"),
        Just("retry: {max_attempts: 0}\n"),
        Just("timeout_seconds: 0\n"),
    ];
    prop_oneof![
        proptest::collection::vec(fragment.prop_map(str::to_owned), 0..24).prop_map(|v| v.concat()),
        "\\PC{0,120}",
        proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_json_templates_validate_or_name_their_problems(steps in steps()) {
        check_generated(&steps, &document(&steps).to_string())?;
    }

    #[test]
    fn generated_yaml_templates_validate_or_name_their_problems(steps in steps()) {
        check_generated(&steps, &yaml(&steps))?;
    }

    #[test]
    fn generated_templates_with_junk_never_panic(
        steps in steps(),
        junk in junk(),
        at in any::<prop::sample::Index>(),
    ) {
        let text = yaml(&steps);
        let mut cut = at.index(text.len() + 1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let spliced = format!("{}{junk}{}", &text[..cut], &text[cut..]);
        for input in [spliced.as_str(), junk.as_str()] {
            match parse_template(input) {
                Ok(template) => assert_sound(&template),
                Err(errors) => prop_assert!(!errors.errors().is_empty() && !errors.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn validated_templates_survive_a_yaml_round_trip(steps in steps()) {
        if let Ok(template) = parse_template(&yaml(&steps)) {
            let text = serde_yaml::to_string(&template).unwrap();
            prop_assert_eq!(parse_template(&text).unwrap(), template);
        }
    }
}

#[test]
fn the_generators_reach_every_kind_of_problem() {
    // Guard against a generator that never produces what the properties are about.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut valid, mut cyclic, mut unknown, mut duplicate) = (0, 0, 0, 0);
    for _ in 0..2000 {
        let steps = steps().new_tree(&mut runner).unwrap().current();
        let e = Expected::of(&steps);
        valid += usize::from(e.valid(&steps));
        cyclic += usize::from(e.cyclic && e.unknown.is_empty() && !e.any_repeat);
        unknown += usize::from(!e.unknown.is_empty());
        duplicate += usize::from(!e.duplicates.is_empty());
    }
    assert!(
        valid > 50 && cyclic > 50 && unknown > 50 && duplicate > 50,
        "valid {valid}, cyclic {cyclic}, unknown {unknown}, duplicate {duplicate}"
    );
}
