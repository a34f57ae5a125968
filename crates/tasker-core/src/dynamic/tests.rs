//! The pure shape rules: initial steps, expansion after a decision or a batch, convergence
//! blocking, copy names and result validation.

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::backoff::BackoffSettings;
use crate::parse_template;

const DEFAULTS: StepDefaults = StepDefaults {
    max_attempts: 3,
    timeout_seconds: 30,
    backoff: BackoffSettings {
        base_ms: 1,
        max_ms: 2,
        jitter_percent: 0,
    },
};

fn plan(steps: &str) -> TaskPlan {
    let t = parse_template(&format!(
        "name: t\nnamespace: n\nversion: 1.0.0\nsteps:\n{steps}"
    ))
    .unwrap();
    TaskPlan::new(&t, &DEFAULTS, 5)
}

const SHAPE: &str = "
  - {name: a, handler: {callable: h}}
  - {name: d, type: decision, branches: [x, b], handler: {callable: h}, depends_on: [a]}
  - {name: x, handler: {callable: h}, depends_on: [d]}
  - {name: x2, handler: {callable: h}, depends_on: [x]}
  - {name: b, type: batchable, batch: {worker: w}, handler: {callable: h}, depends_on: [d]}
  - {name: w, type: batch_worker, handler: {callable: h}, depends_on: [b]}
  - {name: after, handler: {callable: h}, depends_on: [w]}
  - {name: c, type: deferred_convergence, handler: {callable: h}, depends_on: [x2, after]}
";

fn ids() -> impl FnMut() -> Uuid {
    let mut n = 0u128;
    move || {
        n += 1;
        Uuid::from_u128(n)
    }
}

fn existing(steps: &[NewStep], status: StepState) -> Vec<ExistingStep> {
    steps
        .iter()
        .map(|s| ExistingStep {
            step_uuid: s.step_uuid,
            template_step: s.template_step.clone(),
            status,
            results: None,
            batch_index: s.batch_index,
        })
        .collect()
}

#[test]
fn only_unconditional_steps_exist_at_the_start() {
    let p = plan(SHAPE);
    let names: Vec<String> = p.initial_steps(ids()).into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "d"]);
}

#[test]
fn a_decision_creates_its_choice_and_what_follows_and_the_convergence_waits() {
    let p = plan(SHAPE);
    let start = p.initial_steps(ids());
    let mut done = existing(&start, StepState::Complete);
    done[1].results = Some(json!({"create": ["x", "b"]}));
    let e = p.expand(&done, None, ids());
    let names: Vec<&str> = e.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["x", "x2", "b", "c"]);
    assert!(e.steps.iter().all(|s| s.origin == StepOrigin::Decision));
    // c joins x2 only; `after` does not exist until the batch has run.
    let c = e.steps.iter().find(|s| s.name == "c").unwrap().step_uuid;
    let x2 = e.steps.iter().find(|s| s.name == "x2").unwrap().step_uuid;
    assert_eq!(
        e.edges
            .iter()
            .filter(|(_, to)| *to == c)
            .collect::<Vec<_>>(),
        [&(x2, c)]
    );
    // While b is pending, c is blocked (b can still create `after`).
    let mut now = done.clone();
    now.extend(existing(&e.steps, StepState::Pending));
    let c_blocked = p.blocked_convergences(&now);
    assert_eq!(c_blocked.into_iter().collect::<Vec<_>>(), [c]);
    // b finishes with two batches: copies w_0, w_1, then `after`, which joins c.
    for s in now.iter_mut() {
        if s.template_step == "b" {
            s.status = StepState::Complete;
        }
    }
    let cursors = [json!({"p": 0}), json!({"p": 1})];
    let fan = p.expand(&now, Some(("b", &cursors)), ids());
    let names: Vec<&str> = fan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["w_0", "w_1", "after"]);
    assert_eq!(
        fan.steps[1].batch,
        Some(json!({"index": 1, "count": 2, "cursor": {"p": 1}}))
    );
    let after = fan.steps[2].step_uuid;
    assert!(
        fan.edges.contains(&(after, c)),
        "after joins the existing convergence"
    );
    assert_eq!(fan.edges.iter().filter(|(_, to)| *to == after).count(), 2);
    let mut later = now.clone();
    later.extend(existing(&fan.steps, StepState::Pending));
    assert!(p.blocked_convergences(&later).is_empty());
}

#[test]
fn unchosen_branches_are_never_created() {
    let p = plan(SHAPE);
    let mut done = existing(&p.initial_steps(ids()), StepState::Complete);
    done[1].results = Some(json!({"create": []}));
    assert!(p.expand(&done, None, ids()).steps.is_empty());
}

#[test]
fn copy_names_pad_to_the_largest_index() {
    assert_eq!(copy_name("w", 0, 1), "w_0");
    assert_eq!(copy_name("w", 9, 10), "w_9");
    assert_eq!(copy_name("w", 0, 11), "w_00");
    assert_eq!(copy_name("w", 10, 11), "w_10");
    assert_eq!(copy_name("w", 7, 10_000), "w_0007");
    assert_eq!(copy_name("w", 0, 10_001), "w_00000");
}

#[test]
fn results_are_checked_against_the_step_type() {
    let p = plan(SHAPE);
    assert_eq!(p.check_result("d", &json!({"create": ["x"]})), Ok(None));
    assert!(
        p.check_result("d", &json!({"create": ["a"]}))
            .unwrap_err()
            .contains("`a`")
    );
    let five: Vec<_> = (0..5).map(|_| json!({})).collect();
    assert_eq!(
        p.check_result("b", &json!({ "batches": five }))
            .unwrap()
            .unwrap()
            .len(),
        5
    );
    let six: Vec<_> = (0..6).map(|_| json!({})).collect();
    assert_eq!(
        p.check_result("b", &json!({ "batches": six })).unwrap_err(),
        "batchable result has 6 batches, more than engine.max_batches (5)"
    );
    assert_eq!(p.check_result("a", &json!(42)), Ok(None));
}

#[test]
fn parent_results_group_copies_in_index_order() {
    let (out, failed) = group_parent_results(vec![
        (
            "w_1".into(),
            "w".into(),
            Some(1),
            StepState::Complete,
            json!(1),
        ),
        (
            "w_0".into(),
            "w".into(),
            Some(0),
            StepState::Complete,
            json!(0),
        ),
        (
            "w_2".into(),
            "w".into(),
            Some(2),
            StepState::Error,
            json!(null),
        ),
        (
            "a".into(),
            "a".into(),
            None,
            StepState::Complete,
            json!("a"),
        ),
    ]);
    assert_eq!(out["w"], json!([0, 1]));
    assert_eq!(out["a"], json!("a"));
    assert_eq!(failed, [2]);
}
