//! One `pkg.toml` layer, parsed and checked on its own: every key known,
//! every value of the right type, dependency strings parsed, patch paths
//! resolved relative to this layer's directory, `phases.NAME.path` files
//! read. Each layer file is parsed once, however many leaves it is part of.
//!
//! Checking each layer against the schema (every field optional) is enough
//! to make every merge of layers well-typed, and it lets every error name
//! the file, key path, line and column that caused it.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use toml::de::{DeArray, DeString, DeTable, DeValue};
use toml::Spanned;

use super::error::RepoError;
use crate::package::{
    Condition, Dependency, HashKind, PackageName, PackageVersion, Phase, PhaseOrigin,
};

/// The values one layer sets. `None` (or an empty map) means "not set here".
#[derive(Debug, Default)]
pub struct Layer {
    pub name: Option<PackageName>,
    pub version: Option<PackageVersion>,
    pub sources: Vec<(String, PartialSource)>,
    pub build: Option<Vec<Dependency>>,
    pub runtime: Option<Vec<Dependency>>,
    /// Repository-relative, normalised, existing.
    pub patches: Option<Vec<String>>,
    pub environment: Vec<(String, String)>,
    pub allowed_images: Option<Vec<String>>,
    pub denied_images: Option<Vec<String>>,
    pub phases: Vec<(String, Phase)>,
    pub meta: Vec<(String, String)>,
}

/// The keys of one `sources.<key>` table that one layer sets.
#[derive(Debug, Default, Clone)]
pub struct PartialSource {
    pub url: Option<String>,
    pub hash_type: Option<HashKind>,
    pub hash: Option<String>,
    pub download_manually: Option<bool>,
}

/// Where the layer is and what it can refer to.
pub struct LayerSite<'a> {
    /// The repository root, as given.
    pub root: &'a Path,
    /// The repository root, canonical (to refuse symbolic links leading out).
    pub canonical_root: &'a Path,
    /// The layer's directory, relative to the root.
    pub dir: &'a Path,
    /// The layer file, relative to the root.
    pub file: &'a Arc<Path>,
}

/// Parses the text of one layer file.
pub fn parse(site: &LayerSite<'_>, text: &str) -> Result<Layer, Vec<RepoError>> {
    let mut cx = Cx {
        site,
        text,
        errors: Vec::new(),
    };
    let table = match DeTable::parse(text) {
        Ok(table) => table,
        Err(e) => {
            let (line, column) = line_col(text, e.span().map(|s| s.start).unwrap_or(0));
            return Err(vec![RepoError::Syntax {
                file: site.root.join(site.file),
                line,
                column,
                message: e.message().trim_end().to_owned(),
            }]);
        }
    };
    let layer = cx.layer(table.get_ref());
    if cx.errors.is_empty() {
        Ok(layer)
    } else {
        Err(cx.errors)
    }
}

/// A key path such as `dependencies.build[2].condition`, built without
/// allocating; only turned into text for an error.
#[derive(Clone, Copy)]
enum KeyPath<'a> {
    Root,
    Key(&'a KeyPath<'a>, &'a str),
    Index(&'a KeyPath<'a>, usize),
}

impl<'a> KeyPath<'a> {
    fn key(&'a self, key: &'a str) -> KeyPath<'a> {
        KeyPath::Key(self, key)
    }

    fn index(&'a self, i: usize) -> KeyPath<'a> {
        KeyPath::Index(self, i)
    }
}

impl fmt::Display for KeyPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPath::Root => Ok(()),
            KeyPath::Key(parent, key) => {
                if !matches!(parent, KeyPath::Root) {
                    write!(f, "{parent}.")?;
                }
                let bare = !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if bare {
                    f.write_str(key)
                } else {
                    write!(f, "{key:?}")
                }
            }
            KeyPath::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

struct Cx<'s, 't> {
    site: &'s LayerSite<'s>,
    text: &'t str,
    errors: Vec<RepoError>,
}

