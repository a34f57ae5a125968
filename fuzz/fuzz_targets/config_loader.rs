//! The `tasker-config` loader: TOML layers, merging, `${VAR}` interpolation, the environment
//! overrides, `*_file` secrets and validation, on files written into a temporary config root.
//!
//! The first input byte picks the role, the environment and the layout (one merged file via
//! `config_path`, or layered files: the input split at the first NUL into `base/common.toml`
//! and `base/<role>.toml`, the rest of a second NUL into the environment's role file).
//!
//! Hostile files for the `*_file` and `*_path` keys exist beside the config root under fixed
//! names the seeds and the dictionary spell: a FIFO (`tasker-fuzz-fifo`), a directory
//! (`tasker-fuzz-dir`), a file one byte over the 1 MiB limit (`tasker-fuzz-oversized.pem`), and
//! the device `/dev/zero`. Reading any of them must be refused at once (a blocking open or an
//! unbounded read shows up as a libFuzzer timeout or out-of-memory), and no error ever quotes
//! the oversized file's content.
//!
//! Properties: never a panic; errors always name something; the value of an environment
//! variable that holds a secret (planted as a canary, and referenced as `${FUZZ_SECRET}` or
//! through `DATABASE_URL`) never appears in an error's `Display` or `Debug` or in a warning,
//! unless the input itself spells it out or the error is about a file path key (`*_path`,
//! `*_file`), whose path is quoted by design.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tasker_config::{ConfigError, Env, LoadOptions, Loaded, OrchestrationConfig, WorkerConfig};

const CANARY: &str = "FUZZ_CANARY_SECRET_9f3a";

/// What the oversized file is made of; no error may quote it.
const OVERSIZED_CONTENT: &str = "FUZZ_OVERSIZED_CONTENT_51c8\n";

/// One byte more than the loader reads from any file.
const OVERSIZED_BYTES: usize = 1024 * 1024 + 1;

/// Creates the hostile files next to the secret file: a FIFO (nobody ever writes to it, so a
/// blocking open would hang), a directory and an oversized file.
fn plant_hostile_files(dir: &Path) {
    let fifo = dir.join("tasker-fuzz-fifo");
    if !fifo.exists() {
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success(), "mkfifo {}", fifo.display());
    }
    std::fs::create_dir_all(dir.join("tasker-fuzz-dir")).expect("hostile directory");
    let content: String = OVERSIZED_CONTENT
        .chars()
        .cycle()
        .take(OVERSIZED_BYTES)
        .collect();
    std::fs::write(dir.join("tasker-fuzz-oversized.pem"), content).expect("oversized file");
}

struct Root {
    dir: tempfile::TempDir,
}

static ROOT: LazyLock<Root> = LazyLock::new(|| {
    let dir = tempfile::Builder::new()
        .prefix("tasker-fuzz-config")
        .tempdir()
        .expect("temporary config root");
    for sub in [
        "base",
        "environments/development",
        "environments/production",
    ] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("config directories");
    }
    // A secret file the input may point `key_file` / `jwt_private_key_file` at (a fixed name,
    // so the seeds and the dictionary can spell it).
    std::fs::write(
        std::env::temp_dir().join("tasker-fuzz-secret.txt"),
        format!("{CANARY}\n"),
    )
    .expect("secret file");
    plant_hostile_files(&std::env::temp_dir());
    Root { dir }
});

static ENVS: LazyLock<[Env; 2]> = LazyLock::new(|| {
    let common = [
        ("FUZZ_SECRET", CANARY.to_owned()),
        ("HOST", "db".to_owned()),
        ("PORT", "5432".to_owned()),
        ("EMPTY", String::new()),
    ];
    let plain = Env::from_pairs(common.clone());
    let mut with_overrides = common.to_vec();
    with_overrides.push((
        "DATABASE_URL",
        format!("postgres://tasker:{CANARY}@db/tasker"),
    ));
    with_overrides.push(("TASKER_WEB_BIND_ADDRESS", "127.0.0.1:0".to_owned()));
    [plain, Env::from_pairs(with_overrides)]
});

fn write(path: &Path, contents: Option<&[u8]>) {
    match contents {
        Some(bytes) => std::fs::write(path, bytes).expect("write layer"),
        None => match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove {}: {e}", path.display()),
        },
    }
}

