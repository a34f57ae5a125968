//! `auth-overhead`: the same protected route (`GET /v1/templates`, empty catalog, so the
//! handler is one small query and authentication is as large a share of a request as it
//! gets) on two real servers — auth off, and auth on with the fixture RSA key and an API
//! key — measured in rounds that alternate the four modes, plus the in-process floor: raw
//! RSA-2048 verification of aws-lc-rs against `JwtVerifier::inspect`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tasker_auth::Authenticator;
use tasker_config::AuthConfig;

use crate::configs::{self, API_KEY, ServerKind};
use crate::http::{Conn, request_bytes};
use crate::load::{self, Phase, Requests};
use crate::procs::{Process, sibling_binary};
use crate::stats::{print_table, round};
use crate::tokens;

/// Size of the server's verified-token cache (`tasker-auth`); a cold pool larger than this can
/// be cycled because the cache is cleared each time it fills, so no token is ever found in it.
const TOKEN_CACHE_CAPACITY: usize = 10_000;
const ROUTE: &str = "/v1/templates";
const MODES: [&str; 4] = ["disabled", "api_key", "jwt_cached", "jwt_cold"];

/// Parameters of one run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) connections: usize,
    /// Measured seconds per mode, split over `rounds`.
    pub(crate) seconds: f64,
    pub(crate) rounds: u32,
    pub(crate) warmup: Duration,
    /// Distinct tokens minted for the cold mode.
    pub(crate) cold_pool: usize,
    /// Iterations per batch of the in-process crypto timing.
    pub(crate) crypto_iterations: u32,
}

impl Params {
    pub(crate) fn new(
        connections: Option<usize>,
        seconds: Option<f64>,
        rounds: Option<u32>,
        quick: bool,
    ) -> Self {
        let seconds = seconds.unwrap_or(if quick { 1.0 } else { 6.0 }).max(0.1);
        Self {
            connections: connections.unwrap_or(if quick { 8 } else { 32 }).max(1),
            seconds,
            rounds: rounds.unwrap_or(if quick { 1 } else { 12 }).max(1),
            warmup: Duration::from_millis(if quick { 200 } else { 700 }),
            cold_pool: if quick {
                1_500
            } else {
                TOKEN_CACHE_CAPACITY + 256
            },
            crypto_iterations: if quick { 100 } else { 400 },
        }
    }
}

/// Runs the benchmark and returns its JSON document.
pub(crate) async fn run(params: &Params) -> Result<Value> {
    let (rsa_us, inspect_us) = crypto_floor(params.crypto_iterations)?;
    let mint_started = Instant::now();
    let pool = tokens::mint(params.cold_pool)?;
    let cached_token = tokens::mint(1)?
        .pop()
        .ok_or_else(|| anyhow!("no token minted"))?;
    eprintln!(
        "minted {} distinct tokens in {:.1} s",
        pool.len(),
        mint_started.elapsed().as_secs_f64()
    );

    let server = sibling_binary("tasker-server")?;
    let off_root = configs::root_for(&ServerKind::AuthDisabled)?;
    let on_root = configs::root_for(&ServerKind::AuthEnabled)?;
    let off_db = format!("sqlite://{}/tasker.db", off_root.path().display());
    let on_db = format!("sqlite://{}/tasker.db", on_root.path().display());
    let off = Process::start(&server, &off_root, &off_db)?;
    let on = Process::start(&server, &on_root, &on_db)?;

    let (off_addr, on_addr) = (off.addr().to_owned(), on.addr().to_owned());
    let bearer = format!("Bearer {cached_token}");
    let fixed = |addr: &str, headers: &[(&str, &str)]| {
        Requests::Fixed(Arc::new(request_bytes("GET", addr, ROUTE, headers, None)))
    };
    let cold_pool: Vec<Vec<u8>> = pool
        .iter()
        .map(|t| {
            let value = format!("Bearer {t}");
            request_bytes("GET", &on_addr, ROUTE, &[("authorization", &value)], None)
        })
        .collect();
    let cycle = cold_pool.len() > TOKEN_CACHE_CAPACITY;
    let sources: [(&str, Requests); 4] = [
        (&off_addr, fixed(&off_addr, &[])),
        (&on_addr, fixed(&on_addr, &[("x-api-key", API_KEY)])),
        (&on_addr, fixed(&on_addr, &[("authorization", &bearer)])),
        (
            &on_addr,
            Requests::Pool {
                pool: Arc::new(cold_pool),
                cursor: Arc::new(AtomicUsize::new(0)),
                cycle,
            },
        ),
    ];

    for (addr, requests) in &sources[..3] {
        load::run(addr, params.connections, params.warmup, requests).await?;
    }
    let verified_before = verifications(&on_addr).await?;
    let slice = Duration::from_secs_f64(params.seconds / f64::from(params.rounds));
    let mut phases: Vec<Phase> = MODES.iter().map(|_| Phase::default()).collect();
    let mut round_rps: Vec<Vec<f64>> = MODES.iter().map(|_| Vec::new()).collect();
    for round in 0..params.rounds as usize {
        // Each round starts with a different mode so none always runs first or last.
        for i in (0..MODES.len()).map(|k| (k + round) % MODES.len()) {
            let (addr, requests) = &sources[i];
            let phase = load::run(addr, params.connections, slice, requests).await?;
            round_rps[i].push(phase.rps());
            phases[i].add(phase);
        }
    }
    let verified_after = verifications(&on_addr).await?;
    let cold_verified = verified_after.0 - verified_before.0;
    let server_verify_us = if cold_verified > 0.0 {
        (verified_after.1 - verified_before.1) / cold_verified * 1e6
    } else {
        0.0
    };
    drop((off, on));

    let doc = document(
        params,
        Measured {
            phases,
            round_rps,
            rsa_us,
            inspect_us,
            cold_verified,
            server_verify_us,
            cycled: cycle,
        },
    );
    print_report(&doc);
    Ok(doc)
}

