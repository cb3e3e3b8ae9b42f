//! Participants' public keys and the gateway's own sealed signing keys.

use crate::{Store, StoreError};

/// A participant's registered public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub participant_id: String,
    pub version: i64,
    /// `ED25519` or `RSA256`.
    pub algorithm: String,
    pub public_pem: String,
    pub created_at_ms: i64,
    /// Set when a newer key replaced it: valid until then (the overlap).
    pub valid_until_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub revoked_by: Option<String>,
}

impl KeyRecord {
    /// Whether a signature made with this key is accepted at `now_ms`.
    pub fn usable_at(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.valid_until_ms.is_none_or(|until| now_ms < until)
    }
}

/// One of the gateway's signing keys, its private half sealed.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct GatewayKey {
    pub version: i64,
    pub algorithm: String,
    pub public_pem: String,
    pub sealed_private: Vec<u8>,
    pub kek_id: String,
    pub created_at_ms: i64,
    /// When it starts to sign (it is published from its creation).
    pub activates_at_ms: i64,
}

type KeyRow = (
    String,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

const KEY_COLUMNS: &str = "participant_id, version, algorithm, public_pem, created_at_ms, valid_until_ms, revoked_at_ms, revoked_by";

fn key_from_row(row: KeyRow) -> KeyRecord {
    let (
        participant_id,
        version,
        algorithm,
        public_pem,
        created_at_ms,
        valid_until_ms,
        revoked_at_ms,
        revoked_by,
    ) = row;
    KeyRecord {
        participant_id,
        version,
        algorithm,
        public_pem,
        created_at_ms,
        valid_until_ms,
        revoked_at_ms,
        revoked_by,
    }
}

impl Store {
    /// Register a new key version for `participant_id`. Keys registered
    /// before it stay valid for `overlap_ms` more (rotation), then lapse.
    /// `NotFound` when the participant does not exist.
    pub async fn key_register(
        &self,
        participant_id: &str,
        algorithm: &str,
        public_pem: &str,
        overlap_ms: i64,
        now_ms: i64,
    ) -> Result<KeyRecord, StoreError> {
        let (id, algorithm, pem) = (
            participant_id.to_string(),
            algorithm.to_string(),
            public_pem.to_string(),
        );
        let registered = self.write(move |conn| {
            Box::pin(async move {
                let exists: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM participants WHERE id = $1")
                        .bind(&id)
                        .fetch_optional(&mut *conn)
                        .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound(format!("participant {id}")));
                }
                let (version,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM participant_keys WHERE participant_id = $1",
                )
                .bind(&id)
                .fetch_one(&mut *conn)
                .await?;
                let until = now_ms.saturating_add(overlap_ms);
                sqlx::query(
                    "UPDATE participant_keys SET valid_until_ms = $1 WHERE participant_id = $2 \
                     AND revoked_at_ms IS NULL AND (valid_until_ms IS NULL OR valid_until_ms > $1)",
                )
                .bind(until)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO participant_keys (participant_id, version, algorithm, public_pem, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(version)
                .bind(&algorithm)
                .bind(&pem)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                Ok(KeyRecord {
                    participant_id: id,
                    version,
                    algorithm,
                    public_pem: pem,
                    created_at_ms: now_ms,
                    valid_until_ms: None,
                    revoked_at_ms: None,
                    revoked_by: None,
                })
            })
        })
        .await;
        self.cache.keys.clear();
        registered
    }

    /// One key (from this node's copy of the participant's keys when it
    /// holds that version: see `cache`).
    pub async fn key_get(
        &self,
        participant_id: &str,
        version: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        if let Some(key) = self
            .cache
            .keys
            .get(&participant_id.to_string())
            .and_then(|keys| keys.into_iter().find(|k| k.version == version))
        {
            return Ok(Some(key));
        }
        let generation = self.cache.keys.generation();
        let keys = self.key_list_stored(participant_id).await?;
        let found = keys.iter().find(|k| k.version == version).cloned();
        self.cache
            .keys
            .put(participant_id.to_string(), keys, generation);
        Ok(found)
    }

    /// One key, read from the store.
    async fn key_get_stored(
        &self,
        participant_id: &str,
        version: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM participant_keys WHERE participant_id = $1 AND version = $2"
        )))
        .bind(participant_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(key_from_row))
    }

    /// Every key of a participant, oldest first (from this node's copy
    /// when it has one: see `cache`).
    pub async fn key_list(&self, participant_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let shelf = &self.cache.keys;
        if let Some(keys) = shelf.get(&participant_id.to_string()) {
            return Ok(keys);
        }
        let generation = shelf.generation();
        let keys = self.key_list_stored(participant_id).await?;
        shelf.put(participant_id.to_string(), keys.clone(), generation);
        Ok(keys)
    }

    async fn key_list_stored(&self, participant_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM participant_keys WHERE participant_id = $1 ORDER BY version"
        )))
        .bind(participant_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(key_from_row).collect())
    }

    /// Revoke a key at once (revoking it again changes nothing).
    /// `NotFound` when there is no such key.
    pub async fn key_revoke(
        &self,
        participant_id: &str,
        version: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<KeyRecord, StoreError> {
        let revoked = sqlx::query(
            "UPDATE participant_keys SET revoked_at_ms = $1, revoked_by = $2 \
             WHERE participant_id = $3 AND version = $4 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(actor)
        .bind(participant_id)
        .bind(version)
        .execute(self.pool())
        .await;
        self.cache.keys.clear();
        revoked?;
        self.key_get_stored(participant_id, version)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("key {version} of {participant_id}")))
    }

    /// Add a gateway key version; `false` when another node added that
    /// version first.
    pub async fn gateway_key_insert(&self, key: &GatewayKey) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO gateway_keys (version, algorithm, public_pem, sealed_private, kek_id, created_at_ms, activates_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (version) DO NOTHING",
        )
        .bind(key.version)
        .bind(&key.algorithm)
        .bind(&key.public_pem)
        .bind(&key.sealed_private)
        .bind(&key.kek_id)
        .bind(key.created_at_ms)
        .bind(key.activates_at_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The newest `n` gateway keys, newest first.
    pub async fn gateway_keys_latest(&self, n: i64) -> Result<Vec<GatewayKey>, StoreError> {
        let rows: Vec<GatewayKey> = sqlx::query_as(
            "SELECT version, algorithm, public_pem, sealed_private, kek_id, created_at_ms, activates_at_ms \
             FROM gateway_keys ORDER BY version DESC LIMIT $1",
        )
        .bind(n)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }
}
