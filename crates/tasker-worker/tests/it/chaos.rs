//! Fault injection: two `tasker-server` processes (no embedded worker) and three
//! `tasker-worker` processes (2 s leases) on one PostgreSQL database run 100 diamonds whose
//! steps sleep 50 to 200 ms, while a seeded RNG SIGKILLs a random process six times and starts
//! a replacement of the same kind on the same config. Every task must complete, every step must
//! have exactly one successful completion and no two executions overlapping in time, and the
//! paginated task list (with a bearer token) must hold every task once. Seed:
//! `TASKER_CHAOS_SEED`, else the clock; it is printed.
//!
//! Overlaps are observed, not inferred from clocks: each execution of a step holds that step's
//! `flock` for as long as any of its processes lives. The kernel releases it when the last one
//! ends, however it ends (a SIGKILL from the command supervisor included), so an execution that
//! finds the lock taken is running while another still is, and says so in the execution log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tasker_testkit::{HANG_GUARD, PgDatabase, ServerProcess, TestConfig, Token, try_eventually};

use crate::multi_process::SERIAL;
use crate::server_binary;

const TASKS: usize = 100;
const UPFRONT: usize = 40;
const ROUNDS: usize = 6;
const SERVERS: usize = 2;
const WORKERS: usize = 3;

