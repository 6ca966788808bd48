//! Rendering a package's build script: the configured shebang, then every
//! phase of `available_phases` in order, each between `### phase NAME` and
//! `### / NAME phase`, rendered with Handlebars (no HTML escaping; strict
//! mode per configuration) with `this` = the package.
//!
//! The helpers `phase`, `state` and `progress` write the marker lines of
//! the log protocol (spec/container-contract.md); `join` and `joinwith`
//! concatenate strings. Rendering is a pure function of the package and the
//! settings: nothing per-run goes into the text, since its hash decides
//! whether an earlier artifact can be reused.

use std::fmt;

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use serde_json::Value;

use super::Package;

/// The prefix of every marker line a script prints.
pub const MARKER_PREFIX: &str = "#KILN:";

/// What a script is made of besides the package (from the configuration).
#[derive(Debug, Clone)]
pub struct ScriptSettings {
    /// The first line, e.g. `#!/bin/bash`.
    pub shebang: String,
    /// The phases, in order.
    pub available_phases: Vec<String>,
    /// Whether referencing a missing value is an error.
    pub strict: bool,
}

impl ScriptSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            shebang: config.shebang.clone(),
            available_phases: config.available_phases.clone(),
            strict: config.strict_script_interpolation,
        }
    }
}

/// A rendered script, ready to be copied to `/script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script(String);

impl Script {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A phase that could not be rendered: names the package, the phase, where
/// the phase was written, and the line in the phase's text.
#[derive(Debug, thiserror::Error)]
pub struct ScriptError {
    pub package: String,
    pub phase: String,
    /// Where the phase was written (e.g. "set in a/pkg.toml").
    pub origin: String,
    /// Line and column in the phase's text, 1-based, when known.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "script of package {}, phase `{}` ({}): ",
            self.package, self.phase, self.origin
        )?;
        if let Some((line, column)) = self.position {
            write!(f, "line {line}, column {column}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Renders scripts; build once, use for every package (it is `Send + Sync`).
pub struct ScriptRenderer {
    settings: ScriptSettings,
    registry: Handlebars<'static>,
}

impl ScriptRenderer {
    pub fn new(settings: ScriptSettings) -> Self {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(settings.strict);
        registry.register_escape_fn(handlebars::no_escape);
        registry.register_helper("phase", Box::new(phase_helper));
        registry.register_helper("state", Box::new(state_helper));
        registry.register_helper("progress", Box::new(progress_helper));
        registry.register_helper("join", Box::new(join_helper));
        registry.register_helper("joinwith", Box::new(joinwith_helper));
        Self { settings, registry }
    }

    pub fn settings(&self) -> &ScriptSettings {
        &self.settings
    }

    /// The script of `package`.
    pub fn render(&self, package: &Package) -> Result<Script, ScriptError> {
        let error = |phase: &str, origin: String, position, message: String| ScriptError {
            package: package.id_string(),
            phase: phase.to_owned(),
            origin,
            position,
            message,
        };
        let value = serde_json::to_value(package).map_err(|e| {
            error(
                "",
                "package".into(),
                None,
                format!("cannot serialize the package: {e}"),
            )
        })?;
        let context = Context::from(value);
        let mut text = String::with_capacity(1024);
        text.push_str(self.settings.shebang.trim_end_matches('\n'));
        text.push('\n');
        for name in &self.settings.available_phases {
            text.push_str("### phase ");
            text.push_str(name);
            text.push('\n');
            match package.phases.get(name) {
                Some(phase) => {
                    let rendered = self
                        .registry
                        .render_template_with_context(&phase.script, &context)
                        .map_err(|e| {
                            let (position, message) = describe(&e);
                            error(name, phase.origin.to_string(), position, message)
                        })?;
                    text.push_str(&rendered);
                    if !rendered.is_empty() && !rendered.ends_with('\n') {
                        text.push('\n');
                    }
                }
                None => {
                    text.push_str("# this package has no `");
                    text.push_str(name);
                    text.push_str("` phase\n");
                }
            }
            text.push_str("### / ");
            text.push_str(name);
            text.push_str(" phase\n");
        }
        Ok(Script(text))
    }

    /// The package's phases that `available_phases` does not list (a lint
    /// error, and a warning at build time).
    pub fn unknown_phases<'p>(&self, package: &'p Package) -> Vec<&'p str> {
        package
            .phases
            .keys()
            .filter(|name| !self.settings.available_phases.contains(name))
            .map(String::as_str)
            .collect()
    }
}

/// The position and a one-line message of a Handlebars error.
fn describe(err: &RenderError) -> (Option<(usize, usize)>, String) {
    match err.reason() {
        RenderErrorReason::TemplateError(te) => (te.pos(), te.reason().to_string()),
        RenderErrorReason::MissingVariable(Some(path)) => (
            position(err),
            format!("`{path}` is not a value of this package (strict mode)"),
        ),
        reason => (position(err), reason.to_string()),
    }
}

fn position(err: &RenderError) -> Option<(usize, usize)> {
    err.line_no.zip(err.column_no)
}

/// Writes a line that prints `text` verbatim under any POSIX shell: `echo`
/// with single quotes, or `printf` when the text holds a backslash (which
/// some shells' `echo` would interpret).
fn marker_line(text: &str) -> String {
    let quoted = text.replace('\'', r"'\''");
    if text.contains('\\') {
        format!("printf '%s\\n' '{quoted}'")
    } else {
        format!("echo '{quoted}'")
    }
}

/// A double-quoted string with backslash escapes, on one line.
fn quote_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 2);
    out.push('"');
    for c in message.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn helper_error(helper: &str, message: impl fmt::Display) -> RenderError {
    RenderErrorReason::Other(format!("helper `{helper}`: {message}")).into()
}

