//! Showing packages: the listings of `what-depends`, `dependencies-of`,
//! `versions-of` and `env-of`, and the packages `find-pkg` prints (a
//! built-in readable form, the configured `package_print_format` template,
//! or JSON), with the build script optionally syntax highlighted.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use serde_json::{json, Map, Value as Json};

use super::listing::{self, Listing};
use crate::cli::OutputFormat;
use crate::package::{Dependency, DependencyKind, Package, PackageId, PackageSet, PhaseOrigin};

/// One dependency of one package.
#[derive(Debug, Clone, Copy)]
pub struct Edge<'a> {
    pub from: PackageId,
    pub kind: DependencyKind,
    pub dependency: &'a Dependency,
}

/// Prints a listing; an empty one prints `empty` on standard error instead
/// of an empty table (CSV and JSON still print their header or `[]`).
pub fn print_listing(format: OutputFormat, listing: &Listing, empty: &str) -> Result<()> {
    if listing.rows.is_empty() {
        eprintln!("{empty}");
        if format == OutputFormat::Table {
            return Ok(());
        }
    }
    listing::print(format, listing)
}

/// The condition of a dependency as a cell: its table in `pkg.toml` terms,
/// or `null` when it has none.
fn condition_cell(dependency: &Dependency) -> Json {
    dependency
        .condition
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or(Json::Null)
}

/// Dependencies as rows: the depending package, the kind, the package
/// depended on and its condition.
pub fn dependency_listing(packages: &PackageSet, edges: &[Edge<'_>]) -> Listing {
    let rows = edges
        .iter()
        .map(|e| {
            let p = packages.get(e.from);
            vec![
                json!(p.name.as_str()),
                json!(p.version.as_str()),
                json!(e.kind.as_str()),
                json!(e.dependency.name.as_str()),
                json!(e.dependency.version.as_str()),
                condition_cell(e.dependency),
            ]
        })
        .collect();
    Listing {
        columns: vec![
            "package",
            "version",
            "kind",
            "dependency",
            "dependency_version",
            "condition",
        ],
        rows,
    }
}

/// Versions of a package, with the file that defines each.
pub fn version_listing(packages: &PackageSet, ids: &[PackageId]) -> Listing {
    let rows = ids
        .iter()
        .map(|&id| {
            let p = packages.get(id);
            vec![
                json!(p.version.as_str()),
                json!(p.file.display().to_string()),
            ]
        })
        .collect();
    Listing {
        columns: vec!["version", "file"],
        rows,
    }
}

/// The environment of a package, one variable per row.
pub fn environment_listing(package: &Package) -> Listing {
    let rows = package
        .environment
        .iter()
        .map(|(name, value)| vec![json!(name), json!(value)])
        .collect();
    Listing {
        columns: vec!["name", "value"],
        rows,
    }
}

/// Which sections `find-pkg` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sections {
    pub sources: bool,
    pub dependencies: bool,
    pub patches: bool,
    pub env: bool,
    pub allowed_images: bool,
    pub denied_images: bool,
    pub phases: bool,
    pub script: bool,
}

impl Sections {
    pub const ALL: Sections = Sections {
        sources: true,
        dependencies: true,
        patches: true,
        env: true,
        allowed_images: true,
        denied_images: true,
        phases: true,
        script: true,
    };

    pub fn any(&self) -> bool {
        *self != Sections::default()
    }
}

/// A package to print, with its script when it is shown (highlighted
/// already, if it is to be).
pub struct Shown<'a> {
    pub package: &'a Package,
    pub script: Option<String>,
}

/// The package as templates and JSON see it: its `pkg.toml` fields, plus
/// `file` (the leaf `pkg.toml`) and `phases` (name → `script` text, `layer`
/// that set it and, for a phase read from a file, its `path`).
pub fn package_value(package: &Package) -> Result<Json> {
    let mut value = serde_json::to_value(package)
        .with_context(|| format!("serializing package {}", package.id_string()))?;
    if let Json::Object(map) = &mut value {
        map.insert("file".into(), json!(package.file.display().to_string()));
        let phases: Map<String, Json> = package
            .phases
            .iter()
            .map(|(name, phase)| {
                let mut p = Map::new();
                p.insert("script".into(), json!(phase.script));
                match &phase.origin {
                    PhaseOrigin::Inline { layer } => {
                        p.insert("layer".into(), json!(layer.display().to_string()));
                    }
                    PhaseOrigin::File { layer, file } => {
                        p.insert("layer".into(), json!(layer.display().to_string()));
                        p.insert("path".into(), json!(file));
                    }
                }
                (name.clone(), Json::Object(p))
            })
            .collect();
        map.insert("phases".into(), Json::Object(phases));
    }
    Ok(value)
}