impl Cx<'_, '_> {
    fn invalid(&mut self, span: Range<usize>, path: KeyPath<'_>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(RepoError::Invalid {
            file: self.site.root.join(self.site.file),
            line,
            column,
            key: path.to_string(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, key: &Spanned<DeString<'_>>, path: KeyPath<'_>) {
        self.invalid(key.span(), path, "unknown key");
    }

    fn wrong_type(&mut self, value: &Value<'_>, path: KeyPath<'_>, expected: &str) {
        let message = format!("expected {expected}, found {}", value.get_ref().type_str());
        self.invalid(value.span(), path, message);
    }

    fn string<'v>(&mut self, value: &'v Value<'_>, path: KeyPath<'_>) -> Option<&'v str> {
        let s = value.get_ref().as_str();
        if s.is_none() {
            self.wrong_type(value, path, "a string");
        }
        s
    }

    fn bool(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Option<bool> {
        let b = value.get_ref().as_bool();
        if b.is_none() {
            self.wrong_type(value, path, "a boolean");
        }
        b
    }

    fn table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: KeyPath<'_>,
    ) -> Option<&'v DeTable<'i>> {
        let t = value.get_ref().as_table();
        if t.is_none() {
            self.wrong_type(value, path, "a table");
        }
        t
    }

    fn array<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: KeyPath<'_>,
    ) -> Option<&'v DeArray<'i>> {
        let a = value.get_ref().as_array();
        if a.is_none() {
            self.wrong_type(value, path, "an array");
        }
        a
    }

    fn strings(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Option<Vec<String>> {
        let array = self.array(value, path)?;
        let mut out = Vec::with_capacity(array.len());
        for (i, item) in array.iter().enumerate() {
            if let Some(s) = self.string(item, path.index(i)) {
                out.push(s.to_owned());
            }
        }
        (out.len() == array.len()).then_some(out)
    }

    /// A string or an array of strings (`has_env`, `in_image`).
    fn one_or_more(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Option<Vec<String>> {
        match value.get_ref() {
            DeValue::String(s) => Some(vec![s.to_string()]),
            DeValue::Array(_) => self.strings(value, path),
            _ => {
                self.wrong_type(value, path, "a string or an array of strings");
                None
            }
        }
    }

    fn string_map(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Vec<(String, String)> {
        let Some(table) = self.table(value, path) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(table.len());
        for (key, value) in table.iter() {
            let key = key.get_ref().as_ref();
            if let Some(s) = self.string(value, path.key(key)) {
                out.push((key.to_owned(), s.to_owned()));
            }
        }
        out
    }

    /// Refuses every key and string of `table`, at any depth, that holds a
    /// NUL character: PostgreSQL's text cannot hold one (the package is
    /// recorded with each submit), nor can a container's environment.
    fn refuse_nul(&mut self, table: &DeTable<'_>, path: KeyPath<'_>) {
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let path = path.key(k);
            if k.contains('\0') {
                self.invalid(key.span(), path, NUL_MESSAGE);
            }
            self.refuse_nul_in(value, path);
        }
    }

    fn refuse_nul_in(&mut self, value: &Value<'_>, path: KeyPath<'_>) {
        match value.get_ref() {
            DeValue::String(s) if s.contains('\0') => self.invalid(value.span(), path, NUL_MESSAGE),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.refuse_nul_in(item, path.index(i));
                }
            }
            DeValue::Table(table) => self.refuse_nul(table, path),
            _ => {}
        }
    }

    fn layer(&mut self, table: &DeTable<'_>) -> Layer {
        let root = KeyPath::Root;
        self.refuse_nul(table, root);
        let mut layer = Layer::default();
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let path = root.key(k);
            match k {
                "name" => {
                    if let Some(s) = self.string(value, path) {
                        match PackageName::new(s) {
                            Ok(name) => layer.name = Some(name),
                            Err(e) => self.invalid(value.span(), path, e.to_string()),
                        }
                    }
                }
                "version" => {
                    if let Some(s) = self.string(value, path) {
                        match PackageVersion::new(s) {
                            Ok(v) => layer.version = Some(v),
                            Err(e) => self.invalid(value.span(), path, e.to_string()),
                        }
                    }
                }
                "version_is_semver" => {
                    self.bool(value, path);
                }
                "sources" => {
                    if let Some(sources) = self.table(value, path) {
                        for (key, value) in sources.iter() {
                            let name = key.get_ref().as_ref();
                            let path = path.key(name);
                            if let Some(problem) = source_key_problem(name) {
                                self.invalid(key.span(), path, problem);
                            } else if let Some(source) = self.source(value, path) {
                                layer.sources.push((name.to_owned(), source));
                            }
                        }
                    }
                }
                "dependencies" => {
                    if let Some(deps) = self.table(value, path) {
                        for (key, value) in deps.iter() {
                            let kind = key.get_ref().as_ref();
                            let path = path.key(kind);
                            match kind {
                                "build" => layer.build = self.dependencies(value, path),
                                "runtime" => layer.runtime = self.dependencies(value, path),
                                _ => self.unknown(key, path),
                            }
                        }
                    }
                }
                "patches" => {
                    if let Some(patches) = self.array(value, path) {
                        let mut out = Vec::with_capacity(patches.len());
                        for (i, item) in patches.iter().enumerate() {
                            let path = path.index(i);
                            if let Some(entry) = self.string(item, path) {
                                if let Some(resolved) = self.repo_file(item, path, entry, "patch") {
                                    out.push(resolved);
                                }
                            }
                        }
                        layer.patches = Some(out);
                    }
                }
                "environment" => layer.environment = self.environment(value, path),
                "allowed_images" => layer.allowed_images = self.strings(value, path),
                "denied_images" => layer.denied_images = self.strings(value, path),
                "phases" => {
                    if let Some(phases) = self.table(value, path) {
                        for (key, value) in phases.iter() {
                            let name = key.get_ref().as_ref();
                            if let Some(phase) = self.phase(value, path.key(name)) {
                                layer.phases.push((name.to_owned(), phase));
                            }
                        }
                    }
                }
                "meta" => layer.meta = self.string_map(value, path),
                _ => self.unknown(key, path),
            }
        }
        layer
    }

    fn environment(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Vec<(String, String)> {
        let vars = self.string_map(value, path);
        if let Some(table) = value.get_ref().as_table() {
            for (key, _) in table.iter() {
                let name = key.get_ref().as_ref();
                // A NUL is reported by `refuse_nul`.
                if !name.contains('\0') && !crate::package::is_env_name(name) {
                    self.invalid(
                        key.span(),
                        path.key(name),
                        format!(
                            "not a valid variable name ({})",
                            crate::package::ENV_NAME_RULE
                        ),
                    );
                }
            }
        }
        vars
    }

    fn source(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Option<PartialSource> {
        let table = self.table(value, path)?;
        let mut source = PartialSource::default();
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let path = path.key(k);
            match k {
                "url" => source.url = self.string(value, path).map(str::to_owned),
                "download_manually" => source.download_manually = self.bool(value, path),
                "hash" => {
                    let Some(hash) = self.table(value, path) else {
                        continue;
                    };
                    for (key, value) in hash.iter() {
                        let k = key.get_ref().as_ref();
                        let path = path.key(k);
                        match k {
                            "type" => {
                                if let Some(s) = self.string(value, path) {
                                    source.hash_type = HashKind::parse(s);
                                    if source.hash_type.is_none() {
                                        let message = format!(
                                            "unknown hash type `{s}` (sha1, sha256 or sha512)"
                                        );
                                        self.invalid(value.span(), path, message);
                                    }
                                }
                            }
                            "hash" => {
                                if let Some(s) = self.string(value, path) {
                                    if s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                                        && !s.is_empty()
                                    {
                                        source.hash = Some(s.to_owned());
                                    } else {
                                        self.invalid(
                                            value.span(),
                                            path,
                                            "a hash must be lower-case hexadecimal",
                                        );
                                    }
                                }
                            }
                            _ => self.unknown(key, path),
                        }
                    }
                }
                _ => self.unknown(key, path),
            }
        }
        Some(source)
    }

    fn dependencies(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Option<Vec<Dependency>> {
        let array = self.array(value, path)?;
        let mut out = Vec::with_capacity(array.len());
        for (i, item) in array.iter().enumerate() {
            let path = path.index(i);
            match item.get_ref() {
                DeValue::String(s) => match Dependency::parse(s) {
                    Ok(dep) => out.push(dep),
                    Err(e) => self.invalid(item.span(), path, e.to_string()),
                },
                DeValue::Table(table) => {
                    if let Some(dep) = self.conditional_dependency(item, table, path) {
                        out.push(dep);
                    }
                }
                _ => self.wrong_type(
                    item,
                    path,
                    "a string \"NAME =VERSION\" or a table { name, condition }",
                ),
            }
        }
        Some(out)
    }

    fn conditional_dependency(
        &mut self,
        item: &Value<'_>,
        table: &DeTable<'_>,
        path: KeyPath<'_>,
    ) -> Option<Dependency> {
        let mut dep: Option<Dependency> = None;
        let mut condition = None;
        let mut ok = true;
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let path = path.key(k);
            match k {
                "name" => {
                    if let Some(s) = self.string(value, path) {
                        match Dependency::parse(s) {
                            Ok(d) => dep = Some(d),
                            Err(e) => {
                                ok = false;
                                self.invalid(value.span(), path, e.to_string());
                            }
                        }
                    } else {
                        ok = false;
                    }
                }
                "condition" => {
                    condition = self.condition(value, path);
                    ok &= condition.is_some();
                }
                _ => {
                    ok = false;
                    self.unknown(key, path);
                }
            }
        }
        if dep.is_none() && ok {
            self.invalid(
                item.span(),
                path,
                "a dependency table needs `name = \"NAME =VERSION\"`",
            );
        }
        let mut dep = dep.filter(|_| ok)?;
        dep.condition = condition;
        Some(dep)
    }

    fn condition(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Option<Condition> {
        let table = self.table(value, path)?;
        let mut condition = Condition::default();
        let errors_before = self.errors.len();
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let path = path.key(k);
            match k {
                "has_env" => condition.has_env = self.one_or_more(value, path),
                "env_eq" => {
                    condition.env_eq = Some(
                        self.string_map(value, path)
                            .into_iter()
                            .collect::<BTreeMap<_, _>>(),
                    )
                }
                "in_image" => condition.in_image = self.one_or_more(value, path),
                _ => self.unknown(key, path),
            }
        }
        (self.errors.len() == errors_before).then_some(condition)
    }

    fn phase(&mut self, value: &Value<'_>, path: KeyPath<'_>) -> Option<Phase> {
        let table = self.table(value, path)?;
        let layer = self.site.file.clone();
        let mut phase = None;
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            let path = path.key(k);
            let this = match k {
                "script" => self.string(value, path).map(|s| Phase {
                    script: s.to_owned(),
                    origin: PhaseOrigin::Inline {
                        layer: layer.clone(),
                    },
                }),
                "path" => self.string(value, path).and_then(|entry| {
                    let file = self.repo_file(value, path, entry, "phase file")?;
                    let abs = self.site.root.join(&file);
                    match std::fs::read_to_string(&abs) {
                        Ok(script) if script.contains('\0') => {
                            self.invalid(
                                value.span(),
                                path,
                                format!("phase file {} {NUL_MESSAGE}", abs.display()),
                            );
                            None
                        }
                        Ok(script) => Some(Phase {
                            script,
                            origin: PhaseOrigin::File {
                                layer: layer.clone(),
                                file,
                            },
                        }),
                        Err(e) => {
                            self.invalid(
                                value.span(),
                                path,
                                format!("cannot read phase file {}: {e}", abs.display()),
                            );
                            None
                        }
                    }
                }),
                _ => {
                    self.unknown(key, path);
                    None
                }
            };
            if this.is_some() && phase.is_some() {
                self.invalid(
                    key.span(),
                    path,
                    "a phase has either `script` or `path`, not both",
                );
                return None;
            }
            phase = phase.or(this);
        }
        if phase.is_none() && table.is_empty() {
            self.invalid(
                value.span(),
                path,
                "a phase needs `script = \"...\"` or `path = \"file\"`",
            );
        }
        phase
    }

    /// Resolves `entry`, relative to this layer's directory, to a
    /// normalised repository-relative path of an existing file inside the
    /// repository (symbolic links may not lead out of it).
    fn repo_file(
        &mut self,
        value: &Value<'_>,
        path: KeyPath<'_>,
        entry: &str,
        what: &str,
    ) -> Option<String> {
        match resolve(self.site.dir, entry) {
            Err(problem) => {
                self.invalid(value.span(), path, format!("{what} `{entry}` {problem}"));
                None
            }
            Ok(rel) => {
                let abs = self.site.root.join(&rel);
                match std::fs::canonicalize(&abs) {
                    Err(_) => {
                        let message = format!(
                            "{what} `{entry}` does not exist (looked for {})",
                            abs.display()
                        );
                        self.invalid(value.span(), path, message);
                        None
                    }
                    Ok(real) if !real.starts_with(self.site.canonical_root) => {
                        let message = format!(
                            "{what} `{entry}` leads out of the repository (to {})",
                            real.display()
                        );
                        self.invalid(value.span(), path, message);
                        None
                    }
                    Ok(real) if !real.is_file() => {
                        self.invalid(
                            value.span(),
                            path,
                            format!("{what} `{entry}` is not a file"),
                        );
                        None
                    }
                    Ok(_) => Some(rel),
                }
            }
        }
    }
}

