//! Input limits of template documents — size, nesting depth and step count — so that parsing
//! and validating a template costs bounded CPU whoever sends it. Size and flow nesting are
//! checked on the raw text before the YAML parser runs; the exact nesting depth and the step
//! count once the document is parsed.

use serde_json::Value;

use super::TaskTemplate;
use super::flow_depth::flow_depth_bound;
use super::validate::TemplateError;

/// Largest template document accepted: 256 KiB.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// Deepest nesting of mappings and sequences accepted in a template document (the document's
/// own mapping is level 1, `steps` level 2, a step level 3, its handler level 4).
pub const MAX_TEMPLATE_DEPTH: usize = 32;

/// Most steps a template may have.
pub const MAX_TEMPLATE_STEPS: usize = 1_000;

/// Checks the raw text before it is parsed: size, and a conservative bound of its flow
/// nesting (`[`, `{`), whose parsing cost grows with the square of the depth.
pub(crate) fn check_text(text: &str) -> Result<(), TemplateError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::TooLarge {
            limit: MAX_TEMPLATE_BYTES,
        });
    }
    if flow_depth_bound(text, MAX_TEMPLATE_DEPTH) > MAX_TEMPLATE_DEPTH {
        return Err(TemplateError::TooDeep {
            limit: MAX_TEMPLATE_DEPTH,
        });
    }
    Ok(())
}

/// Checks a parsed template: nesting depth (block and flow alike) and step count.
pub(crate) fn check_template(t: &TaskTemplate) -> Result<(), TemplateError> {
    if t.steps.len() > MAX_TEMPLATE_STEPS {
        return Err(TemplateError::TooManySteps {
            limit: MAX_TEMPLATE_STEPS,
        });
    }
    let schema = t.input_schema.as_ref().map_or(1, |s| 1 + depth(s));
    let handlers = t
        .steps
        .iter()
        .map(|s| 4 + depth(&s.handler.initialization))
        .max()
        .unwrap_or(2);
    if schema.max(handlers) > MAX_TEMPLATE_DEPTH {
        return Err(TemplateError::TooDeep {
            limit: MAX_TEMPLATE_DEPTH,
        });
    }
    Ok(())
}

/// Levels of nested arrays and objects in `value` (a scalar has none). The YAML parser refuses
/// documents nested deeper than 128, which bounds the recursion.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::parse_template;

    fn errors(text: &str) -> Vec<String> {
        parse_template(text).unwrap_err().messages()
    }

    fn template_with_init(init: &str) -> String {
        format!(
            "name: t\nnamespace: n\nversion: 1.0.0\nsteps:\n  - name: a\n    handler:\n      callable: h\n      initialization: {init}\n"
        )
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        let text = format!("# {}\n", "x".repeat(MAX_TEMPLATE_BYTES));
        assert_eq!(
            errors(&text),
            ["template document is larger than 262144 bytes"]
        );
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        let refusal = ["template document nests deeper than 32 levels"];
        assert_eq!(errors(&"[".repeat(100_000)), refusal);
        assert_eq!(errors(&"{a: ".repeat(20_000)), refusal);
    }

    #[test]
    fn nesting_depth_counts_block_and_flow_levels_after_parsing() {
        // initialization sits at level 5: 28 levels fit, 29 do not.
        let fits = format!("{}1{}", "[".repeat(28), "]".repeat(28));
        assert!(parse_template(&template_with_init(&fits)).is_ok());
        let deep = format!("{}1{}", "[".repeat(29), "]".repeat(29));
        assert_eq!(
            errors(&template_with_init(&deep)),
            ["template document nests deeper than 32 levels"]
        );
        let mut block = String::from("\n");
        for level in 0..40 {
            block.push_str(&format!("{}k{level}:\n", "  ".repeat(level + 4)));
        }
        block.push_str(&format!("{}v: 1\n", "  ".repeat(44)));
        assert_eq!(
            errors(&template_with_init(&block)),
            ["template document nests deeper than 32 levels"]
        );
    }

    #[test]
    fn step_count_is_limited() {
        let steps = |n: usize| {
            let mut text = String::from("name: t\nnamespace: n\nversion: 1.0.0\nsteps:\n");
            for i in 0..n {
                text.push_str(&format!("  - {{name: s{i}, handler: {{callable: h}}}}\n"));
            }
            text
        };
        assert!(parse_template(&steps(MAX_TEMPLATE_STEPS)).is_ok());
        assert_eq!(
            errors(&steps(MAX_TEMPLATE_STEPS + 1)),
            ["template has more than 1000 steps"]
        );
    }
}