/// A note for the user on standard error (e.g. that nothing matched).
pub fn print_note(text: &str) {
    eprintln!("{text}");
}

/// `name version`, one package per line.
pub fn print_terse(packages: &PackageSet, ids: &[PackageId]) -> Result<()> {
    let mut text = String::new();
    for &id in ids {
        let p = packages.get(id);
        let _ = writeln!(text, "{} {}", p.name, p.version);
    }
    write_stdout(&text)
}

/// The packages as one JSON array (see [`package_value`]); `script` is
/// added to each package whose script is shown.
pub fn print_json(shown: &[Shown<'_>]) -> Result<()> {
    let mut values = Vec::with_capacity(shown.len());
    for s in shown {
        let mut value = package_value(s.package)?;
        if let (Json::Object(map), Some(script)) = (&mut value, &s.script) {
            map.insert("script".into(), json!(script));
        }
        values.push(value);
    }
    write_stdout(&format!("{}\n", serde_json::to_string_pretty(&values)?))
}

/// Prints packages with the `package_print_format` template when given,
/// else in kiln's own readable form (`phases` orders the phase section).
pub fn print_packages(
    shown: &[Shown<'_>],
    sections: Sections,
    template: Option<&str>,
    phases: &[String],
) -> Result<()> {
    let text = match template {
        Some(template) => render_template(template, shown, sections)?,
        None => {
            let mut text = String::new();
            for (i, s) in shown.iter().enumerate() {
                if i > 0 && sections.any() {
                    text.push('\n');
                }
                write_package(&mut text, s, sections, phases);
            }
            text
        }
    };
    write_stdout(&text)
}

/// Renders every package with a butido-style `package_print_format`.
pub fn render_template(template: &str, shown: &[Shown<'_>], sections: Sections) -> Result<String> {
    let mut registry = handlebars::Handlebars::new();
    registry.register_escape_fn(handlebars::no_escape);
    registry
        .register_template_string("package", template)
        .map_err(|e| crate::input_error!("package_print_format is not a valid template: {e}"))?;
    let mut text = String::new();
    for (i, s) in shown.iter().enumerate() {
        let data = json!({
            "i": i,
            "p": package_value(s.package)?,
            "script": s.script.as_deref().unwrap_or(""),
            "print_any": sections.any(),
            "print_runtime_deps": true,
            "print_build_deps": true,
            "print_sources": sections.sources,
            "print_dependencies": sections.dependencies,
            "print_patches": sections.patches,
            "print_env": sections.env,
            "print_flags": false,
            "print_allowed_images": sections.allowed_images,
            "print_denied_images": sections.denied_images,
            "print_phases": sections.phases,
            "print_script": sections.script,
        });
        let rendered = registry.render("package", &data).map_err(|e| {
            crate::input_error!(
                "package_print_format, printing {}: {e}",
                s.package.id_string()
            )
        })?;
        text.push_str(&rendered);
        if !rendered.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(text)
}

/// Appends kiln's readable form of one package.
fn write_package(out: &mut String, shown: &Shown<'_>, sections: Sections, phases: &[String]) {
    let p = shown.package;
    let _ = writeln!(out, "{} {} ({})", p.name, p.version, p.file.display());
    if sections.sources {
        section(out, "sources", p.sources.is_empty());
        for (key, source) in &p.sources {
            let _ = writeln!(out, "    {key}: {}", source.url);
            let _ = writeln!(
                out,
                "      {} {}",
                source.hash.kind.as_str(),
                source.hash.hash
            );
            if source.download_manually {
                let _ = writeln!(out, "      (download manually)");
            }
        }
    }
    if sections.dependencies {
        section(out, "dependencies", p.all_dependencies().next().is_none());
        for (kind, dependency) in p.all_dependencies() {
            let _ = write!(out, "    {kind}: {dependency}");
            let condition = condition_cell(dependency);
            if !condition.is_null() {
                let _ = write!(out, " if {}", listing::cell_text(&condition));
            }
            out.push('\n');
        }
    }
    if sections.patches {
        section(out, "patches", p.patches.is_empty());
        for patch in &p.patches {
            let _ = writeln!(out, "    {patch}");
        }
    }
    if sections.env {
        section(out, "environment", p.environment.is_empty());
        for (name, value) in &p.environment {
            let _ = writeln!(out, "    {name}={value}");
        }
    }
    if sections.allowed_images {
        let allowed = match &p.allowed_images {
            None => "any".to_owned(),
            Some(images) if images.is_empty() => "none".to_owned(),
            Some(images) => images.join(", "),
        };
        let _ = writeln!(out, "  allowed images: {allowed}");
    }
    if sections.denied_images {
        let denied = if p.denied_images.is_empty() {
            "none".to_owned()
        } else {
            p.denied_images.join(", ")
        };
        let _ = writeln!(out, "  denied images: {denied}");
    }
    if sections.phases {
        section(out, "phases", p.phases.is_empty());
        let known = phases.iter().filter_map(|n| p.phases.get_key_value(n));
        let unknown = p.phases.iter().filter(|(n, _)| !phases.contains(n));
        for (name, phase) in known {
            let _ = writeln!(out, "    {name} ({})", phase.origin);
        }
        for (name, phase) in unknown {
            let _ = writeln!(
                out,
                "    {name} ({}; not in available_phases)",
                phase.origin
            );
        }
    }
    if sections.script {
        if let Some(script) = &shown.script {
            out.push_str("  script:\n");
            out.push_str(script);
            if !script.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

/// A section's heading: `  name:` with its items below, or `  name: none`.
fn section(out: &mut String, name: &str, empty: bool) {
    if empty {
        let _ = writeln!(out, "  {name}: none");
    } else {
        let _ = writeln!(out, "  {name}:");
    }
}

/// The script with each line numbered (`  1 | ...`), numbers right-aligned
/// to the width of the last.
pub fn number_lines(script: &str) -> String {
    let count = script.lines().count();
    let width = count.to_string().len();
    let mut out = String::with_capacity(script.len() + count * (width + 3));
    for (i, line) in script.lines().enumerate() {
        let _ = writeln!(out, "{:>width$} | {line}", i + 1);
    }
    out
}

/// Whether scripts should be highlighted: standard output is a terminal
/// and colours are not turned off (`NO_COLOR`, `CLICOLOR=0`).
pub fn can_highlight() -> bool {
    console::Term::stdout().is_term() && console::colors_enabled()
}

/// The script with terminal colour escapes, in one of syntect's built-in
/// themes. An unknown theme is an input error that lists the known ones.
pub fn highlight_script(script: &str, theme: &str) -> Result<String> {
    use syntect::easy::HighlightLines;
    use syntect::highlighting::ThemeSet;
    use syntect::parsing::SyntaxSet;
    use syntect::util::{as_24_bit_terminal_escaped, LinesWithEndings};

    let themes = ThemeSet::load_defaults();
    let Some(theme) = themes.themes.get(theme) else {
        let known: Vec<&str> = themes.themes.keys().map(String::as_str).collect();
        return Err(crate::input_error!(
            "script_highlight_theme `{theme}` is not a known theme (known: {})",
            known.join(", ")
        ));
    };
    let syntaxes = SyntaxSet::load_defaults_newlines();
    let syntax = syntaxes
        .find_syntax_by_extension("sh")
        .unwrap_or_else(|| syntaxes.find_syntax_plain_text());
    let mut highlighter = HighlightLines::new(syntax, theme);
    let mut out = String::with_capacity(script.len() * 2);
    for line in LinesWithEndings::from(script) {
        let ranges = highlighter
            .highlight_line(line, &syntaxes)
            .context("highlighting the script")?;
        out.push_str(&as_24_bit_terminal_escaped(&ranges, false));
    }
    out.push_str("\x1b[0m");
    Ok(out)
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    super::write_stdout(|out| out.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::package::testing::package;
    use crate::package::{Condition, HashKind, Phase, Source, SourceHash};

    fn sample() -> Package {
        let mut p = package("curl", "8.4.0", &["pkgconf =2.1.0"], &["libcurl =8.4.0"]);
        let mut conditional = Dependency::parse("libidn2 =2.3.4").expect("valid");
        conditional.condition = Some(Condition {
            has_env: Some(vec!["CURL_IDN".into()]),
            ..Default::default()
        });
        p.dependencies.runtime.push(conditional);
        p.sources.insert(
            "src".into(),
            Source {
                url: "https://example.org/curl.tar.gz".into(),
                hash: SourceHash {
                    kind: HashKind::Sha1,
                    hash: "a".repeat(40),
                },
                download_manually: true,
            },
        );
        p.environment.insert("CFLAGS".into(), "-O2".into());
        p.denied_images = vec!["alpine:3".into()];
        let layer: Arc<Path> = Arc::from(Path::new("pkg.toml"));
        p.phases.insert(
            "build".into(),
            Phase {
                script: "make".into(),
                origin: PhaseOrigin::Inline {
                    layer: layer.clone(),
                },
            },
        );
        p.phases.insert(
            "tset".into(),
            Phase {
                script: "make check".into(),
                origin: PhaseOrigin::File {
                    layer,
                    file: "check.sh".into(),
                },
            },
        );
        p
    }

    fn check(sections: Sections, expected: &str) {
        let p = sample();
        let shown = Shown {
            package: &p,
            script: Some("#!/bin/sh\nmake\n".into()),
        };
        let mut out = String::new();
        write_package(
            &mut out,
            &shown,
            sections,
            &["unpack".into(), "build".into()],
        );
        assert_eq!(out, expected, "{sections:?}");
    }

    #[test]
    fn numbered_lines() {
        let check = |script: &str, want: &str| assert_eq!(number_lines(script), want);
        check("", "");
        check("a\n", "1 | a\n");
        check(
            &"x\n".repeat(10),
            &(1..=10)
                .map(|i| format!("{i:>2} | x\n"))
                .collect::<String>(),
        );
    }

    #[test]
    fn readable_form() {
        check(Sections::default(), "curl 8.4.0 (curl-8.4.0/pkg.toml)\n");
        check(
            Sections {
                sources: true,
                dependencies: true,
                ..Default::default()
            },
            "curl 8.4.0 (curl-8.4.0/pkg.toml)\n  \
             sources:\n    \
             src: https://example.org/curl.tar.gz\n      \
             sha1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n      \
             (download manually)\n  \
             dependencies:\n    \
             build: pkgconf =2.1.0\n    \
             runtime: libcurl =8.4.0\n    \
             runtime: libidn2 =2.3.4 if { has_env = [\"CURL_IDN\"] }\n",
        );
        check(
            Sections {
                patches: true,
                env: true,
                allowed_images: true,
                denied_images: true,
                phases: true,
                script: true,
                ..Default::default()
            },
            "curl 8.4.0 (curl-8.4.0/pkg.toml)\n  \
             patches: none\n  \
             environment:\n    \
             CFLAGS=-O2\n  \
             allowed images: any\n  \
             denied images: alpine:3\n  \
             phases:\n    \
             build (set in pkg.toml)\n    \
             tset (file check.sh, set in pkg.toml; not in available_phases)\n  \
             script:\n\
             #!/bin/sh\nmake\n",
        );
    }

    #[test]
    fn butido_templates() {
        let p = sample();
        let shown = [Shown {
            package: &p,
            script: None,
        }];
        let template = "{{i}} - {{p.name}} : {{p.version}}\n\
            {{#if print_sources}}{{#each p.sources}}{{@key}} = {{this.url}} ({{this.hash.type}}){{/each}}\n{{/if}}\
            {{#if print_phases}}{{#each p.phases}}[{{@key}}]{{/each}}\n{{/if}}\
            {{#if print_dependencies}}{{#each p.dependencies.runtime}}<{{this}}>{{/each}}{{/if}}";
        let sections = Sections {
            sources: true,
            phases: true,
            ..Default::default()
        };
        let text = render_template(template, &shown, sections).expect("renders");
        assert_eq!(
            text,
            "0 - curl : 8.4.0\nsrc = https://example.org/curl.tar.gz (sha1)\n[build][tset]\n"
        );
        let err = render_template("{{#if}}", &shown, sections).expect_err("invalid");
        assert!(crate::error::is_input_error(&err), "{err}");
    }

    #[test]
    fn package_values_carry_phases_and_file() {
        let value = package_value(&sample()).expect("serializable");
        assert_eq!(value["file"], json!("curl-8.4.0/pkg.toml"));
        assert_eq!(value["phases"]["tset"]["path"], json!("check.sh"));
        assert_eq!(value["phases"]["build"]["script"], json!("make"));
        assert_eq!(value["dependencies"]["build"], json!(["pkgconf =2.1.0"]));
    }

    #[test]
    fn highlighting() {
        let plain = "#!/bin/sh\necho \"hi\"\n";
        let colored = highlight_script(plain, "base16-ocean.dark").expect("a known theme");
        assert!(colored.contains("\x1b[38;2;"), "{colored:?}");
        let stripped = console::strip_ansi_codes(&colored);
        assert_eq!(stripped, plain);
        let err = highlight_script(plain, "no-such-theme").expect_err("unknown theme");
        assert!(crate::error::is_input_error(&err));
        assert!(err.to_string().contains("base16-ocean.dark"), "{err}");
    }
}
