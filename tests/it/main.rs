//! kiln's integration tests: one binary, one file per command, each test
//! running the real `kiln` program against a real PostgreSQL (a fresh
//! database per test) and, where it builds, a real Docker engine.
//!
//! Under `CI=true`, a missing PostgreSQL or Docker fails the test instead of
//! skipping it.

mod butido_cli;
mod closed_stdout;
mod config;
mod db;
mod db_query;
mod docker;
mod endpoint;
mod engines;
mod errors;
mod find_pkg;
mod fleet;
mod lineage;
mod lint;
mod liveness;
mod provenance;
mod release;
mod reproduce;
mod reuse;
mod secrets;
mod source;
mod submit;
mod support;
mod tree_of;
mod what_depends;
