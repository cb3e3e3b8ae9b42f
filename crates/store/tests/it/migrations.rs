//! Both engines' migrations apply, match, and leave a ready store.

use std::collections::BTreeMap;
use std::path::Path;

use store::{Engine, migration_versions};

use crate::engines;

#[tokio::test]
async fn migrations_apply_and_the_store_is_ready() {
    for store in engines("migrations_apply").await {
        store.ready().await.expect("ready");
        // Applying again is a no-op.
        store.migrate().await.expect("idempotent");
        store.close().await;
    }
}

#[test]
fn migration_folders_have_matching_versions() {
    let sqlite = migration_versions(Engine::Sqlite);
    let postgres = migration_versions(Engine::Postgres);
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres, "the two migration folders drifted apart");
}

/// Table name → column names, read from the CREATE TABLE statements of one
/// engine's migration folder.
fn schema(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("migrations")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut tables = BTreeMap::new();
    for f in files {
        let sql = std::fs::read_to_string(&f).expect("migration");
        let sql: String = sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in sql.split(';') {
            let upper = stmt.to_uppercase();
            let Some(at) = upper.find("CREATE TABLE") else {
                continue;
            };
            let rest = &stmt[at + "CREATE TABLE".len()..];
            let name = rest
                .split('(')
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches("IF NOT EXISTS")
                .trim()
                .to_string();
            let body = rest.split_once('(').map(|(_, b)| b).unwrap_or("");
            let columns = body
                .split(",\n")
                .map(|c| c.split_whitespace().next().unwrap_or("").to_string())
                .filter(|c| {
                    !c.is_empty()
                        && !["PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"]
                            .contains(&c.to_uppercase().as_str())
                })
                .collect();
            tables.insert(name, columns);
        }
    }
    tables
}

#[test]
fn both_engines_define_the_same_tables_and_columns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite = schema(&root.join("sqlite"));
    let postgres = schema(&root.join("postgres"));
    assert!(sqlite.contains_key("leases"), "{sqlite:?}");
    assert_eq!(sqlite, postgres, "the engines' schemas drifted apart");
}
