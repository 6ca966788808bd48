//! Staging and release stores: safe extraction of outputs, checksums, releases.
