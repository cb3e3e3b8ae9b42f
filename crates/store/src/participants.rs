//! Participants and their stage history.

use participant::{Record, Role, Stage};

use crate::{Store, StoreError};

/// A participant as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    pub record: Record,
    pub stage: Stage,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One move of a participant's stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageMove {
    pub seq: i64,
    pub from: Option<Stage>,
    pub to: Stage,
    pub actor: String,
    pub reason: String,
    pub at_ms: i64,
}

type ParticipantRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

const COLUMNS: &str = "id, legal_name, roles, country, currencies, settlement_currency, settlement_account, \
                       callback_base_url, contacts, stage, created_at_ms, updated_at_ms";

fn from_row(row: ParticipantRow) -> Option<Participant> {
    let (
        id,
        legal_name,
        roles,
        country,
        currencies,
        settlement_currency,
        settlement_account,
        callback_base_url,
        contacts,
        stage,
        created_at_ms,
        updated_at_ms,
    ) = row;
    Some(Participant {
        record: Record {
            id,
            legal_name,
            roles: roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(Role::parse)
                .collect::<Option<Vec<_>>>()?,
            country,
            currencies: currencies
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            settlement_currency,
            settlement_account,
            callback_base_url,
            contacts: contacts
                .split('\n')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
        },
        stage: Stage::parse(&stage)?,
        created_at_ms,
        updated_at_ms,
    })
}

impl Store {
    /// Register a participant at `applied`. `Conflict` when the id is taken.
    pub async fn participant_create(
        &self,
        record: Record,
        actor: &str,
        now_ms: i64,
    ) -> Result<Participant, StoreError> {
        let actor = actor.to_string();
        let r = record.clone();
        let created = self.write(move |conn| {
            Box::pin(async move {
                let roles: Vec<&str> = r.roles.iter().map(|x| x.as_str()).collect();
                let inserted = sqlx::query(
                    "INSERT INTO participants (id, legal_name, roles, country, currencies, settlement_currency, \
                       settlement_account, callback_base_url, contacts, stage, created_at_ms, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'applied', $10, $10) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&r.id)
                .bind(&r.legal_name)
                .bind(roles.join(","))
                .bind(&r.country)
                .bind(r.currencies.join(","))
                .bind(&r.settlement_currency)
                .bind(&r.settlement_account)
                .bind(&r.callback_base_url)
                .bind(r.contacts.join("\n"))
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                if inserted.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!("participant {} exists", r.id)));
                }
                sqlx::query(
                    "INSERT INTO participant_stage_history (participant_id, seq, from_stage, to_stage, actor, reason, at_ms) \
                     VALUES ($1, 1, NULL, 'applied', $2, 'registered', $3)",
                )
                .bind(&r.id)
                .bind(&actor)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await;
        self.cache.participant_list.clear();
        created?;
        Ok(Participant {
            record,
            stage: Stage::Applied,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        })
    }

    /// Replace a participant's record (its id and stage stay).
    /// `NotFound` for an unknown id.
    pub async fn participant_update(
        &self,
        record: Record,
        now_ms: i64,
    ) -> Result<Participant, StoreError> {
        let roles: Vec<&str> = record.roles.iter().map(|x| x.as_str()).collect();
        let done = sqlx::query(
            "UPDATE participants SET legal_name = $1, roles = $2, country = $3, currencies = $4, \
               settlement_currency = $5, settlement_account = $6, callback_base_url = $7, contacts = $8, \
               updated_at_ms = $9 WHERE id = $10",
        )
        .bind(&record.legal_name)
        .bind(roles.join(","))
        .bind(&record.country)
        .bind(record.currencies.join(","))
        .bind(&record.settlement_currency)
        .bind(&record.settlement_account)
        .bind(&record.callback_base_url)
        .bind(record.contacts.join("\n"))
        .bind(now_ms)
        .bind(&record.id)
        .execute(self.pool())
        .await;
        self.cache.participants.clear();
        self.cache.participant_list.clear();
        if done?.rows_affected() != 1 {
            return Err(StoreError::NotFound(format!("participant {}", record.id)));
        }
        self.participant_get(&record.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("participant {}", record.id)))
    }

    /// A participant (from this node's short-lived copy when it has one:
    /// see `cache`).
    pub async fn participant_get(&self, id: &str) -> Result<Option<Participant>, StoreError> {
        let shelf = &self.cache.participants;
        if let Some(p) = shelf.get(&id.to_string()) {
            return Ok(Some(p));
        }
        let generation = shelf.generation();
        let row: Option<ParticipantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM participants WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let found = row.and_then(from_row);
        if let Some(p) = &found {
            shelf.put(id.to_string(), p.clone(), generation);
        }
        Ok(found)
    }

    /// Every participant (from this node's copy when it has one: see
    /// `cache`).
    pub async fn participant_list(&self) -> Result<Vec<Participant>, StoreError> {
        let shelf = &self.cache.participant_list;
        if let Some(all) = shelf.get(&()) {
            return Ok(all);
        }
        let generation = shelf.generation();
        let rows: Vec<ParticipantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM participants ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        let all: Vec<Participant> = rows.into_iter().filter_map(from_row).collect();
        shelf.put((), all.clone(), generation);
        Ok(all)
    }

    /// Move a participant's stage if the move is legal, recording who and
    /// why. `NotFound` for an unknown id; `IllegalMove` otherwise refused.
    pub async fn participant_move(
        &self,
        id: &str,
        to: Stage,
        actor: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<StageMove, StoreError> {
        let (id, actor, reason) = (id.to_string(), actor.to_string(), reason.to_string());
        let moved = self.write(move |conn| {
            Box::pin(async move {
                let current: Option<(String,)> = sqlx::query_as("SELECT stage FROM participants WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let from = current
                    .and_then(|(s,)| Stage::parse(&s))
                    .ok_or_else(|| StoreError::NotFound(format!("participant {id}")))?;
                from.transition(to).map_err(|e| StoreError::IllegalMove(e.to_string()))?;
                let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) + 1 FROM participant_stage_history WHERE participant_id = $1")
                    .bind(&id)
                    .fetch_one(&mut *conn)
                    .await?;
                sqlx::query("UPDATE participants SET stage = $1, updated_at_ms = $2 WHERE id = $3")
                    .bind(to.as_str())
                    .bind(now_ms)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO participant_stage_history (participant_id, seq, from_stage, to_stage, actor, reason, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(seq)
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(&actor)
                .bind(&reason)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                Ok(StageMove { seq, from: Some(from), to, actor, reason, at_ms: now_ms })
            })
        })
        .await;
        self.cache.participants.clear();
        self.cache.participant_list.clear();
        moved
    }

    pub async fn participant_history(&self, id: &str) -> Result<Vec<StageMove>, StoreError> {
        let rows: Vec<(i64, Option<String>, String, String, String, i64)> = sqlx::query_as(
            "SELECT seq, from_stage, to_stage, actor, reason, at_ms FROM participant_stage_history \
             WHERE participant_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(seq, from, to, actor, reason, at_ms)| {
                Some(StageMove {
                    seq,
                    from: from.and_then(|f| Stage::parse(&f)),
                    to: Stage::parse(&to)?,
                    actor,
                    reason,
                    at_ms,
                })
            })
            .collect())
    }
}
