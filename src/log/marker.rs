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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The line a script prints for `marker`, the message quoted with
        /// the escapes the parser reads.
        fn render(prefix: &str, marker: &Marker) -> String {
            match marker {
                Marker::Phase(name) => format!("{prefix}PHASE:{name}"),
                Marker::Progress(n) => format!("{prefix}PROGRESS:{n}"),
                Marker::StateOk => format!("{prefix}STATE:OK"),
                Marker::StateErr(message) => {
                    let mut quoted = String::from("\"");
                    for c in message.chars() {
                        match c {
                            '"' => quoted.push_str("\\\""),
                            '\\' => quoted.push_str("\\\\"),
                            '\n' => quoted.push_str("\\n"),
                            '\r' => quoted.push_str("\\r"),
                            '\t' => quoted.push_str("\\t"),
                            '\0' => quoted.push_str("\\0"),
                            c => quoted.push(c),
                        }
                    }
                    quoted.push('"');
                    format!("{prefix}STATE:ERR:{quoted}")
                }
            }
        }

        fn prefix() -> impl Strategy<Value = &'static str> {
            prop::sample::select(PREFIXES.to_vec())
        }

        fn marker() -> impl Strategy<Value = Marker> {
            prop_oneof![
                "[^\\s]([^\\n\\r]*[^\\s])?".prop_map(Marker::Phase),
                (0u8..=100).prop_map(Marker::Progress),
                Just(Marker::StateOk),
                any::<String>().prop_map(Marker::StateErr),
            ]
        }

        /// Lines that look like markers: a prefix, a kind, then anything.
        fn marker_like() -> impl Strategy<Value = Vec<u8>> {
            (
                prefix(),
                prop::sample::select(vec!["PHASE:", "PROGRESS:", "STATE:", "STATE:ERR:", ""]),
                prop::collection::vec(any::<u8>(), 0..24),
            )
                .prop_map(|(prefix, kind, rest)| {
                    let mut line = format!("{prefix}{kind}").into_bytes();
                    line.extend(rest);
                    line
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            /// Any bytes: no panic; without a prefix, never a marker.
            #[test]
            fn any_line_is_a_marker_or_an_ordinary_line(line in prop::collection::vec(any::<u8>(), 0..64)) {
                let parsed = parse(&line);
                if !PREFIXES.iter().any(|p| line.starts_with(p.as_bytes())) {
                    prop_assert_eq!(parsed, None);
                }
            }

            /// What the parser reads from a line, written again, reads the same.
            #[test]
            fn a_parsed_marker_reads_the_same_when_written_again(line in marker_like(), prefix in prefix()) {
                if let Some(marker) = parse(&line) {
                    prop_assert_eq!(parse(render(prefix, &marker).as_bytes()), Some(marker));
                }
            }

            /// Every well-formed marker, with either prefix and either line end, is read back.
            #[test]
            fn well_formed_markers_are_read(
                marker in marker(),
                prefix in prefix(),
                end in prop::sample::select(vec!["", "\n", "\r\n"]),
            ) {
                let line = format!("{}{end}", render(prefix, &marker));
                prop_assert_eq!(parse(line.as_bytes()), Some(marker));
            }

            /// Progress outside 0 to 100 is an ordinary line.
            #[test]
            fn progress_out_of_range_is_no_marker(n in 101u32..100_000, prefix in prefix()) {
                prop_assert_eq!(parse(format!("{prefix}PROGRESS:{n}").as_bytes()), None);
            }
        }
    }
}
