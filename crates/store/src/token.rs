//! Operator and regulator bearer tokens: random secrets shown once, stored
//! only as SHA-256 hashes, revocable.

use sha2::{Digest, Sha256};

use crate::{Store, StoreError};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Manages participants, routes, rates, risk; reads everything.
    Operator,
    /// Reads statistics and reports; changes nothing.
    Regulator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Regulator => "regulator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "operator" => Some(Role::Operator),
            "regulator" => Some(Role::Regulator),
            _ => None,
        }
    }
}

/// A token as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub role: Role,
    pub label: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// The stored form of a secret.
fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Longest label accepted.
pub const TOKEN_LABEL_CHARS_MAX: usize = 100;

impl Store {
    /// Create a token; the secret is returned once and never stored.
    pub async fn token_create(
        &self,
        role: Role,
        label: &str,
        now_ms: i64,
    ) -> Result<(String, String), StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let secret = format!(
            "ugt_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let label: String = label.chars().take(TOKEN_LABEL_CHARS_MAX).collect();
        sqlx::query(
            "INSERT INTO api_tokens (id, role, token_hash, label, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(role.as_str())
        .bind(hash(&secret))
        .bind(label)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok((id, secret))
    }

    /// The role of an unrevoked token with this secret.
    pub async fn token_verify(&self, secret: &str) -> Result<Option<(String, Role)>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT id, role FROM api_tokens WHERE token_hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(hash(secret))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|(id, role)| Role::parse(&role).map(|r| (id, r))))
    }

    /// Revoke a token by id. Returns false when no unrevoked token has it.
    pub async fn token_revoke(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every token, oldest first.
    pub async fn token_list(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, role, label, created_at_ms, revoked_at_ms FROM api_tokens ORDER BY created_at_ms, id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, role, label, created_at_ms, revoked_at_ms)| {
                Some(TokenInfo {
                    id,
                    role: Role::parse(&role)?,
                    label,
                    created_at_ms,
                    revoked_at_ms,
                })
            })
            .collect())
    }
}
