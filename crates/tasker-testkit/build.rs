//! Decides at build time whether PostgreSQL tests run: with `TASKER_TEST_DATABASE_URL` or
//! `TASKER_TEST_REQUIRE_DB=1` set they are ordinary tests, otherwise they are declared
//! `#[ignore]`, so the test harness reports them as ignored (never as passed) and counts them
//! in its summary line.

fn main() {
    println!("cargo::rerun-if-env-changed=TASKER_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=TASKER_TEST_REQUIRE_DB");
    println!("cargo::rustc-check-cfg=cfg(tasker_postgres)");
    let url = std::env::var("TASKER_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty());
    let required = std::env::var("TASKER_TEST_REQUIRE_DB").is_ok_and(|v| v == "1");
    if url || required {
        println!("cargo::rustc-cfg=tasker_postgres");
    } else {
        println!(
            "cargo::warning=PostgreSQL tests are built as ignored: TASKER_TEST_DATABASE_URL is not set"
        );
    }
}
