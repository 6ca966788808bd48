//! The one owner of the password in a connection string: a URL
//! (`postgres://user:password@host/db?password=...`, an endpoint's
//! `tcp://user:password@host`) or a libpq `key=value` string. It masks the
//! password for display ([`mask_password`]) and splits it off so that it
//! can travel in `PGPASSWORD` instead of a command line
//! ([`split_password`]). Every place that shows a database URL or an
//! endpoint URI, or hands one to `psql`, goes through it. Pure: no I/O.
//!
//! The reading errs on the side of masking: the string is not parsed as a
//! whole (a URL that does not parse is masked all the same), the user
//! information is everything before the last `@` ahead of the path (so a
//! password holding `@`, `?` or `#` is masked whole), a `password`
//! parameter is found whatever its case, and what is not a password is
//! kept as it was written (no percent-encoding added or removed).

/// What a masked password looks like.
pub const MASK: &str = "********";

/// `s` with every password in it replaced by [`MASK`], fit to print.
pub fn mask_password(s: &str) -> String {
    rewrite(s, Edit::Mask).0
}

/// `s` without its password, and the password (percent-decoded when it
/// came from a URL).
pub fn split_password(s: &str) -> (String, Option<String>) {
    rewrite(s, Edit::Remove)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Mask,
    Remove,
}

fn rewrite(s: &str, edit: Edit) -> (String, Option<String>) {
    match s.find("://") {
        Some(i) => rewrite_url(s, i + 3, edit),
        None if s.contains('=') => rewrite_conninfo(s, edit),
        None => (s.to_owned(), None),
    }
}

/// A password found in a URL: the bytes of its value, and the bytes that
/// go when it is removed.
#[derive(Debug, Clone, Copy)]
struct Found {
    value: (usize, usize),
    removed: (usize, usize),
}

fn rewrite_url(url: &str, start: usize, edit: Edit) -> (String, Option<String>) {
    let mut found = query_passwords(url, start);
    if let Some(userinfo) = userinfo_password(url, start) {
        let overlaps = found
            .iter()
            .any(|f| userinfo.value.0 < f.value.1 && f.value.0 < userinfo.value.1);
        if !overlaps {
            found.push(userinfo);
        }
    }
    found.sort_by_key(|f| f.value.0);
    // The user information comes first: its password wins.
    let password = found
        .first()
        .map(|f| percent_decode(&url[f.value.0..f.value.1]));
    let mut out = url.to_owned();
    for f in found.iter().rev() {
        let (from, to) = match edit {
            Edit::Mask => f.value,
            Edit::Remove => f.removed,
        };
        let with = if edit == Edit::Mask { MASK } else { "" };
        out.replace_range(from..to, with);
    }
    if edit == Edit::Remove && out.ends_with('?') {
        out.pop();
    }
    (out, password)
}

/// The password of the user information: after the first `:` of what
/// comes before the last `@` ahead of the path.
fn userinfo_password(url: &str, start: usize) -> Option<Found> {
    let rest = &url[start..];
    let region = &rest[..rest.find('/').unwrap_or(rest.len())];
    let at = start + region.rfind('@')?;
    let colon = start + url[start..at].find(':')?;
    Some(Found {
        value: (colon + 1, at),
        removed: (colon, at),
    })
}

/// Every `password=` parameter (any case) after a `?` or `&`; its value
/// runs to the next `&` or `#`.
fn query_passwords(url: &str, start: usize) -> Vec<Found> {
    const KEY: &str = "password=";
    let lower = url.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = start;
    while let Some(i) = lower[from..].find(KEY).map(|i| from + i) {
        from = i + KEY.len();
        let separator = url[..i].chars().next_back();
        if !matches!(separator, Some('?' | '&')) {
            continue;
        }
        let end = url[from..].find(['&', '#']).map_or(url.len(), |e| from + e);
        // `?password=x&y=1` loses `password=x&`; `?a=1&password=x` loses `&password=x`.
        let removed = match (separator, url[end..].starts_with('&')) {
            (Some('?'), true) => (i, end + 1),
            (Some('?'), false) => (i, end),
            _ => (i - 1, end),
        };
        found.push(Found {
            value: (from, end),
            removed,
        });
        from = end;
    }
    found
}

/// libpq `key=value` strings: values may be single-quoted, with `\` escapes.
/// Without a password the string is kept as written.
fn rewrite_conninfo(s: &str, edit: Edit) -> (String, Option<String>) {
    let entries = conninfo_entries(s);
    let Some(password) = entries
        .iter()
        .find(|e| e.key.eq_ignore_ascii_case("password"))
        .map(|e| e.value.clone())
    else {
        return (s.to_owned(), None);
    };
    let kept: Vec<String> = entries
        .into_iter()
        .filter_map(|e| match (e.key.eq_ignore_ascii_case("password"), edit) {
            (false, _) => Some(e.raw),
            (true, Edit::Mask) => Some(format!("{}={MASK}", e.key)),
            (true, Edit::Remove) => None,
        })
        .collect();
    (kept.join(" "), Some(password))
}

struct ConninfoEntry {
    key: String,
    value: String,
    /// The entry as written (`key=value`, quotes kept).
    raw: String,
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn conninfo_entries(s: &str) -> Vec<ConninfoEntry> {
    let mut entries = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        skip_space(&mut chars);
        if chars.peek().is_none() {
            return entries;
        }
        let key = conninfo_key(&mut chars);
        skip_space(&mut chars);
        if chars.peek() != Some(&'=') {
            entries.push(ConninfoEntry {
                raw: key.clone(),
                key,
                value: String::new(),
            });
            continue;
        }
        chars.next();
        skip_space(&mut chars);
        let (raw, value) = conninfo_value(&mut chars);
        entries.push(ConninfoEntry {
            raw: format!("{key}={raw}"),
            key,
            value,
        });
    }
}

