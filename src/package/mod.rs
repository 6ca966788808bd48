//! Packages, names, versions, dependencies, conditions and script rendering. No I/O.
