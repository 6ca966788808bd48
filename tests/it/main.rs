//! kiln's integration tests: one binary, one file per command, each test
//! running the real `kiln` program against a real PostgreSQL (a fresh
//! database per test) and, where it builds, a real Docker engine.
//!
//! Under `CI=true`, a missing PostgreSQL or Docker fails the test instead of
//! skipping it.

mod config;
mod support;
mod db;
mod docker;
mod tree_of;
mod submit;