/// Reads the step document, takes the step's lock (recording `overlap STEP ATTEMPT` first when
/// another execution still holds it), appends `start STEP ATTEMPT`, sleeps `$2` seconds,
/// appends `end STEP ATTEMPT` and prints the step's name and attempt. A document cut short (its
/// worker died while writing it) records nothing. The lock file descriptor is inherited by
/// `sleep`, so the lock lasts until the whole execution is gone.
const RECORD: &str = r#"IFS= read -r doc
case $doc in *'"step_uuid":"'*'}') ;; *) exit 3 ;; esac
step=${doc#*\"step_uuid\":\"}; step=${step%%\"*}
name=${doc#*\"step_name\":\"}; name=${name%%\"*}
attempt=${doc#*\"attempt\":}; attempt=${attempt%%,*}
exec 9>>"${1%/*}/locks/$step"
if ! flock -n 9; then
  echo "overlap $step $attempt" >> "$1"
  flock 9
fi
echo "start $step $attempt" >> "$1"
sleep "$2"
echo "end $step $attempt" >> "$1"
printf '{"step": "%s", "attempt": %s}\n' "$name" "$attempt"
"#;

fn diamond(record: &Path, log: &Path) -> String {
    let step = |name: &str, deps: &str, secs: &str| {
        format!(
            "  - name: {name}\n    handler: {{ callable: builtin.command, initialization: {{ program: sh, args: [\"{}\", \"{}\", \"{secs}\"] }} }}\n    depends_on: [{deps}]\n    retry: {{ retryable: true, max_attempts: 10, backoff_base_ms: 10, max_backoff_ms: 20 }}\n    timeout_seconds: 60\n",
            record.display(),
            log.display()
        )
    };
    format!(
        "name: chaos_diamond\nnamespace: chaos\nversion: 1.0.0\nsteps:\n{}{}{}{}",
        step("a", "", "0.1"),
        step("b", "a", "0.2"),
        step("c", "a", "0.05"),
        step("d", "b, c", "0.15")
    )
}

/// The processes of one test, all on one config root with auth enabled.
struct Chaos {
    config: TestConfig,
    log: PathBuf,
    http: reqwest::Client,
    token: String,
}

impl Chaos {
    fn new(db: &PgDatabase) -> Self {
        let config = TestConfig::new()
            .database(&db.url)
            .max_connections(5)
            .backoff(10, 20);
        let record = config.write("scripts/record.sh", RECORD);
        let log = config.root().join("executions.log");
        std::fs::create_dir_all(config.root().join("locks")).unwrap();
        let config = config.with_template("chaos_diamond.yaml", &diamond(&record, &log));
        let auth = format!(
            "[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\n",
            tasker_testkit::fixture("rsa-a-public.pem").display()
        );
        config.write(
            "base/orchestration.toml",
            &format!("[orchestration]\nembedded_worker = false\npoll_interval_ms = 100\n{auth}"),
        );
        config.write(
            "base/worker.toml",
            &format!(
                "[worker]\nconcurrency = 8\nlease_seconds = 2\npoll_interval_ms = 100\nshutdown_timeout_seconds = 1\n{auth}"
            ),
        );
        Self {
            config,
            log,
            http: reqwest::Client::new(),
            token: Token::with_permissions(&["*"]).sign(),
        }
    }

    fn start(&self, kind: Kind) -> ServerProcess {
        match kind {
            Kind::Server => ServerProcess::start(&server_binary(), &self.config, &[]),
            Kind::Worker => {
                ServerProcess::start(env!("CARGO_BIN_EXE_tasker-worker"), &self.config, &[])
            }
        }
    }

    async fn get(&self, server: &ServerProcess, path: &str) -> Value {
        let response = self
            .http
            .get(server.url(path))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    async fn create(&self, server: &ServerProcess, i: usize) -> String {
        let response = self
            .http
            .post(server.url("/v1/tasks"))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(10))
            .json(&json!({"namespace": "chaos", "name": "chaos_diamond", "context": {"i": i}}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "creating task {i}: {status} {body}");
        body["task_uuid"].as_str().unwrap().to_owned()
    }

    /// Every execution recorded so far, and the executions that found another one of their
    /// step still running.
    fn executions(&self) -> (Vec<Execution>, Vec<String>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut runs: BTreeMap<(String, u32), Execution> = BTreeMap::new();
        let mut overlaps = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let key = (fields[1].to_owned(), fields[2].parse().unwrap());
            let run = runs.entry(key.clone()).or_insert_with(|| Execution {
                step: key.0.clone(),
                attempt: key.1,
                starts: 0,
                ended: false,
            });
            match fields[0] {
                "start" => run.starts += 1,
                "end" => {
                    assert!(!run.ended, "two ends for {key:?}:\n{text}");
                    run.ended = true;
                }
                "overlap" => overlaps.push(line.to_owned()),
                other => panic!("bad line {other}: {line}"),
            }
        }
        (runs.into_values().collect(), overlaps)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Server,
    Worker,
}

/// One run of a step's script.
#[derive(Debug, Clone)]
struct Execution {
    step: String,
    attempt: u32,
    /// `start` lines with this step and attempt (more than one: the attempt was handed out
    /// twice).
    starts: u32,
    /// Whether it finished its work (an execution cut short by its worker's SIGKILL did not).
    ended: bool,
}

tasker_testkit::postgres_tests!(
    random_sigkills_of_servers_and_workers_lose_no_task_and_never_overlap_a_step
);

async fn random_sigkills_of_servers_and_workers_lose_no_task_and_never_overlap_a_step() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    let seed = std::env::var("TASKER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("chaos seed {seed} (rerun with TASKER_CHAOS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let chaos = Chaos::new(&db);
    // Slots 0..SERVERS are servers, the rest workers; a killed slot is refilled at once.
    let mut slots: Vec<(Kind, ServerProcess)> = (0..SERVERS)
        .map(|_| Kind::Server)
        .chain((0..WORKERS).map(|_| Kind::Worker))
        .map(|kind| (kind, chaos.start(kind)))
        .collect();
    let mut tasks = Vec::new();
    for i in 0..UPFRONT {
        tasks.push(chaos.create(&slots[i % SERVERS].1, i).await);
    }
    let per_round = (TASKS - UPFRONT) / ROUNDS;
    let mut kills = Vec::new();
    for round in 0..ROUNDS {
        // The round's tasks go in first, so the kill lands while they run.
        let offset = UPFRONT + round * per_round;
        for i in offset..offset + per_round {
            let server = &slots[rng.random_range(0..SERVERS)].1;
            tasks.push(chaos.create(server, i).await);
        }
        // Fault injection at random moments (not synchronisation): rounds are 0.5 to 1 s
        // apart and the kill comes 0.1 to 0.4 s into one, while the round's diamonds are at
        // their first steps.
        let round_ends = Instant::now() + Duration::from_millis(rng.random_range(500..=1000));
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..=400))).await;
        let victim = rng.random_range(0..slots.len());
        let kind = slots[victim].0;
        let done = chaos
            .executions()
            .0
            .iter()
            .filter(|e| e.ended)
            .map(|e| e.step.clone())
            .collect::<BTreeSet<_>>()
            .len();
        // SIGKILL and reap (dropping a `ServerProcess`), then a fresh one on the same config.
        drop(slots.remove(victim));
        slots.insert(victim, (kind, chaos.start(kind)));
        eprintln!("round {round}: SIGKILLed {kind:?} slot {victim} ({done} steps finished)");
        kills.push((kind, done));
        tokio::time::sleep_until(round_ends.into()).await;
    }
    assert_eq!(tasks.len(), TASKS);
    assert!(
        kills[ROUNDS - 1].1 < TASKS * 4,
        "the last kill must land mid-run: {kills:?}"
    );

    let api = &slots[0].1;
    for task in &tasks {
        let finished = try_eventually(HANG_GUARD, async || {
            let view = chaos.get(api, &format!("/v1/tasks/{task}")).await;
            let terminal = ["complete", "error", "cancelled", "resolved_manually"]
                .iter()
                .any(|s| view["status"] == *s);
            if terminal { Ok(view) } else { Err(view) }
        })
        .await;
        let view = finished.as_ref().unwrap_or_else(|view| view);
        if view["status"] != "complete" {
            let steps = chaos
                .get(api, &format!("/v1/tasks/{task}/workflow_steps"))
                .await;
            let logs: Vec<String> = slots
                .iter()
                .map(|(kind, p)| format!("--- {kind:?} {}:\n{}", p.base_url, p.logs()))
                .collect();
            panic!(
                "seed {seed}: task {task} is {} (hang guard {HANG_GUARD:?}):\n{view:#}\n{steps:#}\n{}",
                view["status"],
                logs.join("\n")
            );
        }
    }

    // Every task exactly once in the paginated list.
    let mut listed = Vec::new();
    let mut page = 1;
    loop {
        let list = chaos
            .get(
                &slots[1].1,
                &format!("/v1/tasks?namespace=chaos&per_page=30&page={page}"),
            )
            .await;
        assert_eq!(list["pagination"]["total_count"], TASKS, "{list:#}");
        let rows = list["tasks"].as_array().unwrap();
        listed.extend(rows.iter().map(|t| {
            assert_eq!(t["status"], "complete", "{t:#}");
            t["task_uuid"].as_str().unwrap().to_owned()
        }));
        if page >= list["pagination"]["total_pages"].as_u64().unwrap() {
            break;
        }
        page += 1;
    }
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a task listed twice: {listed:?}"
    );
    assert_eq!(
        unique,
        tasks.iter().collect::<BTreeSet<_>>(),
        "the list and the created tasks differ"
    );

    // Every re-run started after the previous execution of its step was gone: an execution
    // that found its step's lock held recorded an overlap.
    let (runs, overlaps) = chaos.executions();
    assert!(
        overlaps.is_empty(),
        "seed {seed}: executions that started while another of their step still ran: {overlaps:?}"
    );
    let mut by_step: BTreeMap<&str, Vec<&Execution>> = BTreeMap::new();
    for run in &runs {
        by_step.entry(&run.step).or_default().push(run);
    }
    let mut reruns = 0;
    let mut steps_seen = 0;
    for task in &tasks {
        let list = chaos
            .get(api, &format!("/v1/tasks/{task}/workflow_steps"))
            .await;
        let steps = match list {
            Value::Array(items) => items,
            other => other["steps"].as_array().cloned().unwrap_or_default(),
        };
        assert_eq!(steps.len(), 4, "{task}");
        for step in steps {
            steps_seen += 1;
            let uuid = step["step_uuid"].as_str().unwrap();
            assert_eq!(step["status"], "complete", "{step:#}");
            let attempts = step["attempts"].as_u64().unwrap();
            assert_eq!(
                step["results"]["attempt"], attempts,
                "the recorded result is the last attempt's: {step:#}"
            );
            let audit = chaos
                .get(
                    api,
                    &format!("/v1/tasks/{task}/workflow_steps/{uuid}/audit"),
                )
                .await;
            let completions = audit
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["to_state"] == "complete")
                .count();
            assert_eq!(completions, 1, "seed {seed}: one completion:\n{audit:#}");

            let execs = by_step.get(uuid).cloned().unwrap_or_default();
            assert!(!execs.is_empty(), "seed {seed}: {step:#} never ran");
            reruns += execs.len() - 1;
            for e in &execs {
                assert_eq!(e.starts, 1, "seed {seed}: attempt handed out twice: {e:?}");
            }
            assert!(
                execs
                    .iter()
                    .any(|e| u64::from(e.attempt) == attempts && e.ended),
                "seed {seed}: the successful attempt {attempts} has no finished execution: {execs:?}"
            );
        }
    }
    assert_eq!(steps_seen, TASKS * 4);
    assert_eq!(
        by_step.len(),
        TASKS * 4,
        "executions of steps outside these tasks"
    );
    let killed = |k: Kind| kills.iter().filter(|(kind, _)| *kind == k).count();
    eprintln!(
        "seed {seed}: {TASKS} diamonds under {ROUNDS} SIGKILLs ({} servers, {} workers) complete; \
         {} executions, {reruns} re-runs, no overlap",
        killed(Kind::Server),
        killed(Kind::Worker),
        runs.len(),
    );
}