/// Everything one run measured, in `MODES` order where per mode.
struct Measured {
    phases: Vec<Phase>,
    round_rps: Vec<Vec<f64>>,
    rsa_us: f64,
    inspect_us: f64,
    /// Signature verifications the server counted during the cold mode.
    cold_verified: f64,
    /// Their mean duration on the server.
    server_verify_us: f64,
    cycled: bool,
}

fn document(params: &Params, m: Measured) -> Value {
    let Measured {
        mut phases,
        round_rps,
        rsa_us,
        inspect_us,
        cold_verified,
        server_verify_us,
        cycled,
    } = m;
    let baseline = phases[0].rps();
    let baseline_p50 = phases[0].latency.percentile_us(50.0);
    let mut modes = serde_json::Map::new();
    for (i, (name, phase)) in MODES.iter().zip(phases.iter_mut()).enumerate() {
        let p50 = phase.latency.percentile_us(50.0);
        let mut entry = json!({
            "rps": round(phase.rps(), 0),
            "p50_us": p50,
            "p99_us": phase.latency.percentile_us(99.0),
            "requests": phase.requests,
            "seconds": round(phase.elapsed.as_secs_f64(), 2),
        });
        if *name != "disabled" {
            let pooled = if baseline > 0.0 {
                phase.rps() / baseline
            } else {
                0.0
            };
            entry["ratio"] = json!(round(median_ratio(&round_rps[i], &round_rps[0]), 3));
            entry["ratio_pooled"] = json!(round(pooled, 3));
            entry["added_p50_us"] = json!(i128::from(p50) - i128::from(baseline_p50));
        }
        modes.insert((*name).to_owned(), entry);
    }
    let cold_requests = phases[3].requests as f64;
    let multiple = if rsa_us > 0.0 {
        inspect_us / rsa_us
    } else {
        0.0
    };
    let ratio = |m: &str| modes[m]["ratio"].as_f64().unwrap_or(0.0);
    let targets = json!({
        "api_key_ratio_ge_0_95": ratio("api_key") >= 0.95,
        "jwt_cached_ratio_ge_0_95": ratio("jwt_cached") >= 0.95,
        "jwt_cold_verify_le_1_5x_rsa": multiple <= 1.5,
    });
    json!({
        "benchmark": "auth-overhead",
        "route": format!("GET {ROUTE}"),
        "connections": params.connections,
        "seconds_per_mode": params.seconds,
        "rounds": params.rounds,
        "modes": modes,
        "rsa_verify_floor_us": round(rsa_us, 2),
        "jwt_cold_verify_us": round(inspect_us, 2),
        "jwt_cold_verify_multiple": round(multiple, 3),
        "jwt_cold_server_verify_us": round(server_verify_us, 2),
        "jwt_cold_cache_miss_fraction": round(if cold_requests > 0.0 { cold_verified / cold_requests } else { 0.0 }, 3),
        "jwt_cold_pool": params.cold_pool,
        "jwt_cold_pool_cycled": cycled,
        "targets": targets,
    })
}

/// Median over rounds of `mode / baseline` throughput: each round compares modes measured
/// seconds apart, so a burst of load from elsewhere on the machine skews one round, not all.
/// Rounds in which the mode sent nothing (a one-use token pool already used up) are left out.
fn median_ratio(mode: &[f64], baseline: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = mode
        .iter()
        .zip(baseline)
        .filter(|(m, b)| **m > 0.0 && **b > 0.0)
        .map(|(m, b)| m / b)
        .collect();
    if ratios.is_empty() {
        return 0.0;
    }
    ratios.sort_by(f64::total_cmp);
    let mid = ratios.len() / 2;
    if ratios.len().is_multiple_of(2) {
        (ratios[mid - 1] + ratios[mid]) / 2.0
    } else {
        ratios[mid]
    }
}

