//! `tasker_core::template::parse_template` and `TaskTemplate::validate` on arbitrary text.
//!
//! Properties: never a panic. The input is also deserialized independently, and then:
//! `parse_template` fails exactly when the document does not deserialize or `validate` fails;
//! a validated template has steps with unique non-empty names, every dependency names a step,
//! and an independent topological sort orders every step (no cycle); a refused template names
//! each unknown dependency and each duplicate step, and, when every dependency exists, names
//! a cycle that really is one (each step depends on the next) whenever there is one; a
//! validated template survives a YAML round trip unchanged.
//!
//! Inputs that start with the byte `0xFF` (never valid UTF-8, so text inputs are unaffected)
//! are generated templates instead: the next byte picks deep flow mappings, deep flow
//! sequences, deep block mappings or many steps, the following two bytes the depth or the step
//! count (around and past `MAX_TEMPLATE_DEPTH` and `MAX_TEMPLATE_STEPS`), the rest shapes the
//! dependencies and where the document is cut short. The same properties apply.
#![no_main]

use std::collections::{HashMap, HashSet};

use libfuzzer_sys::fuzz_target;
use tasker_core::template::{TaskTemplate, TemplateError, parse_template};
use tasker_core::{MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH, MAX_TEMPLATE_STEPS};

/// Kahn's algorithm over `depends_on`; `None` when the dependencies have a cycle.
fn acyclic(t: &TaskTemplate) -> bool {
    let mut pending: HashMap<&str, usize> = HashMap::new();
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for step in &t.steps {
        let parents: HashSet<&str> = step.depends_on.iter().map(String::as_str).collect();
        pending.insert(step.name.as_str(), parents.len());
        for parent in parents {
            children.entry(parent).or_default().push(step.name.as_str());
        }
    }
    let mut ready: Vec<&str> = pending
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(s, _)| *s)
        .collect();
    let mut done = 0;
    while let Some(step) = ready.pop() {
        done += 1;
        for child in children.get(step).into_iter().flatten() {
            let count = pending.get_mut(child).expect("known child");
            *count -= 1;
            if *count == 0 {
                ready.push(child);
            }
        }
    }
    done == pending.len()
}

/// Levels of nested sequences and mappings in a YAML value, block and flow alike (a scalar
/// has none), counted independently of the code under test.
fn yaml_depth(value: &serde_yaml::Value) -> usize {
    use serde_yaml::Value;
    match value {
        Value::Sequence(items) => 1 + items.iter().map(yaml_depth).max().unwrap_or(0),
        Value::Mapping(map) => 1 + map.values().map(yaml_depth).max().unwrap_or(0),
        Value::Tagged(tagged) => yaml_depth(&tagged.value),
        _ => 0,
    }
}

/// Whether a refusal by an input limit is plausible for `text`: the size limit only past the
/// size; the depth limit only with at least that many brackets (the pre-scan counts them) or
/// when the document, parsed on its own, really nests deeper than the limit (block levels
/// count: the document is level 1, `steps` level 2, a step level 3); the step limit only with
/// that many step entries. Anything else is a wrong refusal.
fn limit_refusal_is_plausible(text: &str, error: &TemplateError) -> bool {
    match error {
        TemplateError::TooLarge { .. } => text.len() > MAX_TEMPLATE_BYTES,
        TemplateError::TooDeep { .. } => {
            text.bytes().filter(|b| matches!(b, b'[' | b'{')).count() >= MAX_TEMPLATE_DEPTH
                || text.lines().count() > MAX_TEMPLATE_DEPTH
                || serde_yaml::from_str::<serde_yaml::Value>(text)
                    .is_ok_and(|doc| yaml_depth(&doc) > MAX_TEMPLATE_DEPTH)
        }
        TemplateError::TooManySteps { .. } => text.matches("name").count() > MAX_TEMPLATE_STEPS,
        _ => false,
    }
}

