//! The one rule of what an environment variable name is. Every place kiln
//! takes a variable name uses it: the configuration (`secret_env`,
//! `containers.allowed_env`, `containers.git_author`,
//! `containers.git_commit_hash`), a package's `environment` table, and the
//! command line's `-E NAME=VALUE`. No I/O.

/// The rule, as error messages say it.
pub const ENV_NAME_RULE: &str = "letters, digits and _, not starting with a digit";

/// Whether `name` is a valid environment variable name: an ASCII letter or
/// `_`, then ASCII letters, digits or `_` (POSIX's portable names, which
/// every shell a build script runs in can read).
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        let cases = [
            ("FOO", true),
            ("_x1", true),
            ("_", true),
            ("lower_case", true),
            ("1X", false),
            ("A-B", false),
            ("A.B", false),
            ("A=B", false),
            ("A B", false),
            ("A\u{1b}", false),
            ("\u{e9}T\u{e9}", false),
            ("", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_env_name(name), want, "{name:?}");
        }
    }
}
