//! The markers a build script prints to tell kiln where it is: phases,
//! progress and its own verdict. Parsing is pure and never fails: a line that
//! is not a well-formed marker is an ordinary log line.
//!
//! Both prefixes are accepted, `#KILN:` and butido's `#BUTIDO:`, so that
//! butido repositories work unchanged.

/// The prefixes that start a marker line.
pub const PREFIXES: [&str; 2] = ["#KILN:", "#BUTIDO:"];

/// A marker printed by a script (see the container contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// `PHASE:<name>`: the script entered a phase.
    Phase(String),
    /// `PROGRESS:<n>`: progress in percent, 0 to 100.
    Progress(u8),
    /// `STATE:OK`: the script declares success.
    StateOk,
    /// `STATE:ERR:<message>`: the script declares failure.
    StateErr(String),
}

/// Parses one log line (with or without its line ending) as a marker.
///
/// Returns `None` for every line that is not a well-formed marker, including
/// lines that are not valid UTF-8, unknown marker kinds, progress outside
/// 0..=100, and error messages that start with a quote but are not one
/// well-formed quoted string.
pub fn parse(line: &[u8]) -> Option<Marker> {
    let line = std::str::from_utf8(line).ok()?;
    let line = line.trim_end_matches(['\n', '\r']);
    let rest = PREFIXES.iter().find_map(|p| line.strip_prefix(p))?;
    if let Some(name) = rest.strip_prefix("PHASE:") {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        return Some(Marker::Phase(name.to_owned()));
    }
    if let Some(n) = rest.strip_prefix("PROGRESS:") {
        let n = n.trim();
        if n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u8 = n.parse().ok()?;
        return (n <= 100).then_some(Marker::Progress(n));
    }
    if let Some(state) = rest.strip_prefix("STATE:") {
        if state.trim_end() == "OK" {
            return Some(Marker::StateOk);
        }
        let message = state.strip_prefix("ERR")?;
        if message.trim_end().is_empty() {
            return Some(Marker::StateErr(String::new()));
        }
        let message = message.strip_prefix(':')?;
        return parse_message(message).map(Marker::StateErr);
    }
    None
}

/// An error message: either the raw rest of the line, or one double-quoted
/// string with backslash escapes and nothing after it.
fn parse_message(raw: &str) -> Option<String> {
    let trimmed = raw.trim_end();
    let Some(quoted) = trimmed.strip_prefix('"') else {
        return Some(trimmed.to_owned());
    };
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // The closing quote must end the message.
                return chars.as_str().is_empty().then_some(out);
            }
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    // No closing quote.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Option<Marker>) {
        assert_eq!(parse(line.as_bytes()), expected, "line {line:?}");
    }

    #[test]
    fn markers() {
        use Marker::*;
        let cases: &[(&str, Option<Marker>)] = &[
            ("#KILN:PHASE:build", Some(Phase("build".into()))),
            ("#BUTIDO:PHASE:build\n", Some(Phase("build".into()))),
            ("#KILN:PHASE:configure\r\n", Some(Phase("configure".into()))),
            ("#KILN:PHASE:", None),
            ("#KILN:PROGRESS:0", Some(Progress(0))),
            ("#KILN:PROGRESS:42", Some(Progress(42))),
            ("#BUTIDO:PROGRESS:100", Some(Progress(100))),
            ("#KILN:PROGRESS:101", None),
            ("#KILN:PROGRESS:-1", None),
            ("#KILN:PROGRESS:4x", None),
            ("#KILN:PROGRESS:", None),
            ("#KILN:PROGRESS:0000000000042", None),
            ("#KILN:STATE:OK", Some(StateOk)),
            ("#BUTIDO:STATE:OK\n", Some(StateOk)),
            ("#KILN:STATE:OKAY", None),
            ("#KILN:STATE:ERR", Some(StateErr(String::new()))),
            ("#KILN:STATE:ERR:", Some(StateErr(String::new()))),
            (
                "#KILN:STATE:ERR:make failed",
                Some(StateErr("make failed".into())),
            ),
            (
                "#KILN:STATE:ERR:\"make failed\"",
                Some(StateErr("make failed".into())),
            ),
            (
                r#"#BUTIDO:STATE:ERR:"say \"no\"\n\\ done""#,
                Some(StateErr("say \"no\"\n\\ done".into())),
            ),
            ("#KILN:STATE:ERR:\"unterminated", None),
            ("#KILN:STATE:ERR:\"a\" trailing", None),
            ("#KILN:STATE:ERR:\"dangling \\", None),
            ("#KILN:STATE:ERRX", None),
            ("#KILN:STATE:WHATEVER", None),
            ("#KILN:UNKNOWN:x", None),
            ("#KILN:", None),
            ("#kiln:PHASE:build", None),
            (" #KILN:PHASE:build", None),
            ("echo '#KILN:PHASE:build'", None),
            ("plain line", None),
            ("", None),
        ];
        for (line, expected) in cases {
            check(line, expected.clone());
        }
    }

    #[test]
    fn non_utf8_is_an_ordinary_line() {
        assert_eq!(parse(b"#KILN:PHASE:\xff\xfe"), None);
    }
}
