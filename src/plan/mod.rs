//! Dependency DAGs of a root package, cycles, build order and build keys. No I/O.

pub mod build_key;