fn split(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    }
}

fn check_error(err: &ConfigError, input_has_canary: bool) {
    let display = err.to_string();
    let debug = format!("{err:?}");
    assert!(
        !display.trim().is_empty(),
        "an error with an empty message: {debug}"
    );
    let marker = OVERSIZED_CONTENT.trim_end();
    assert!(
        !display.contains(marker) && !debug.contains(marker),
        "an error quotes a refused file's content: {display}"
    );
    if input_has_canary {
        return;
    }
    match err {
        // By design (and tested in tasker-config), an unreadable file is named by its path,
        // so a path interpolated from the environment appears in the error: `*_path` and
        // `*_file` keys are exempt.
        ConfigError::Invalid { key, .. } if key.ends_with("_path") || key.ends_with("_file") => {}
        // An API key entry is named by its description (`api_keys[N] "description"`), by
        // design; everything else in the message must be free of the secret.
        ConfigError::Invalid {
            origin,
            key,
            reason,
        } => {
            for (field, text) in [("origin", origin), ("key", key)] {
                assert!(
                    !text.contains(CANARY),
                    "a secret leaked into the {field}: {display}"
                );
            }
            assert!(
                !without_labels(reason).contains(CANARY),
                "a secret leaked into an error: {display}"
            );
        }
        _ => {
            assert!(
                !display.contains(CANARY),
                "a secret leaked into an error: {display}"
            );
            assert!(
                !debug.contains(CANARY),
                "a secret leaked into an error's Debug: {debug}"
            );
        }
    }
}

/// `reason` without the `api_keys[N] "…": ` labels that name API key entries.
fn without_labels(reason: &str) -> String {
    let mut out = String::new();
    let mut rest = reason;
    while let Some(at) = rest.find("api_keys[") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let label_end = after
            .find("] \"")
            .and_then(|q| after[q + 3..].find("\": ").map(|e| q + 3 + e + 3));
        match label_end {
            Some(end) => rest = &after[end..],
            None => {
                out.push_str("api_keys[");
                rest = &after["api_keys[".len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn load<C: tasker_config::RoleConfig>(options: &LoadOptions, env: &Env, input_has_canary: bool) {
    match Loaded::<C>::load(options, env) {
        Ok(loaded) => {
            if !input_has_canary {
                for warning in &loaded.warnings {
                    assert!(
                        !warning.contains(CANARY),
                        "a secret leaked into a warning: {warning}"
                    );
                }
            }
        }
        Err(err) => check_error(&err, input_has_canary),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let root = ROOT.dir.path();
    let worker = mode & 1 == 1;
    let stem = if worker { "worker" } else { "orchestration" };
    let environment = if mode & 4 == 4 {
        "production"
    } else {
        "development"
    };
    let env = &ENVS[usize::from(mode & 8 == 8)];
    let input_has_canary = rest.windows(CANARY.len()).any(|w| w == CANARY.as_bytes());

    let merged = root.join("merged.toml");
    let base_common = root.join("base/common.toml");
    let base_role = root.join(format!("base/{stem}.toml"));
    let env_role = root.join(format!("environments/{environment}/{stem}.toml"));
    for stale in [
        "base/common.toml",
        "base/orchestration.toml",
        "base/worker.toml",
        "environments/development/orchestration.toml",
        "environments/development/worker.toml",
        "environments/production/orchestration.toml",
        "environments/production/worker.toml",
    ] {
        write(&root.join(stale), None);
    }
    let config_path: Option<PathBuf> = if mode & 2 == 2 {
        write(&merged, Some(rest));
        Some(merged)
    } else {
        let (common, tail) = split(rest);
        match tail {
            None => write(&base_role, Some(common)),
            Some(tail) => {
                let (role, env_layer) = split(tail);
                write(&base_common, Some(common));
                write(&base_role, Some(role));
                write(&env_role, env_layer);
            }
        }
        None
    };
    let options = LoadOptions {
        config_root: root.to_owned(),
        environment: environment.to_owned(),
        config_path,
    };
    if worker {
        load::<WorkerConfig>(&options, env, input_has_canary);
    } else {
        load::<OrchestrationConfig>(&options, env, input_has_canary);
    }
});
