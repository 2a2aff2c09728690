//! Loading settings and opening the database, shared by the commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bnpl_store::{Database, SecretCipher};
use bnpl_sync::Settings;

pub struct ConfigPath {
    path: PathBuf,
    explicit: bool,
}

impl ConfigPath {
    pub fn new(path: Option<PathBuf>) -> Self {
        match path {
            Some(path) => ConfigPath {
                path,
                explicit: true,
            },
            None => ConfigPath {
                path: PathBuf::from("bnpl.toml"),
                explicit: false,
            },
        }
    }

    pub fn load(&self) -> anyhow::Result<Settings> {
        Ok(Settings::load(&self.path, self.explicit)?)
    }
}

/// The key file that encrypts stored credentials: configured, or `bnpl.key`
/// in the current directory.
pub fn key_file(settings: &Settings) -> PathBuf {
    settings
        .secret_key_file
        .clone()
        .unwrap_or_else(|| PathBuf::from("bnpl.key"))
}

pub async fn open_database(url: &str, key_file: &Path) -> anyhow::Result<Arc<dyn Database>> {
    let cipher = SecretCipher::load_or_create(key_file)
        .with_context(|| format!("credentials key {}", key_file.display()))?;
    let db = bnpl_store::open(url, cipher)
        .await
        .with_context(|| format!("database {}", redact_url(url)))?;
    Ok(Arc::from(db))
}

pub async fn open_configured(settings: &Settings) -> anyhow::Result<Arc<dyn Database>> {
    open_database(&settings.database_url, &key_file(settings)).await
}

/// A database URL may carry a password; never print it.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://bnpl:hunter2@db:5432/bnpl"),
            "postgres://bnpl:***@db:5432/bnpl"
        );
        assert_eq!(redact_url("sqlite://bnpl.db"), "sqlite://bnpl.db");
    }
}
