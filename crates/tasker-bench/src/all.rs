//! `all`: every benchmark in one run, and a summary of each PRODUCT 9 target the run measures
//! (met or not) in one JSON document.

use anyhow::Result;
use serde_json::{Value, json};

use crate::stats::print_table;
use crate::stores::StoreKind;
use crate::tasks::Shape;
use crate::{auth_overhead, dispatch, throughput, workflow};

/// Runs the suite; `quick` gives every part its `--quick` sizes.
pub(crate) async fn run(quick: bool, database_url: &str) -> Result<Value> {
    let auth = auth_overhead::run(&auth_overhead::Params::new(None, None, None, quick)).await?;
    let mut workflows = Vec::new();
    for store in [StoreKind::Sqlite, StoreKind::Postgres] {
        for shape in [Shape::Linear, Shape::Diamond] {
            let params = workflow::Params::new(
                shape,
                store,
                None,
                quick,
                database_url.to_owned(),
                Vec::new(),
            );
            workflows.push(workflow::run(&params).await?);
        }
    }
    let mut throughputs = Vec::new();
    for store in [StoreKind::Sqlite, StoreKind::Postgres] {
        let params = throughput::Params::new(
            store,
            vec![1, 2, 4],
            None,
            quick,
            database_url.to_owned(),
            Vec::new(),
        );
        throughputs.push(throughput::run(&params).await?);
    }
    // Dispatch at half of the peak each store's throughput run just measured.
    let mut dispatches = Vec::new();
    for (store, doc) in [StoreKind::Sqlite, StoreKind::Postgres]
        .into_iter()
        .zip(&throughputs)
    {
        let params = dispatch::Params {
            store,
            rate: throughput::peak_steps_per_s(doc)? / 2.0,
            seconds: if quick { 1.0 } else { 5.0 },
            database_url: database_url.to_owned(),
            pg_settings: Vec::new(),
        };
        dispatches.push(dispatch::run(&params).await?);
    }
    let targets = summary(&auth, &workflows, &throughputs, &dispatches);
    print_summary(&targets);
    Ok(json!({
        "benchmark": "all",
        "quick": quick,
        "auth_overhead": auth,
        "workflow": workflows,
        "throughput": throughputs,
        "dispatch": dispatches,
        "targets": targets,
    }))
}

/// One row per target: what PRODUCT 9 asks, what this run measured, met or not.
fn summary(
    auth: &Value,
    workflows: &[Value],
    throughputs: &[Value],
    dispatches: &[Value],
) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut target = |name: String, measured: f64, limit: f64, higher_is_better: bool| {
        let met = if higher_is_better {
            measured >= limit
        } else {
            measured <= limit
        };
        rows.push(json!({"target": name, "measured": measured, "limit": limit, "met": met}));
    };
    for mode in ["api_key", "jwt_cached"] {
        if let Some(ratio) = auth["modes"][mode]["ratio"].as_f64() {
            target(format!("{mode} throughput / disabled"), ratio, 0.95, true);
        }
    }
    if let (Some(cold), Some(floor)) = (
        auth["jwt_cold_verify_us"].as_f64(),
        auth["rsa_verify_floor_us"].as_f64(),
    ) {
        target(
            "cold RS256 verify / raw RSA-2048 verify".to_owned(),
            cold / floor.max(1e-9),
            1.5,
            false,
        );
    }
    for doc in workflows {
        let label = format!(
            "{} on {}",
            doc["shape"].as_str().unwrap_or_default(),
            doc["store"].as_str().unwrap_or_default()
        );
        let t = &doc["targets"];
        if let (Some(v), Some(l)) = (
            doc["complete_p50_ms"].as_f64(),
            t["complete_p50_max_ms"].as_f64(),
        ) {
            target(format!("{label}: create → complete p50 ms"), v, l, false);
        }
        if let (Some(v), Some(l)) = (
            doc["create_p50_ms"].as_f64(),
            t["create_p50_max_ms"].as_f64(),
        ) {
            target(format!("{label}: creation p50 ms"), v, l, false);
        }
    }
    for doc in throughputs {
        let best = doc["points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["ratio_to_floor"].as_f64())
            .fold(0.0, f64::max);
        target(
            format!(
                "throughput on {} / claim+complete floor",
                doc["store"].as_str().unwrap_or_default()
            ),
            best,
            0.35,
            true,
        );
    }
    for doc in dispatches {
        let store = doc["store"].as_str().unwrap_or_default();
        for (key, limit) in [("dispatch_p50_ms", 1.0), ("dispatch_p99_ms", 10.0)] {
            if let Some(v) = doc[key].as_f64() {
                let p = key.trim_start_matches("dispatch_").trim_end_matches("_ms");
                target(
                    format!("dispatch on {store} at half of peak: {p} ms"),
                    v,
                    limit,
                    false,
                );
            }
        }
    }
    rows
}

fn print_summary(rows: &[Value]) {
    println!();
    println!("all: PRODUCT 9 targets measured in this run");
    let mut table = vec![
        ["target", "measured", "limit", "met"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for row in rows {
        table.push(vec![
            row["target"].as_str().unwrap_or_default().to_owned(),
            format!("{:.3}", row["measured"].as_f64().unwrap_or(0.0)),
            row["limit"].to_string(),
            if row["met"].as_bool() == Some(true) {
                "yes".to_owned()
            } else {
                "NO".to_owned()
            },
        ]);
    }
    print_table(&table);
}