fn check(text: &str) {
    let result = parse_template(text);
    if let Err(errors) = &result {
        if let [
            error @ (TemplateError::TooLarge { .. }
            | TemplateError::TooDeep { .. }
            | TemplateError::TooManySteps { .. }),
        ] = errors.errors()
        {
            assert!(limit_refusal_is_plausible(text, error), "{errors:?}");
            return;
        }
    }
    let template = match serde_yaml::from_str::<TaskTemplate>(text) {
        Ok(template) => template,
        Err(_) => {
            let errors = result.expect_err("a document that does not deserialize was accepted");
            assert!(
                matches!(errors.errors(), [TemplateError::Syntax(_)]),
                "{errors:?}"
            );
            return;
        }
    };
    let names: HashSet<&str> = template.steps.iter().map(|s| s.name.as_str()).collect();
    let duplicates = names.len() != template.steps.len();
    let unknown: Vec<(&str, &str)> = template
        .steps
        .iter()
        .flat_map(|s| {
            s.depends_on
                .iter()
                .map(move |d| (s.name.as_str(), d.as_str()))
        })
        .filter(|(_, d)| !names.contains(d))
        .collect();
    assert_eq!(
        result.is_ok(),
        template.validate().is_ok(),
        "parse and validate disagree"
    );
    match result {
        Ok(parsed) => {
            assert_eq!(parsed, template);
            assert!(!template.steps.is_empty());
            assert!(!duplicates, "duplicate step names validated");
            assert!(template.steps.iter().all(|s| !s.name.trim().is_empty()));
            assert!(
                unknown.is_empty(),
                "unknown dependencies validated: {unknown:?}"
            );
            assert!(acyclic(&template), "a cyclic template validated");
            assert!(template.semver().is_some());
            let yaml = serde_yaml::to_string(&template).expect("serialize");
            let again = parse_template(&yaml).expect("a validated template re-parses");
            assert_eq!(
                again, template,
                "YAML round trip changed the template:\n{yaml}"
            );
        }
        Err(errors) => {
            let list = errors.errors();
            assert!(!list.is_empty() && !errors.to_string().is_empty());
            for (step, dependency) in &unknown {
                assert!(
                    list.iter().any(|e| matches!(e, TemplateError::UnknownDependency { step: s, dependency: d } if s == step && d == dependency)),
                    "unknown dependency {step} -> {dependency} not named: {errors}"
                );
            }
            for step in &template.steps {
                let count = template
                    .steps
                    .iter()
                    .filter(|s| s.name == step.name)
                    .count();
                if count > 1 && !step.name.trim().is_empty() {
                    assert!(
                        list.contains(&TemplateError::DuplicateStep(step.name.clone())),
                        "duplicate step `{}` not named: {errors}",
                        step.name
                    );
                }
            }
            let cycle = list.iter().find_map(|e| match e {
                TemplateError::Cycle(c) => Some(c),
                _ => None,
            });
            if unknown.is_empty() && !duplicates {
                assert_eq!(
                    cycle.is_some(),
                    !acyclic(&template),
                    "cycle report is wrong: {errors}"
                );
            }
            if let Some(cycle) = cycle.filter(|_| !duplicates) {
                assert!(
                    cycle.len() >= 2 && cycle.first() == cycle.last(),
                    "{cycle:?}"
                );
                for pair in cycle.windows(2) {
                    let step = template.step(&pair[0]).expect("cycle names a step");
                    assert!(step.depends_on.contains(&pair[1]), "not a cycle: {cycle:?}");
                }
            }
        }
    }
}

/// The fixed head of every generated template.
const HEAD: &str = "name: generated\nnamespace: fuzz\nversion: 1.0.0\nsteps:\n";

/// A template built from `params` (see the module header): deep nesting inside a step's
/// `initialization`, or many steps whose dependencies point back (or, for some bytes,
/// forward, making cycles and unknown names).
fn generated(params: &[u8]) -> String {
    let byte = |i: usize| params.get(i).copied().unwrap_or(0);
    let wide = usize::from(u16::from_le_bytes([byte(1), byte(2)]));
    let shape = &params[params.len().min(3)..];
    let mut text = HEAD.to_owned();
    match byte(0) % 4 {
        0 => {
            let depth = wide % (MAX_TEMPLATE_DEPTH * 3);
            text.push_str("  - name: deep\n    handler: {callable: h, initialization: ");
            text.push_str(&"{k: ".repeat(depth));
            text.push('1');
            text.push_str(&"}".repeat(depth));
            text.push_str("}\n");
        }
        1 => {
            let depth = wide % (MAX_TEMPLATE_DEPTH * 3);
            text.push_str("  - name: deep\n    handler: {callable: h, initialization: {k: ");
            text.push_str(&"[".repeat(depth));
            text.push('1');
            text.push_str(&"]".repeat(depth));
            text.push_str("}}\n");
        }
        2 => {
            let depth = wide % (MAX_TEMPLATE_DEPTH * 3);
            text.push_str("  - name: deep\n    handler:\n      callable: h\n      initialization:\n");
            for level in 0..depth {
                text.push_str(&" ".repeat(8 + 2 * level));
                text.push_str("k:\n");
            }
            text.push_str(&" ".repeat(8 + 2 * depth));
            text.push_str("v: 1\n");
        }
        _ => {
            let steps = wide % (MAX_TEMPLATE_STEPS + MAX_TEMPLATE_STEPS / 4) + 1;
            for i in 0..steps {
                let b = shape.get(i % shape.len().max(1)).copied().unwrap_or(0);
                let depends = match (i, b % 8) {
                    (0, _) => String::new(),
                    (_, 0) => format!("s{}", i + 1),
                    (_, 1) => "missing".to_owned(),
                    (_, n) => format!("s{}", i.saturating_sub(usize::from(n))),
                };
                text.push_str(&format!(
                    "  - {{name: s{i}, handler: {{callable: h}}, depends_on: [{depends}]}}\n"
                ));
            }
        }
    }
    // Some inputs cut the document short (unbalanced brackets, a dangling key).
    if let Some(&cut) = shape.first().filter(|b| **b >= 0xF0) {
        let keep = text.len() * usize::from(cut - 0xF0 + 1) / 17;
        let mut at = keep;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    text
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0xFF, params)) => check(&generated(params)),
        _ => {
            if let Ok(text) = std::str::from_utf8(data) {
                check(text);
            }
        }
    }
});
