//! `unigate token create | list | revoke`: operator and regulator tokens.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// `operator` or `regulator` (read-only).
        #[arg(long, value_parser = ["operator", "regulator"])]
        role: String,
        /// Who or what it is for.
        #[arg(long)]
        label: String,
        /// Store URL (default: the configuration's).
        #[arg(long)]
        db: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        db: Option<String>,
    },
    /// Revoke a token by id.
    Revoke {
        id: String,
        #[arg(long)]
        db: Option<String>,
    },
}

pub fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db = match &command {
            TokenCommand::Create { db, .. }
            | TokenCommand::List { db }
            | TokenCommand::Revoke { db, .. } => db.clone(),
        };
        let config = crate::serve::load(None, db.as_deref(), None)?;
        let store = store::Store::open(&config.db, config.store.into())
            .await
            .with_context(|| format!("opening the store {}", crate::serve::redact(&config.db)))?;
        let now = now_ms();
        let mut out = std::io::stdout().lock();
        let code = match command {
            TokenCommand::Create { role, label, .. } => {
                let role =
                    store::Role::parse(&role).context("role must be operator or regulator")?;
                let (id, secret) = store.token_create(role, &label, now).await?;
                writeln!(out, "{secret}")?;
                eprintln_line(&format!(
                    "created {} token {id} ({label}); the secret above is shown once",
                    role.as_str()
                ));
                ExitCode::SUCCESS
            }
            TokenCommand::List { .. } => {
                for t in store.token_list().await? {
                    let state = if t.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    writeln!(out, "{}\t{}\t{}\t{}", t.id, t.role.as_str(), state, t.label)?;
                }
                ExitCode::SUCCESS
            }
            TokenCommand::Revoke { id, .. } => {
                anyhow::ensure!(store.token_revoke(&id, now).await?, "no active token {id}");
                ExitCode::SUCCESS
            }
        };
        store.close().await;
        Ok(code)
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

#[allow(clippy::print_stderr)]
fn eprintln_line(s: &str) {
    eprintln!("{s}");
}
