//! Store behaviour suite: every test runs against SQLite (temporary file) and, when
//! `TASKER_TEST_DATABASE_URL` is set, against PostgreSQL in a fresh schema.

mod harness;
mod leases;
mod lifecycle;
mod queries;
