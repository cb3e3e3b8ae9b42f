//! Everything that differs between SQLite and PostgreSQL, in one place.
//! Queries elsewhere use the subset both accept.

use crate::{Engine, StoreError};

/// The engine a URL names, and the URL the driver gets.
///
/// - `sqlite://FILE` — a file, created when missing;
/// - `sqlite::memory:` — one in-memory database shared by the process's
///   connections, gone at exit;
/// - `postgres://…` or `postgresql://…`.
pub fn normalise_url(url: &str) -> Result<(Engine, String), StoreError> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        // One named in-memory database with a shared cache: every connection
        // of the process sees it, and it is gone when the last one closes.
        return Ok((
            Engine::Sqlite,
            "sqlite://unigate-memory?mode=memory&cache=shared".to_string(),
        ));
    }
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if rest.is_empty() {
            return Err(StoreError::BadUrl(url.to_string()));
        }
        let sep = if rest.contains('?') { '&' } else { '?' };
        let mode = if rest.contains("mode=") {
            String::new()
        } else {
            format!("{sep}mode=rwc")
        };
        return Ok((Engine::Sqlite, format!("sqlite://{rest}{mode}")));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Engine::Postgres, url.to_string()));
    }
    Err(StoreError::BadUrl(url.to_string()))
}

/// Per-connection SQLite settings: write-ahead log (readers never block the
/// writer), full fsync on commit (an answered payment survives power loss),
/// foreign keys on, and a bounded wait for the write lock.
pub fn sqlite_pragmas(busy_timeout_ms: u64) -> Vec<String> {
    vec![
        "PRAGMA journal_mode = WAL".to_string(),
        "PRAGMA synchronous = FULL".to_string(),
        "PRAGMA foreign_keys = ON".to_string(),
        format!("PRAGMA busy_timeout = {busy_timeout_ms}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(normalise_url("sqlite::memory:").unwrap().0, Engine::Sqlite);
        assert!(
            normalise_url("sqlite::memory:")
                .unwrap()
                .1
                .contains("mode=memory")
        );
        assert_eq!(
            normalise_url("sqlite://unigate.db").unwrap().1,
            "sqlite://unigate.db?mode=rwc"
        );
        assert_eq!(
            normalise_url("sqlite://a.db?mode=ro").unwrap().1,
            "sqlite://a.db?mode=ro"
        );
        assert_eq!(
            normalise_url("postgres://u@h/db").unwrap().0,
            Engine::Postgres
        );
        assert!(normalise_url("mysql://x").is_err());
        assert!(normalise_url("sqlite://").is_err());
    }
}
