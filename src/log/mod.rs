//! The container log protocol: markers for phases, progress and state. No I/O.
