//! Store behaviour suite: every test runs twice, as `NAME::sqlite` on a temporary file and as
//! `NAME::postgres` in a fresh schema on the server at `TASKER_TEST_DATABASE_URL` (reported as
//! ignored when that is not set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batched;
mod dynamic;
mod harness;
mod leases;
mod lifecycle;
mod notify;
mod queries;
mod reruns;
mod retention;
mod subtasks;
mod waiting;
