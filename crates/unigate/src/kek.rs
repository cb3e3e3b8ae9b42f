//! Where the key-encryption key comes from: `UNIGATE_KEK` (standard base64
//! of 32 bytes), else the configured `kek_file`, else — in development
//! only — a file beside the SQLite database (or `unigate.kek` in the
//! working directory for PostgreSQL), created with owner-only permissions
//! on first start. Production refuses to start without one of the first
//! two. The key itself is never logged or printed.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use sign::kek::{KeyProvider, LocalKek};

use crate::serve::Config;

/// The environment variable holding the key-encryption key.
pub const KEK_ENV: &str = "UNIGATE_KEK";

pub fn load(config: &Config) -> anyhow::Result<Arc<dyn KeyProvider>> {
    if let Ok(text) = std::env::var(KEK_ENV)
        && !text.trim().is_empty()
    {
        let kek = LocalKek::from_text(&text).context(KEK_ENV)?;
        tracing::info!(
            kek = kek.id(),
            source = KEK_ENV,
            "key-encryption key loaded"
        );
        return Ok(Arc::new(kek));
    }
    if !config.kek_file.is_empty() {
        let path = Path::new(&config.kek_file);
        let kek = read(path, config.production())?;
        tracing::info!(kek = kek.id(), source = %path.display(), "key-encryption key loaded");
        return Ok(Arc::new(kek));
    }
    anyhow::ensure!(
        !config.production(),
        "production mode needs a key-encryption key: set {KEK_ENV} or kek_file"
    );
    if config.db.starts_with("sqlite::memory:") || config.db.contains("mode=memory") {
        let (kek, _) = LocalKek::generate()?;
        tracing::warn!(
            kek = kek.id(),
            "development: an in-memory database gets a throw-away key-encryption key"
        );
        return Ok(Arc::new(kek));
    }
    let path = beside_database(&config.db);
    if path.exists() {
        let kek = read(&path, false)?;
        tracing::info!(kek = kek.id(), source = %path.display(), "development key-encryption key loaded");
        return Ok(Arc::new(kek));
    }
    let (kek, text) = LocalKek::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating the key-encryption key file {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    tracing::warn!(
        kek = kek.id(),
        file = %path.display(),
        "development: created a key-encryption key file (owner-only); production needs {KEK_ENV} or kek_file",
    );
    Ok(Arc::new(kek))
}

/// A new development key-encryption key in the file beside `db`
/// (replacing one there), owner-only: the demo's database, opened later by
/// `unigate serve`, finds it there.
pub fn replace_beside_database(db: &str) -> anyhow::Result<Arc<dyn KeyProvider>> {
    let path = beside_database(db);
    let _ = std::fs::remove_file(&path);
    let (kek, text) = LocalKek::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating the key-encryption key file {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(Arc::new(kek))
}

/// `sqlite://dir/unigate.db` → `dir/unigate.db.kek`; anything else →
/// `unigate.kek`.
fn beside_database(db: &str) -> PathBuf {
    match db.strip_prefix("sqlite://") {
        Some(rest) => {
            let file = rest.split('?').next().unwrap_or(rest);
            PathBuf::from(format!("{file}.kek"))
        }
        None => PathBuf::from("unigate.kek"),
    }
}

fn read(path: &Path, production: bool) -> anyhow::Result<LocalKek> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading the key-encryption key file {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        anyhow::ensure!(
            !production,
            "the key-encryption key file {} is readable by others: chmod 600 it",
            path.display()
        );
        tracing::warn!(file = %path.display(), "the key-encryption key file is readable by others");
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the key-encryption key file {}", path.display()))?;
    LocalKek::from_text(&text)
        .with_context(|| format!("the key-encryption key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_file_sits_beside_the_database() {
        assert_eq!(
            beside_database("sqlite://data/u.db"),
            PathBuf::from("data/u.db.kek")
        );
        assert_eq!(
            beside_database("sqlite://u.db?mode=rwc"),
            PathBuf::from("u.db.kek")
        );
        assert_eq!(
            beside_database("postgres://h/db"),
            PathBuf::from("unigate.kek")
        );
    }
}