fn skip_space(chars: &mut Chars<'_>) {
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
}

fn conninfo_key(chars: &mut Chars<'_>) -> String {
    let mut key = String::new();
    while let Some(&c) = chars.peek() {
        if c == '=' || c.is_whitespace() {
            break;
        }
        key.push(c);
        chars.next();
    }
    key
}

/// A value as written and as meant: quoted (`'a b\'c'`) or bare.
fn conninfo_value(chars: &mut Chars<'_>) -> (String, String) {
    let mut raw = String::new();
    let mut value = String::new();
    if chars.peek() == Some(&'\'') {
        raw.push('\'');
        chars.next();
        while let Some(c) = chars.next() {
            raw.push(c);
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        raw.push(n);
                        value.push(n);
                    }
                }
                '\'' => break,
                _ => value.push(c),
            }
        }
    } else {
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            raw.push(c);
            value.push(c);
            chars.next();
        }
    }
    (raw, value)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases both earlier maskers agreed on, then those where they
    /// differed (the comment says what the wrong one did).
    #[test]
    fn passwords_are_masked() {
        let cases = [
            (
                "postgres://kiln:s3cret@db.example:5432/kiln",
                "postgres://kiln:********@db.example:5432/kiln",
            ),
            (
                "postgres://u:p%40ss@h/db?sslmode=require",
                "postgres://u:********@h/db?sslmode=require",
            ),
            (
                "postgres://h/db?user=u&password=s3cret&x=1",
                "postgres://h/db?user=u&password=********&x=1",
            ),
            ("postgresql://u:s3cret@h", "postgresql://u:********@h"),
            ("postgres://kiln@db/kiln", "postgres://kiln@db/kiln"),
            ("postgres://h/db", "postgres://h/db"),
            (
                "postgres:///kiln?host=/var/run/postgresql",
                "postgres:///kiln?host=/var/run/postgresql",
            ),
            ("tcp://u:s3cret@docker:2376", "tcp://u:********@docker:2376"),
            ("not a url", "not a url"),
            // A `@` in the password: one masker kept the part before it.
            ("postgres://u:s3cret@x@h", "postgres://u:********@h"),
            // The URL masker re-encoded the query (`%2Frun`).
            (
                "postgres:///kiln?host=/run&password=s3cret",
                "postgres:///kiln?host=/run&password=********",
            ),
            // The URL masker left a URL that does not parse as it was.
            (
                "postgres://u:s3cret@h:99999/db",
                "postgres://u:********@h:99999/db",
            ),
            (
                "postgres://u:s3cret@h/db name",
                "postgres://u:********@h/db name",
            ),
            // Upper-case `PASSWORD` was left by one.
            (
                "postgres://h/db?PASSWORD=s3cret",
                "postgres://h/db?PASSWORD=********",
            ),
            // `#` or `?` in the password: the URL masker cut the user
            // information there and printed the password.
            ("postgres://u:s3#cret@h/db", "postgres://u:********@h/db"),
            ("postgres://u:s3?cret@h/db", "postgres://u:********@h/db"),
            (
                "postgres://h?password=s3:cret@x",
                "postgres://h?password=********",
            ),
            (
                "postgres://h/db?password=s3cret#f",
                "postgres://h/db?password=********#f",
            ),
            // libpq `key=value` strings: the URL masker left them whole.
            (
                "host=db user=kiln password=s3cret dbname=kiln",
                "host=db user=kiln password=******** dbname=kiln",
            ),
            (
                r"host=db password='s3cret\' x' dbname=k",
                "host=db password=******** dbname=k",
            ),
            ("host=/run  dbname=kiln", "host=/run  dbname=kiln"),
        ];
        for (input, want) in cases {
            let masked = mask_password(input);
            assert_eq!(masked, want, "{input}");
            assert!(!masked.contains("s3"), "{masked}");
            assert!(!masked.contains("cret"), "{masked}");
        }
    }

    #[test]
    fn passwords_are_split_off() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "postgres://kiln:s3%40cret@db/kiln",
                "postgres://kiln@db/kiln",
                Some("s3@cret"),
            ),
            (
                "postgresql://kiln@db/kiln",
                "postgresql://kiln@db/kiln",
                None,
            ),
            (
                "postgres://db/kiln?password=pw&sslmode=require",
                "postgres://db/kiln?sslmode=require",
                Some("pw"),
            ),
            (
                "postgres://db/kiln?sslmode=require&password=pw",
                "postgres://db/kiln?sslmode=require",
                Some("pw"),
            ),
            (
                "postgres://db/kiln?password=pw",
                "postgres://db/kiln",
                Some("pw"),
            ),
            (
                "postgres:///kiln?host=/run&password=p%26w",
                "postgres:///kiln?host=/run",
                Some("p&w"),
            ),
            ("host=db password=pw user=k", "host=db user=k", Some("pw")),
            (
                r"host=db password='a b\'c' user=k",
                "host=db user=k",
                Some("a b'c"),
            ),
            ("host='/a b' dbname=kiln", "host='/a b' dbname=kiln", None),
        ];
        for (input, rest, password) in cases {
            let (got_rest, got_password) = split_password(input);
            assert_eq!(&got_rest, rest, "{input}");
            assert_eq!(got_password.as_deref(), *password, "{input}");
        }
    }

    #[test]
    fn percent_decoding() {
        let cases = [
            ("a%40b", "a@b"),
            ("plain", "plain"),
            ("trail%4", "trail%4"),
            ("%zz", "%zz"),
            ("%41%42", "AB"),
        ];
        for (input, want) in cases {
            assert_eq!(percent_decode(input), want);
        }
    }
}