/// The text of parameter `idx`, which must be given.
fn param_text(h: &Helper<'_>, r: &Handlebars<'_>, idx: usize) -> Result<String, RenderError> {
    let name = h.name();
    let Some(param) = h.param(idx) else {
        return Err(helper_error(
            name,
            format!("parameter {} is missing", idx + 1),
        ));
    };
    let mut out = String::new();
    push_text(name, param, r, &mut out, "")?;
    Ok(out)
}

/// Appends the text of a parameter: strings as they are, numbers and
/// booleans as written, arrays element by element (joined by `sep`); a
/// missing value is an error in strict mode and empty otherwise.
fn push_text(
    helper: &str,
    param: &handlebars::PathAndJson<'_>,
    r: &Handlebars<'_>,
    out: &mut String,
    sep: &str,
) -> Result<(), RenderError> {
    if param.is_value_missing() {
        if r.strict_mode() {
            let path = param.relative_path().map(String::as_str).unwrap_or("?");
            return Err(helper_error(
                helper,
                format!("`{path}` is not a value of this package (strict mode)"),
            ));
        }
        return Ok(());
    }
    push_value(helper, param.value(), out, sep)
}

fn push_value(helper: &str, value: &Value, out: &mut String, sep: &str) -> Result<(), RenderError> {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                if item.is_array() || item.is_object() {
                    return Err(helper_error(
                        helper,
                        "arrays may hold only strings, numbers and booleans",
                    ));
                }
                push_value(helper, item, out, sep)?;
            }
        }
        Value::Object(_) => return Err(helper_error(helper, "cannot join a table")),
    }
    Ok(())
}

fn phase_helper(
    h: &Helper<'_>,
    r: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let name = param_text(h, r, 0)?;
    if name.is_empty() || name.contains(['\n', '\r']) {
        return Err(helper_error(
            "phase",
            "the phase name must be one non-empty line",
        ));
    }
    out.write(&marker_line(&format!("{MARKER_PREFIX}PHASE:{name}")))?;
    Ok(())
}

fn state_helper(
    h: &Helper<'_>,
    r: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let state = param_text(h, r, 0)?;
    let line = match state.as_str() {
        "OK" => format!("{MARKER_PREFIX}STATE:OK"),
        "ERR" => {
            let message = param_text(h, r, 1)?;
            format!("{MARKER_PREFIX}STATE:ERR:{}", quote_message(&message))
        }
        other => {
            return Err(helper_error(
                "state",
                format!("`{other}` is neither \"OK\" nor \"ERR\""),
            ))
        }
    };
    out.write(&marker_line(&line))?;
    Ok(())
}

