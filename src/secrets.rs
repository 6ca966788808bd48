//! The values of secret variables (`secret_env`): which variables are
//! secret, what their values are in one submit, and how anything that would
//! show one is masked: a secret's value goes into the container's
//! environment and nowhere else (no record, no log, no terminal). The
//! records and the display of environments mask through [`Secrets`]; logs
//! and messages are scrubbed by its [`Scrubber`]. Pure: no I/O.

use std::collections::BTreeMap;

use crate::log::scrub::{Scrubber, ScrubberError};
use crate::package::Package;

/// What replaces the whole value of a secret variable where it is recorded
/// or shown.
pub const MASKED: &str = "********";

/// The secret variables of one submit (or one display) and their values.
#[derive(Debug, Clone)]
pub struct Secrets {
    names: Vec<String>,
    scrubber: Scrubber,
    any_value: bool,
}

impl Secrets {
    /// No secret at all.
    pub fn none() -> Self {
        Self {
            names: Vec::new(),
            scrubber: Scrubber::none(),
            any_value: false,
        }
    }

    /// The secrets named by `names` (the `secret_env` list), with their
    /// values taken from every environment given: a package's own, the
    /// command line's, and each job's final one. A value given in one place
    /// and overridden in another is still a secret.
    pub fn new<'a, I>(names: &[String], environments: I) -> Result<Self, ScrubberError>
    where
        I: IntoIterator<Item = &'a BTreeMap<String, String>>,
    {
        let mut values: Vec<&str> = environments
            .into_iter()
            .flat_map(|env| env.iter())
            .filter(|(name, value)| !value.is_empty() && names.iter().any(|n| n == *name))
            .map(|(_, value)| value.as_str())
            .collect();
        values.sort_unstable();
        values.dedup();
        Ok(Self {
            names: names.to_vec(),
            scrubber: Scrubber::new(&values)?,
            any_value: !values.is_empty(),
        })
    }

    /// Whether `name` is one of the secret variables.
    pub fn is_secret(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Whether the variable `name` set to `value` would show a secret: it
    /// is a secret variable, or its value contains a secret's value.
    pub fn reveals(&self, name: &str, value: &str) -> bool {
        self.is_secret(name) || self.contains_secret(value)
    }

    /// Whether `text` contains the value of a secret.
    pub fn contains_secret(&self, text: &str) -> bool {
        self.any_value
            && matches!(
                self.scrubber.scrub(text.as_bytes()),
                std::borrow::Cow::Owned(_)
            )
    }

    /// A variable's value as it may be recorded or shown: [`MASKED`] for a
    /// secret variable, else the value with every secret in it masked.
    pub fn mask(&self, name: &str, value: &str) -> String {
        if self.is_secret(name) {
            MASKED.to_owned()
        } else {
            self.scrub(value)
        }
    }

    /// An environment as it may be recorded or shown (see [`Secrets::mask`]).
    pub fn mask_all(&self, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        env.iter()
            .map(|(name, value)| (name.clone(), self.mask(name, value)))
            .collect()
    }

    /// A package as it may be shown: its environment masked.
    pub fn mask_package(&self, package: &Package) -> Package {
        let mut shown = package.clone();
        shown.environment = self.mask_all(&package.environment);
        shown
    }

    /// `text` with every secret's value in it masked.
    pub fn scrub(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.scrubber.scrub(text.as_bytes())).into_owned()
    }

    /// An error with every secret's value masked in each of its messages.
    /// The error comes back unchanged when none of them holds a secret (it
    /// keeps its types for the callers that branch on them).
    pub fn scrub_error(&self, err: anyhow::Error) -> anyhow::Error {
        let messages = crate::error::causes(err.as_ref());
        if !messages.iter().any(|m| self.contains_secret(m)) {
            return err;
        }
        let mut scrubbed = messages.iter().rev().map(|m| self.scrub(m));
        let innermost = scrubbed.next().unwrap_or_default();
        scrubbed.fold(anyhow::Error::msg(innermost), |inner, outer| {
            inner.context(outer)
        })
    }

    /// The scrubber of log lines, for these secrets' values.
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn secrets() -> Secrets {
        let names = vec!["TOKEN".to_owned(), "EMPTY".to_owned()];
        let package = env(&[("TOKEN", "from-package"), ("CFLAGS", "-O2")]);
        let cli = env(&[("TOKEN", "s3cr3t"), ("EMPTY", "")]);
        Secrets::new(&names, [&package, &cli]).expect("secrets")
    }

    #[test]
    fn masking() {
        let s = secrets();
        let cases: &[(&str, &str, &str, bool)] = &[
            ("TOKEN", "s3cr3t", MASKED, true),
            ("TOKEN", "anything", MASKED, true),
            ("EMPTY", "", MASKED, true),
            ("CFLAGS", "-O2", "-O2", false),
            (
                "URL",
                "https://me:s3cr3t@host/",
                "https://me:****@host/",
                true,
            ),
            // A value given in the package and overridden is still a secret.
            ("OLD", "was from-package", "was ****", true),
            ("NOTE", "", "", false),
        ];
        for (name, value, masked, reveals) in cases {
            assert_eq!(s.mask(name, value), *masked, "{name}={value}");
            assert_eq!(s.reveals(name, value), *reveals, "{name}={value}");
        }
        assert!(!Secrets::none().reveals("TOKEN2", "s3cr3t"));
    }

    #[test]
    fn errors_are_scrubbed_and_kept_when_clean() {
        let s = secrets();
        let err =
            anyhow::anyhow!("the engine said: bad value s3cr3t").context("creating a container");
        let scrubbed = s.scrub_error(err);
        assert_eq!(
            format!("{scrubbed:#}"),
            "creating a container: the engine said: bad value ****"
        );
        let clean = anyhow::Error::new(crate::error::InputError::new("no secret here"));
        let kept = s.scrub_error(clean);
        assert!(kept.is::<crate::error::InputError>());
    }
}
