//! The OpenAPI schemas of states and DLQ enums (`tasker-proto`) list exactly the values the
//! engine (`tasker-core`) uses, so the documented enums cannot drift from what the server says.

use std::collections::BTreeSet;

use serde_json::Value;
use utoipa::PartialSchema;

fn documented<T: PartialSchema>() -> BTreeSet<String> {
    let schema = serde_json::to_value(T::schema()).unwrap();
    let values = schema["enum"]
        .as_array()
        .or_else(|| schema["oneOf"].as_array())
        .unwrap_or_else(|| panic!("no enum in {schema}"));
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other["enum"][0].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn engine<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> BTreeSet<String> {
    all.iter().map(|v| name(*v).to_owned()).collect()
}

#[test]
fn documented_states_are_the_engine_states() {
    use tasker_core::store::{DlqReason, ResolutionStatus};
    use tasker_core::{StepState, TaskState};
    use tasker_proto::api;

    assert_eq!(
        documented::<api::TaskStatus>(),
        engine(TaskState::ALL, TaskState::as_str)
    );
    assert_eq!(
        documented::<api::StepStatus>(),
        engine(StepState::ALL, StepState::as_str)
    );
    assert_eq!(
        documented::<api::DlqReason>(),
        engine(DlqReason::ALL, DlqReason::as_str)
    );
    assert_eq!(
        documented::<api::ResolutionStatus>(),
        engine(ResolutionStatus::ALL, ResolutionStatus::as_str)
    );
}