fn progress_helper(
    h: &Helper<'_>,
    r: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let text = param_text(h, r, 0)?;
    let percent = text.trim().parse::<u8>().ok().filter(|p| *p <= 100);
    let Some(percent) = percent else {
        return Err(helper_error(
            "progress",
            format!("`{text}` is not a number from 0 to 100"),
        ));
    };
    out.write(&marker_line(&format!("{MARKER_PREFIX}PROGRESS:{percent}")))?;
    Ok(())
}

fn join_helper(
    h: &Helper<'_>,
    r: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let mut text = String::new();
    for param in h.params() {
        push_text("join", param, r, &mut text, "")?;
    }
    out.write(&text)?;
    Ok(())
}

fn joinwith_helper(
    h: &Helper<'_>,
    r: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let sep = param_text(h, r, 0)?;
    let mut text = String::new();
    for (i, param) in h.params().iter().skip(1).enumerate() {
        if i > 0 {
            text.push_str(&sep);
        }
        push_text("joinwith", param, r, &mut text, &sep)?;
    }
    out.write(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::package::testing::package;
    use crate::package::{HashKind, Phase, PhaseOrigin, Source, SourceHash};

    fn settings(strict: bool) -> ScriptSettings {
        ScriptSettings {
            shebang: "#!/bin/sh".into(),
            available_phases: vec!["unpack".into(), "build".into()],
            strict,
        }
    }

    fn pkg_with(phases: &[(&str, &str)]) -> Package {
        let mut p = package("foo", "1.2", &["bar =1"], &["baz =2"]);
        p.meta.insert("license".into(), "MIT".into());
        p.environment.insert("CFLAGS".into(), "-O2".into());
        p.patches = vec!["patches/a.patch".into(), "foo/b.patch".into()];
        p.sources.insert(
            "src".into(),
            Source {
                url: "https://example.org/foo-1.2.tar.gz".into(),
                hash: SourceHash {
                    kind: HashKind::Sha1,
                    hash: "0".repeat(40),
                },
                download_manually: false,
            },
        );
        for (name, script) in phases {
            let origin = PhaseOrigin::Inline {
                layer: Arc::from(Path::new("foo/pkg.toml")),
            };
            p.phases.insert(
                name.to_string(),
                Phase {
                    script: script.to_string(),
                    origin,
                },
            );
        }
        p
    }

    /// Renders the `build` phase alone and returns its body (between the markers).
    fn check(strict: bool, template: &str, expected: Result<&str, &str>) {
        let renderer = ScriptRenderer::new(settings(strict));
        let got = renderer.render(&pkg_with(&[("build", template)]));
        match (got, expected) {
            (Ok(script), Ok(body)) => {
                let text = script.as_str();
                let start = text.find("### phase build\n").expect("build marker")
                    + "### phase build\n".len();
                let end = text.find("### / build phase").expect("build end marker");
                assert_eq!(&text[start..end], body, "template {template:?}");
            }
            (Err(err), Err(fragment)) => {
                let msg = err.to_string();
                assert!(
                    msg.contains(fragment),
                    "template {template:?}: `{msg}` lacks `{fragment}`"
                );
            }
            (got, expected) => panic!("template {template:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn rendering() {
        for (strict, template, expected) in [
            (true, "make", Ok("make\n")),
            (true, "make\n", Ok("make\n")),
            (true, "", Ok("")),
            (
                true,
                "echo {{this.name}}-{{this.version}}",
                Ok("echo foo-1.2\n"),
            ),
            (
                true,
                "{{this.sources.src.url}}",
                Ok("https://example.org/foo-1.2.tar.gz\n"),
            ),
            (true, "{{this.sources.src.hash.type}}", Ok("sha1\n")),
            (
                true,
                "{{this.meta.license}} {{this.environment.CFLAGS}}",
                Ok("MIT -O2\n"),
            ),
            (
                true,
                "{{#each this.patches}}patch -p1 < /patches/{{this}}\n{{/each}}",
                Ok("patch -p1 < /patches/patches/a.patch\npatch -p1 < /patches/foo/b.patch\n"),
            ),
            (
                true,
                "{{#each this.dependencies.runtime}}{{this}}{{/each}}",
                Ok("baz =2\n"),
            ),
            (
                true,
                "a < b && c > \"d\" & 'e'",
                Ok("a < b && c > \"d\" & 'e'\n"),
            ),
            (true, "{{this.meta.license}}<&>", Ok("MIT<&>\n")),
            (
                true,
                "{{phase \"configure\"}}",
                Ok("echo '#KILN:PHASE:configure'\n"),
            ),
            (
                true,
                "{{phase \"it's\"}}",
                Ok("echo '#KILN:PHASE:it'\\''s'\n"),
            ),
            (true, "{{state \"OK\"}}", Ok("echo '#KILN:STATE:OK'\n")),
            (
                true,
                "{{state \"ERR\" \"no space left\"}}",
                Ok("echo '#KILN:STATE:ERR:\"no space left\"'\n"),
            ),
            (
                true,
                "{{state \"ERR\" \"say \\\"hi\\\"\"}}",
                Ok("printf '%s\\n' '#KILN:STATE:ERR:\"say \\\"hi\\\"\"'\n"),
            ),
            (true, "{{progress 42}}", Ok("echo '#KILN:PROGRESS:42'\n")),
            (true, "{{progress 0}}", Ok("echo '#KILN:PROGRESS:0'\n")),
            (
                true,
                "{{join \"a\" this.name \"-\" this.version}}",
                Ok("afoo-1.2\n"),
            ),
            (
                true,
                "{{joinwith \" \" this.name this.version}}",
                Ok("foo 1.2\n"),
            ),
            (
                true,
                "{{joinwith \",\" this.patches}}",
                Ok("patches/a.patch,foo/b.patch\n"),
            ),
            (
                true,
                "{{joinwith \",\" \"x\" this.patches}}",
                Ok("x,patches/a.patch,foo/b.patch\n"),
            ),
            (
                true,
                "{{#if this.meta.nothing}}x{{else}}y{{/if}}",
                Ok("y\n"),
            ),
            (
                true,
                "{{#if this.meta.license}}x{{else}}y{{/if}}",
                Ok("x\n"),
            ),
            (false, "[{{this.meta.nothing}}]", Ok("[]\n")),
            (false, "[{{join this.meta.nothing \"x\"}}]", Ok("[x]\n")),
            (
                true,
                "ok\n{{this.meta.nothing}}",
                Err("phase `build` (set in foo/pkg.toml): line 2, column 1"),
            ),
            (
                true,
                "{{this.meta.nothing}}",
                Err("`this.meta.nothing` is not a value of this package"),
            ),
            (
                true,
                "{{join this.meta.nothing \"x\"}}",
                Err("`this.meta.nothing` is not a value"),
            ),
            (true, "a\nb\n{{#if x}}", Err("line 3")),
            (
                true,
                "{{#if x}}",
                Err("script of package foo 1.2, phase `build`"),
            ),
            (true, "{{state \"MAYBE\"}}", Err("`MAYBE` is neither")),
            (true, "{{state \"ERR\"}}", Err("parameter 2 is missing")),
            (true, "{{progress 101}}", Err("not a number from 0 to 100")),
            (
                true,
                "{{progress \"x\"}}",
                Err("not a number from 0 to 100"),
            ),
            (true, "{{phase}}", Err("parameter 1 is missing")),
            (true, "{{nosuchhelper 1}}", Err("nosuchhelper")),
            (true, "{{join this.sources}}", Err("cannot join a table")),
        ] {
            check(strict, template, expected);
        }
    }

    #[test]
    fn whole_script() {
        let renderer = ScriptRenderer::new(settings(true));
        let script = renderer
            .render(&pkg_with(&[("build", "make"), ("install", "make install")]))
            .expect("renders");
        assert_eq!(
            script.as_str(),
            "#!/bin/sh\n\
             ### phase unpack\n\
             # this package has no `unpack` phase\n\
             ### / unpack phase\n\
             ### phase build\n\
             make\n\
             ### / build phase\n"
        );
        let again = renderer
            .render(&pkg_with(&[("install", "make install"), ("build", "make")]))
            .expect("renders");
        assert_eq!(script, again, "the same package renders the same text");
        let p = pkg_with(&[("build", "make"), ("install", "make install")]);
        assert_eq!(renderer.unknown_phases(&p), vec!["install"]);
    }

    #[test]
    fn renderer_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ScriptRenderer>();
    }
}
