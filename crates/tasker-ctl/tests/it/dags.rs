//! `template dag` and `task dag` in every format against a live server: step types as shapes,
//! the roads a decision did not take, batch copies with their index.

use serde_json::Value;

use crate::live::{self, admin_token, one_error_line};

#[test]
fn template_dags_show_step_types_in_every_format() {
    let live = live::start();
    let token = admin_token();
    let dag = |format: &str| {
        live.ctl(
            &token,
            &[
                "template",
                "dag",
                "examples",
                "order_routing",
                "--format",
                format,
            ],
        )
        .expect_code(0)
        .stdout
    };

    let mermaid = dag("mermaid");
    let lines: Vec<&str> = mermaid.lines().collect();
    assert_eq!(lines[0], "flowchart TD", "{mermaid}");
    for line in [
        r#"    n0["validate_order"]"#,
        r#"    n1{"route · decision"}"#,
        r#"    n2["ship_express"]"#,
        r#"    n4(("confirm · deferred_convergence"))"#,
        "    n0 --> n1",
        "    n1 --> n2",
        "    n3 --> n4",
    ] {
        assert!(lines.contains(&line), "{line:?} missing:\n{mermaid}");
    }
    // A template has no run: nothing is drawn as not taken.
    assert!(!mermaid.contains("not_created"), "{mermaid}");

    let dot = dag("dot");
    assert!(
        dot.starts_with("digraph \"examples/order_routing 1.0.0\" {\n"),
        "{dot}"
    );
    assert!(
        dot.contains(r#"    "route" [label="route · decision", shape=diamond];"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#"    "confirm" [label="confirm · deferred_convergence", shape=circle];"#),
        "{dot}"
    );
    assert!(dot.contains(r#"    "route" -> "ship_standard";"#), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");

    let table = dag("table");
    assert!(table.starts_with("NAME"), "{table}");
    let confirm = table
        .lines()
        .find(|l| l.starts_with("confirm"))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in [
        "deferred_convergence",
        "template",
        "ship_express,ship_standard",
    ] {
        assert!(confirm.contains(cell), "{cell}: {confirm}");
    }
    let express = table
        .lines()
        .find(|l| l.starts_with("ship_express"))
        .unwrap();
    assert!(express.contains("decision"), "origin: {express}");

    let json: Value = serde_json::from_str(&dag("json")).unwrap();
    assert_eq!(json["nodes"].as_array().unwrap().len(), 5);
    assert_eq!(json["edges"].as_array().unwrap().len(), 5);

    // An explicit version, an unknown template, and the graph formats elsewhere.
    let pinned = live
        .ctl(
            &token,
            &["template", "dag", "examples", "order_routing", "1.0.0"],
        )
        .expect_code(0);
    assert!(pinned.stdout.starts_with("NAME"), "{}", pinned.stdout);
    let error = one_error_line(live.ctl(&token, &["template", "dag", "examples", "nowhere"]));
    assert!(error.contains("nowhere"), "{error}");
    let error = one_error_line(live.ctl(&token, &["template", "list", "--format", "mermaid"]));
    assert!(
        error.contains("applies to `task dag` and `template dag` only"),
        "{error}"
    );
}

#[test]
fn task_dags_show_the_roads_not_taken_and_batch_copies() {
    let live = live::start();
    let token = admin_token();
    let routed = live.create("examples", "order_routing", r#"{"shipping": "express"}"#);
    live.wait_for(&routed, "complete");
    let dag = |task: &str, format: &str| {
        live.ctl(&token, &["task", "dag", task, "--format", format])
            .expect_code(0)
            .stdout
    };

    let table = dag(&routed, "table");
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{table}"))
            .to_owned()
    };
    assert!(row("ship_standard").contains("not_created"), "{table}");
    assert!(row("ship_express").contains("complete"), "{table}");
    assert!(row("confirm").contains("complete"), "{table}");
    let express = live.step(&routed, "ship_express");
    assert!(row("ship_express").contains(&express), "{table}");

    let mermaid = dag(&routed, "mermaid");
    let id_of = |label: &str| {
        mermaid
            .lines()
            .find(|l| l.contains(&format!("[\"{label}\"]")))
            .unwrap_or_else(|| panic!("no node {label:?} in:\n{mermaid}"))
            .trim()
            .split('[')
            .next()
            .unwrap()
            .to_owned()
    };
    let express_id = id_of("ship_express · complete");
    let standard_id = id_of("ship_standard · not_created");
    let route_id = mermaid
        .lines()
        .find(|l| l.contains(r#"{"route · decision · complete"}"#))
        .unwrap_or_else(|| panic!("{mermaid}"))
        .trim()
        .split('{')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        mermaid.contains(&format!("    {route_id} --> {express_id}")),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("    classDef not_created stroke-dasharray: 5 5,color:#888"),
        "{mermaid}"
    );
    let skipped = mermaid
        .lines()
        .find(|l| l.starts_with("    class "))
        .unwrap_or_else(|| panic!("{mermaid}"));
    assert_eq!(
        skipped,
        format!("    class {standard_id} not_created"),
        "{mermaid}"
    );
    let dot = dag(&routed, "dot");
    assert!(
        dot.contains(
            r#"    "ship_standard" [label="ship_standard · not_created", shape=box, style=dashed];"#
        ),
        "{dot}"
    );
    assert!(
        dot.starts_with(&format!("digraph \"task {routed}\" {{")),
        "{dot}"
    );

    // A batch: three copies named after the worker, each with its index, feeding the total.
    let summed = live.create(
        "examples",
        "batch_sum",
        r#"{"from": 1, "to": 30, "parts": 3}"#,
    );
    live.wait_for(&summed, "complete");
    let json: Value = serde_json::from_str(&dag(&summed, "json")).unwrap();
    let copies: Vec<(String, u64)> = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["origin"] == "batch")
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_owned(),
                n["batch_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        copies,
        [
            ("sum_part_0".to_owned(), 0),
            ("sum_part_1".to_owned(), 1),
            ("sum_part_2".to_owned(), 2)
        ],
        "{json:#}"
    );
    let table = dag(&summed, "table");
    let total = table.lines().find(|l| l.starts_with("total")).unwrap();
    assert!(
        total.contains("sum_part_0,sum_part_1,sum_part_2"),
        "{table}"
    );

    let error = one_error_line(live.ctl(
        &token,
        &["task", "dag", "00000000-0000-0000-0000-000000000000"],
    ));
    assert!(
        error.contains("00000000-0000-0000-0000-000000000000"),
        "{error}"
    );
}
