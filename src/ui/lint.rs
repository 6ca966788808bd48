//! What `kiln lint` prints: one line per finding (`error:` or `warning:`,
//! the package, what was found), a linter's output indented below its
//! line, and a summary line.

use std::fmt::Write as _;

use anyhow::Result;

use crate::lint::{Finding, Severity};
use crate::package::PackageSet;

/// The findings and the summary, as text.
pub fn report(packages: &PackageSet, checked: usize, findings: &[Finding]) -> String {
    let mut text = String::new();
    for finding in findings {
        let package = packages.get(finding.package);
        let message = finding.kind.to_string();
        let mut lines = message.lines();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(
            text,
            "{}: {}: {first}",
            finding.severity().as_str(),
            package.id_string()
        );
        for line in lines {
            let _ = writeln!(text, "    {line}");
        }
    }
    text.push_str(&summary(checked, findings));
    text.push('\n');
    text
}

/// `lint: checked N packages: E errors and W warnings in P packages`, or
/// `... : no problems found`.
pub fn summary(checked: usize, findings: &[Finding]) -> String {
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let checked_text = plural(checked, "package");
    if findings.is_empty() {
        return format!("lint: checked {checked_text}: no problems found");
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity() == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let mut affected: Vec<_> = findings.iter().map(|f| f.package).collect();
    affected.sort();
    affected.dedup();
    format!(
        "lint: checked {checked_text}: {} and {} in {}",
        plural(errors, "error"),
        plural(warnings, "warning"),
        plural(affected.len(), "package"),
    )
}

/// Prints the report on standard output.
pub fn print(packages: &PackageSet, checked: usize, findings: &[Finding]) -> Result<()> {
    let text = report(packages, checked, findings);
    super::write_stdout(|out| out.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{FindingKind, ImageList};
    use crate::package::testing::package;

    #[test]
    fn reports() {
        let (set, _) = PackageSet::new(vec![
            package("a", "1", &[], &[]),
            package("b", "2", &[], &[]),
        ]);
        let a = set.versions("a")[0];
        let b = set.versions("b")[0];
        assert_eq!(
            report(&set, 2, &[]),
            "lint: checked 2 packages: no problems found\n"
        );
        let findings = vec![
            Finding {
                package: a,
                kind: FindingKind::Linter {
                    status: "exit code 1".into(),
                    output: "In - line 2:\nbad\n".into(),
                },
            },
            Finding {
                package: a,
                kind: FindingKind::NoAllowedImage,
            },
            Finding {
                package: b,
                kind: FindingKind::UnknownImage {
                    list: ImageList::Denied,
                    image: "x".into(),
                },
            },
        ];
        assert_eq!(
            report(&set, 2, &findings),
            "error: a 1: script_linter failed (exit code 1):\n    \
             In - line 2:\n    \
             bad\n\
             error: a 1: allowed_images names none of the images of docker.images: the package cannot be built\n\
             warning: b 2: denied_images names `x`, which is not an image of docker.images\n\
             lint: checked 2 packages: 2 errors and 1 warning in 2 packages\n"
        );
        assert_eq!(
            summary(1, &findings[..1]),
            "lint: checked 1 package: 1 error and 0 warnings in 1 package"
        );
    }
}