/// Why a key or string holding a NUL character is refused.
const NUL_MESSAGE: &str =
    "holds a NUL character, which can be neither recorded in the database nor passed to a container";

/// Why `key` cannot name a source, if it cannot: a source is kept as the
/// file `<key>.source` in the source cache and in the container's
/// `/inputs`, so its key must be one plain file name.
fn source_key_problem(key: &str) -> Option<String> {
    crate::store::paths::component_problem(key).map(|problem| {
        format!("a source key is a file name (`<key>.source`), and this one {problem}")
    })
}

/// Joins `entry` to `dir` (both relative to the repository root) and
/// normalises `.` and `..` without touching the file system; refuses a path
/// that is absolute or leaves the repository. The result uses `/`.
pub fn resolve(dir: &Path, entry: &str) -> Result<String, &'static str> {
    if entry.is_empty() {
        return Err("is empty");
    }
    let entry = Path::new(entry);
    if entry.has_root() {
        return Err("must be relative to its pkg.toml");
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in dir.components().chain(entry.components()) {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err("leaves the repository");
                }
            }
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => return Err("is not valid UTF-8"),
            },
            Component::RootDir | Component::Prefix(_) => {
                return Err("must be relative to its pkg.toml")
            }
        }
    }
    if parts.is_empty() {
        return Err("names the repository itself");
    }
    Ok(parts.join("/"))
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A layer file's path relative to the root, from its directory.
pub fn layer_path(dir: &Path) -> PathBuf {
    dir.join(super::walk::LAYER_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_resolve(dir: &str, entry: &str, expected: Result<&str, &str>) {
        assert_eq!(
            resolve(Path::new(dir), entry).as_deref().map_err(|e| *e),
            expected,
            "{dir:?} + {entry:?}"
        );
    }

    #[test]
    fn patch_paths() {
        for (dir, entry, expected) in [
            ("a/b", "fix.patch", Ok("a/b/fix.patch")),
            ("a/b", "./fix.patch", Ok("a/b/fix.patch")),
            ("a/b", "../fix.patch", Ok("a/fix.patch")),
            ("a/b", "../../patches/x.patch", Ok("patches/x.patch")),
            ("a/b", "sub/../y.patch", Ok("a/b/y.patch")),
            ("", "top.patch", Ok("top.patch")),
            ("a/b", "../../../x.patch", Err("leaves the repository")),
            ("", "../x.patch", Err("leaves the repository")),
            ("a", "../a/../../x", Err("leaves the repository")),
            ("a", "/etc/passwd", Err("must be relative to its pkg.toml")),
            ("a", "", Err("is empty")),
            ("a", "..", Err("names the repository itself")),
        ] {
            check_resolve(dir, entry, expected);
        }
    }

    #[test]
    fn line_and_column() {
        for (text, offset, expected) in [
            ("abc", 0, (1, 1)),
            ("abc", 2, (1, 3)),
            ("a\nbc", 2, (2, 1)),
            ("a\nbc", 3, (2, 2)),
            ("ä\nö x", 6, (2, 3)),
            ("a", 99, (1, 2)),
        ] {
            assert_eq!(line_col(text, offset), expected, "{text:?} at {offset}");
        }
    }

    /// Parses `text` as the layer `pkgs/foo/pkg.toml` of a repository
    /// holding `files`; returns the layer or the errors as text.
    fn parse_text(files: &[&str], text: &str) -> Result<Layer, Vec<String>> {
        let tmp = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir_all(tmp.path().join("pkgs/foo")).expect("mkdir");
        for f in files {
            let p = tmp.path().join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "echo from file\n").expect("write");
        }
        let canonical = std::fs::canonicalize(tmp.path()).expect("canonical");
        let file: Arc<Path> = Arc::from(Path::new("pkgs/foo/pkg.toml"));
        let site = LayerSite {
            root: tmp.path(),
            canonical_root: &canonical,
            dir: Path::new("pkgs/foo"),
            file: &file,
        };
        let root = tmp.path().display().to_string();
        parse(&site, text).map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string().replace(&root, "ROOT"))
                .collect()
        })
    }

    fn check_error(files: &[&str], text: &str, expected: &str) {
        match parse_text(files, text) {
            Ok(layer) => panic!("{text:?} parsed: {layer:?}"),
            Err(errors) => assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{text:?}: {errors:?} lack `{expected}`"
            ),
        }
    }

    #[test]
    fn layer_errors() {
        for (files, text, expected) in [
            (&[][..], "name = \"a\"\nnmae = \"b\"\n", "ROOT/pkgs/foo/pkg.toml:2:1: `nmae`: unknown key"),
            (&[], "[dependencies]\nbuld = []\n", "pkg.toml:2:1: `dependencies.buld`: unknown key"),
            (&[], "[sources.src]\nurl = \"u\"\nhash = { typ = \"sha1\" }\n", "`sources.src.hash.typ`: unknown key"),
            (&[], "[phases.build]\nscript = 1\n", "pkg.toml:2:10: `phases.build.script`: expected a string, found integer"),
            (&[], "name = [\"a\"]", "`name`: expected a string, found array"),
            (&[], "name = \"-a\"", "`name`: package name `-a` is not valid"),
            (&[], "version = \"v1\"", "`version`: version `v1` is not valid"),
            (&[], "name = \"a\"\nname = \"b\"\n", "pkg.toml:2:1: TOML syntax error: duplicate key"),
            (&[], "name = ", "pkg.toml:1:8: TOML syntax error"),
            (&[], "[dependencies]\nbuild = [\"a =1\", \"b >=2\"]", "`dependencies.build[1]`: dependency `b >=2`: only exact versions"),
            (&[], "[dependencies]\nruntime = [ 3 ]", "`dependencies.runtime[0]`: expected a string \"NAME =VERSION\" or a table"),
            (&[], "[dependencies]\nruntime = [ { name = \"a =1\", condition = { has_envv = \"X\" } } ]", "`dependencies.runtime[0].condition.has_envv`: unknown key"),
            (&[], "[dependencies]\nruntime = [ { name = \"a =1\", cond = {} } ]", "`dependencies.runtime[0].cond`: unknown key"),
            (&[], "[dependencies]\nruntime = [ { condition = {} } ]", "`dependencies.runtime[0]`: a dependency table needs `name"),
            (&[], "[dependencies]\nruntime = [ { name = \"a =1\", condition = { in_image = 3 } } ]", "expected a string or an array of strings"),
            (&[], "patches = [\"../../../x.patch\"]", "pkg.toml:1:12: `patches[0]`: patch `../../../x.patch` leaves the repository"),
            (&[], "patches = [\"/etc/passwd\"]", "`patches[0]`: patch `/etc/passwd` must be relative"),
            (&[], "patches = [\"nope.patch\"]", "`patches[0]`: patch `nope.patch` does not exist (looked for ROOT/pkgs/foo/nope.patch)"),
            (&[], "[phases.build]\npath = \"build.sh\"", "`phases.build.path`: phase file `build.sh` does not exist"),
            (&["pkgs/foo/build.sh"], "[phases.build]\npath = \"build.sh\"\nscript = \"x\"", "a phase has either `script` or `path`, not both"),
            (&[], "[phases.build]\n", "a phase needs `script"),
            (&[], "[sources.src]\nhash = { type = \"md5\" }", "`sources.src.hash.type`: unknown hash type `md5`"),
            (&[], "[sources.src]\nhash = { hash = \"ABCDEF\" }", "`sources.src.hash.hash`: a hash must be lower-case hexadecimal"),
            (&[], "[environment]\nA = 1", "`environment.A`: expected a string, found integer"),
            (&[], "[meta]\n\"my key\" = true", "`meta.\"my key\"`: expected a string, found boolean"),
            (&[], "allowed_images = \"debian\"", "`allowed_images`: expected an array, found string"),
            (&[], "version = \"1/../../../../tmp/x\"", "pkg.toml:1:11: `version`: version `1/../../../../tmp/x` is not valid"),
            (&[], "version = \"1\\\\..\\\\x\"", "`version`: version `1\\..\\x` is not valid"),
            (&[], "version = \"1\\u001b[2J\"", "`version`: version `1\\u{1b}[2J` is not valid"),
            (&[], "[environment]\nA = \"x\\u0000y\"", "pkg.toml:2:5: `environment.A`: holds a NUL character"),
            (&[], "[environment]\n\"A\\u0000\" = \"x\"", "pkg.toml:2:1: `environment.\"A\\0\"`: holds a NUL character"),
            (&[], "[environment]\n\"A\\u001b\" = \"x\"", "`environment.\"A\\u{1b}\"`: not a valid variable name"),
            (&[], "[environment]\n\"A-B\" = \"x\"", "pkg.toml:2:1: `environment.A-B`: not a valid variable name (letters, digits and _, not starting with a digit)"),
            (&[], "[environment]\n\"1X\" = \"x\"", "`environment.1X`: not a valid variable name"),
            (&[], "[meta]\nx = \"\\u0000\"", "`meta.x`: holds a NUL character"),
            (&[], "[phases.build]\nscript = \"echo \\u0000\"", "`phases.build.script`: holds a NUL character"),
            (&[], "[dependencies]\nruntime = [ { name = \"a =1\", condition = { has_env = [\"\\u0000\"] } } ]", "`dependencies.runtime[0].condition.has_env[0]`: holds a NUL character"),
            (&[], "[sources.\"../../../tmp/x\"]\nurl = \"u\"", "pkg.toml:1:10: `sources.\"../../../tmp/x\"`: a source key is a file name (`<key>.source`), and this one holds a path separator"),
            (&[], "[sources.\"a\\\\b\"]\nurl = \"u\"", "holds a path separator"),
            (&[], "[sources.\"..\"]\nurl = \"u\"", "is `.` or `..`"),
            (&[], "[sources.\"s\\n\"]\nurl = \"u\"", "`sources.\"s\\n\"`: a source key is a file name (`<key>.source`), and this one holds a control character"),
        ] {
            check_error(files, text, expected);
        }
    }

    #[test]
    fn a_phase_file_holding_a_nul_is_refused() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        std::fs::write(tmp.path().join("build.sh"), "make\0\n").expect("write");
        let canonical = std::fs::canonicalize(tmp.path()).expect("canonical");
        let file: Arc<Path> = Arc::from(Path::new("pkg.toml"));
        let site = LayerSite {
            root: tmp.path(),
            canonical_root: &canonical,
            dir: Path::new(""),
            file: &file,
        };
        let errors = parse(&site, "[phases.build]\npath = \"build.sh\"\n").expect_err("refused");
        let text = errors[0].to_string();
        assert!(
            text.contains("pkg.toml:2:8: `phases.build.path`: phase file ")
                && text.contains("build.sh holds a NUL character"),
            "{text}"
        );
    }

    #[test]
    fn all_errors_of_a_layer_are_reported() {
        let errors = parse_text(
            &[],
            "nmae = \"a\"\n[dependencies]\nbuild = [\"x\"]\n[metaa]\n",
        )
        .expect_err("invalid");
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn a_valid_layer() {
        let text = r#"
            name = "foo"
            version = "=1.0"
            version_is_semver = true
            patches = ["fix.patch", "../../common/all.patch"]
            allowed_images = ["debian"]
            [sources.src]
            url = "https://example.org/foo.tar.gz"
            hash = { type = "sha1", hash = "0123456789abcdef0123456789abcdef01234567" }
            [dependencies]
            build = ["make =4.3"]
            runtime = ["libc 2.36", { name = "x =1", condition = { has_env = "X", env_eq = { A = "b" }, in_image = ["i1", "i2"] } }]
            [environment]
            CFLAGS = "-O2"
            [phases.build]
            script = "make"
            [phases.install]
            path = "install.sh"
            [meta]
            license = "MIT"
        "#;
        let layer = parse_text(
            &[
                "pkgs/foo/fix.patch",
                "common/all.patch",
                "pkgs/foo/install.sh",
            ],
            text,
        )
        .expect("valid");
        assert_eq!(layer.name.as_ref().map(PackageName::as_str), Some("foo"));
        assert_eq!(
            layer.version.as_ref().map(PackageVersion::as_str),
            Some("1.0")
        );
        assert_eq!(
            layer.patches,
            Some(vec![
                "pkgs/foo/fix.patch".to_string(),
                "common/all.patch".to_string()
            ])
        );
        let runtime = layer.runtime.as_ref().expect("runtime deps");
        assert_eq!(runtime.len(), 2);
        let condition = runtime[1].condition.as_ref().expect("a condition");
        assert_eq!(condition.has_env, Some(vec!["X".to_string()]));
        assert_eq!(
            condition.in_image,
            Some(vec!["i1".to_string(), "i2".to_string()])
        );
        assert_eq!(
            condition
                .env_eq
                .as_ref()
                .and_then(|m| m.get("A"))
                .map(String::as_str),
            Some("b")
        );
        let install = layer
            .phases
            .iter()
            .find(|(n, _)| n == "install")
            .map(|(_, p)| p)
            .expect("install phase");
        assert_eq!(install.script, "echo from file\n");
        assert!(
            matches!(&install.origin, PhaseOrigin::File { file, .. } if file == "pkgs/foo/install.sh")
        );
        assert_eq!(layer.sources.len(), 1);
        assert_eq!(layer.sources[0].1.hash_type, Some(HashKind::Sha1));
    }
}
