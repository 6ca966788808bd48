//! The database part of configuration: [`Secret`] (a string `Debug` never
//! shows), [`DatabaseTarget`], building a `postgres://` URL from butido's
//! `database_*` keys. Passwords in URLs are [`super::password`]'s.
//! Pure: no I/O.

use std::path::PathBuf;

pub use super::password::MASK;

/// A secret string: never printed by `Debug`, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself: only for handing it to the thing that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{MASK}\"")
    }
}

/// Which PostgreSQL database kiln uses.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    /// kiln's own server in its data directory, started on demand.
    Embedded { dir: PathBuf },
    /// A configured server; the URL may hold a password.
    External { url: Secret },
}

impl DatabaseTarget {
    /// A description fit for printing: the URL with its password masked, or
    /// the embedded server's directory.
    pub fn describe(&self) -> String {
        match self {
            DatabaseTarget::Embedded { dir } => format!("embedded server in {}", dir.display()),
            DatabaseTarget::External { url } => super::password::mask_password(url.expose()),
        }
    }
}

/// The parts of a connection given by butido's `database_*` keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DatabaseParts {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub name: Option<String>,
}

/// Builds a libpq connection URL: `postgres://user:password@host:port/name`.
/// A host that is a directory (starts with `/`) is a Unix socket directory
/// and goes into the `host` query parameter. The host defaults to
/// `localhost`; missing user and name are left to libpq's defaults.
pub(crate) fn build_url(parts: &DatabaseParts) -> Secret {
    let mut url = String::from("postgres://");
    if let Some(user) = &parts.user {
        url.push_str(&percent_encode(user));
        if let Some(password) = &parts.password {
            url.push(':');
            url.push_str(&percent_encode(password.expose()));
        }
        url.push('@');
    }
    let host = parts.host.as_deref().unwrap_or("localhost");
    let socket_dir = host.starts_with('/');
    if !socket_dir {
        if host.contains(':') {
            url.push_str(&format!("[{host}]"));
        } else {
            url.push_str(&percent_encode(host));
        }
    }
    if let Some(port) = parts.port {
        url.push_str(&format!(":{port}"));
    }
    url.push('/');
    if let Some(name) = &parts.name {
        url.push_str(&percent_encode(name));
    }
    if socket_dir {
        url.push_str("?host=");
        url.push_str(&percent_encode(host));
    }
    Secret::new(url)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `url` is a PostgreSQL connection URL libpq accepts.
pub(crate) fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_hides_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"********\"");
        let t = DatabaseTarget::External {
            url: Secret::new("postgres://u:hunter2@h/db"),
        };
        assert!(!format!("{t:?}").contains("hunter2"));
        assert!(!format!("{t:#?}").contains("hunter2"));
        assert_eq!(t.describe(), "postgres://u:********@h/db");
    }

    #[test]
    fn build_url_cases() {
        let parts = |host: Option<&str>,
                     port,
                     user: Option<&str>,
                     password: Option<&str>,
                     name: Option<&str>| DatabaseParts {
            host: host.map(Into::into),
            port,
            user: user.map(Into::into),
            password: password.map(Secret::new),
            name: name.map(Into::into),
        };
        let cases = [
            (
                parts(
                    Some("db.example"),
                    Some(5432),
                    Some("pgdev"),
                    Some("password"),
                    Some("butido"),
                ),
                "postgres://pgdev:password@db.example:5432/butido",
            ),
            (
                parts(None, None, None, None, Some("kiln")),
                "postgres://localhost/kiln",
            ),
            (
                parts(Some("h"), None, Some("a b"), Some("p@ss:/word"), Some("d")),
                "postgres://a%20b:p%40ss%3A%2Fword@h/d",
            ),
            (
                parts(
                    Some("/var/run/postgresql"),
                    Some(5433),
                    Some("root"),
                    None,
                    Some("kiln"),
                ),
                "postgres://root@:5433/kiln?host=%2Fvar%2Frun%2Fpostgresql",
            ),
            (
                parts(Some("::1"), Some(5432), None, None, None),
                "postgres://[::1]:5432/",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(build_url(&p).expose(), want, "{p:?}");
        }
    }

    #[test]
    fn postgres_urls() {
        let cases = [
            ("postgres://h/db", true),
            ("postgresql://h/db", true),
            ("mysql://h/db", false),
            ("h/db", false),
        ];
        for (url, want) in cases {
            assert_eq!(is_postgres_url(url), want, "{url}");
        }
    }
}
