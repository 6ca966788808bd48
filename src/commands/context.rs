//! What every command may need, created lazily: the package repository's
//! location, the configuration, the database.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::GlobalArgs;
use crate::config::{Config, DatabaseFlags, LoadOptions};

/// The global options and the things derived from them.
pub struct Context {
    pub global: GlobalArgs,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Self {
        Self { global }
    }

    /// The top of the package repository, if kiln runs inside one (or `--repo` names one).
    pub fn repo_root(&self) -> Result<Option<PathBuf>> {
        crate::repo::find_root(self.global.repo.as_deref())
    }

    /// Loads every package of the repository (an error when kiln runs
    /// outside of one and no `--repo` was given).
    pub fn repository(&self) -> Result<crate::repo::Repository> {
        self.repository_at(None)
    }

    /// Loads every package of the repository, or of `checkout`, a work
    /// tree of another commit of it.
    pub fn repository_at(&self, checkout: Option<&Path>) -> Result<crate::repo::Repository> {
        if let Some(dir) = checkout {
            return Ok(crate::repo::load(dir)?);
        }
        let Some(root) = self.repo_root()? else {
            return Err(crate::input_error!(
                "not inside a package repository: run kiln inside one (a git work tree) or give --repo DIR"
            ));
        };
        Ok(crate::repo::load(&root)?)
    }

    /// butido's `--db-*` flags, as configuration.
    fn database_flags(&self) -> DatabaseFlags {
        let g = &self.global;
        DatabaseFlags {
            host: g.db_host.clone(),
            port: g.db_port,
            user: g.db_user.clone(),
            password: g.db_password.clone(),
            name: g.db_name.clone(),
            connection_timeout: g.db_timeout,
        }
    }

    /// Loads the configuration from all its layers.
    pub fn config(&self) -> Result<Config> {
        self.config_at(None)
    }

    /// Loads the configuration, with the repository's `config.toml` read
    /// from `checkout` (a work tree of another commit) when given.
    pub fn config_at(&self, checkout: Option<&Path>) -> Result<Config> {
        let options = LoadOptions {
            repo_root: self.repo_root()?,
            repo_checkout: checkout.map(Path::to_owned),
            user_file: self.global.config.clone(),
            database_url: self.global.database_url.clone(),
            database_flags: self.database_flags(),
        };
        Ok(Config::load(&options)?)
    }
}