fn print_report(doc: &Value) {
    let mut rows = vec![
        [
            "mode", "requests", "rps", "p50 µs", "p99 µs", "ratio", "pooled", "+p50 µs",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for name in MODES {
        let m = &doc["modes"][name];
        let cell = |key: &str| match &m[key] {
            Value::Null => "-".to_owned(),
            v => v.to_string(),
        };
        rows.push(vec![
            name.to_owned(),
            cell("requests"),
            cell("rps"),
            cell("p50_us"),
            cell("p99_us"),
            cell("ratio"),
            cell("ratio_pooled"),
            cell("added_p50_us"),
        ]);
    }
    println!(
        "auth-overhead: {} over {} connections, {} s per mode in {} rounds",
        doc["route"].as_str().unwrap_or_default(),
        doc["connections"],
        doc["seconds_per_mode"],
        doc["rounds"]
    );
    print_table(&rows);
    println!("ratio: median over rounds of the mode's rps / disabled rps; pooled: totals");
    println!();
    println!(
        "rsa_verify_floor_us        {}  (aws-lc-rs RSA-2048 PKCS#1 SHA-256 verify, in process)",
        doc["rsa_verify_floor_us"]
    );
    println!(
        "jwt_cold_verify_us         {}  (JwtVerifier::inspect, in process) = {}x the floor",
        doc["jwt_cold_verify_us"], doc["jwt_cold_verify_multiple"]
    );
    println!(
        "jwt_cold_server_verify_us  {}  (server's own verification histogram during jwt_cold)",
        doc["jwt_cold_server_verify_us"]
    );
    println!(
        "jwt_cold cache misses      {} of requests (pool of {} tokens{})",
        doc["jwt_cold_cache_miss_fraction"],
        doc["jwt_cold_pool"],
        if doc["jwt_cold_pool_cycled"].as_bool() == Some(true) {
            ", cycled past the cache capacity"
        } else {
            ", each used once"
        }
    );
    println!("targets                    {}", doc["targets"]);
}

/// Count and sum (seconds) of the server's JWT verification histogram, from `/metrics`.
async fn verifications(addr: &str) -> Result<(f64, f64)> {
    let mut conn = Conn::connect(addr).await?;
    let response = conn.get("/metrics").await?;
    let text = String::from_utf8_lossy(&response.body);
    let read = |suffix: &str| -> f64 {
        let name = format!("tasker_auth_jwt_verification_duration_seconds{suffix}");
        text.lines()
            .filter(|l| l.starts_with(&name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok((read("_count"), read("_sum")))
}

/// Mean microseconds of raw RSA-2048 verification and of `JwtVerifier::inspect` on the same
/// token: the best of several interleaved batches, so both see the same machine state.
fn crypto_floor(iterations: u32) -> Result<(f64, f64)> {
    let auth = Authenticator::from_config(&AuthConfig {
        enabled: true,
        jwt_public_key: tokens::PUBLIC_KEY_PEM.to_owned(),
        ..AuthConfig::default()
    })
    .map_err(|e| anyhow!("cannot build the in-process verifier: {e:?}"))?;
    let verifier = auth
        .jwt()
        .ok_or_else(|| anyhow!("in-process authenticator has no JWT verifier"))?;
    let token = tokens::mint(1)?
        .pop()
        .ok_or_else(|| anyhow!("no token minted"))?;
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| anyhow!("minted token has no signature"))?;
    let signature = URL_SAFE_NO_PAD.decode(signature)?;
    let der: String = tokens::PUBLIC_KEY_PKCS1_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, STANDARD.decode(der)?);
    let now = chrono::Utc::now().timestamp();
    key.verify(message.as_bytes(), &signature)
        .map_err(|_| anyhow!("raw RSA verification of a minted token failed"))?;
    verifier
        .inspect(&token, now)
        .map_err(|e| anyhow!("in-process JWT verification failed: {e:?}"))
        .context("jwt_cold_verify_us")?;
    let (mut rsa, mut jwt) = (f64::MAX, f64::MAX);
    for _ in 0..7 {
        let started = Instant::now();
        for _ in 0..iterations {
            let _ = black_box(key.verify(black_box(message.as_bytes()), black_box(&signature)));
        }
        rsa = rsa.min(started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations));
        let started = Instant::now();
        for _ in 0..iterations {
            let _ = black_box(verifier.inspect(black_box(&token), now));
        }
        jwt = jwt.min(started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations));
    }
    Ok((rsa, jwt))
}

#[cfg(test)]
mod tests {
    use super::median_ratio;

    #[test]
    fn median_of_round_ratios() {
        assert_eq!(median_ratio(&[9.0, 10.0, 1.0], &[10.0, 10.0, 10.0]), 0.9);
        assert_eq!(median_ratio(&[9.0, 10.0], &[10.0, 10.0]), 0.95);
        assert_eq!(median_ratio(&[], &[]), 0.0);
        assert_eq!(median_ratio(&[8.0, 0.0, 0.0], &[10.0, 10.0, 10.0]), 0.8);
    }
}
