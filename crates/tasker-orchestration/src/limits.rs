//! Input checks shared by the operations that create work from a caller's body (tasks and
//! schedules): field lengths far below the body limit (PRODUCT 5), named with the limit and
//! never echoed, and a context that must be an object matching the template's `input_schema`.

use tasker_core::{TaskTemplate, validate_context};

use crate::error::Error;

/// Namespace, template name and version.
pub(crate) const MAX_NAME_CHARS: usize = 64;
/// Free texts (`reason`, `initiator`, a schedule's `description`, …).
pub(crate) const MAX_TEXT_CHARS: usize = 1024;

/// `field is longer than N characters` for every field over its limit.
pub(crate) fn over_limits(fields: &[(&str, Option<&str>, usize)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(_, value, limit)| value.is_some_and(|v| v.chars().count() > *limit))
        .map(|(field, _, limit)| format!("{field} is longer than {limit} characters"))
        .collect()
}

/// 422 with every problem, or nothing.
pub(crate) fn refuse(problems: Vec<String>) -> Result<(), Error> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Unprocessable(problems))
    }
}

/// The context of a task of `template`: a JSON object valid against its `input_schema`.
pub(crate) fn check_context(
    template: &TaskTemplate,
    context: &serde_json::Value,
) -> Result<(), Error> {
    if !context.is_object() {
        return Err(Error::Unprocessable(vec![
            "context must be a JSON object".into(),
        ]));
    }
    if let Some(schema) = &template.input_schema {
        validate_context(schema, context).map_err(Error::Unprocessable)?;
    }
    Ok(())
}
