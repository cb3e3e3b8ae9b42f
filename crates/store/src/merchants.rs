//! The acquirers' merchant registry and the identifiers that find them.

use participant::{Identifier, Merchant};

use crate::{Store, StoreError};

/// A registered merchant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantRecord {
    /// The gateway merchant id.
    pub id: String,
    pub acquirer_id: String,
    pub merchant: Merchant,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

type MerchantRow = (
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

const COLUMNS: &str = "id, acquirer_id, acquirer_merchant_id, name, mcc, country, city, time_zone, kyb_status, created_at_ms, updated_at_ms";

/// Whether a registration made a new merchant or updated one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
}

impl Store {
    /// Register `merchant` for `acquirer_id`, or update it when the
    /// acquirer registered its `acquirer_merchant_id` before (keeping its
    /// gateway id; `new_id` is used only for a new one). Its identifiers
    /// are replaced; one that points to another merchant is a `Conflict`
    /// and nothing changes.
    pub async fn merchant_upsert(
        &self,
        acquirer_id: &str,
        merchant: Merchant,
        new_id: &str,
        now_ms: i64,
    ) -> Result<(MerchantRecord, Upserted), StoreError> {
        let (acquirer, new_id) = (acquirer_id.to_string(), new_id.to_string());
        self.write(move |conn| {
            Box::pin(async move { upsert_in(conn, &acquirer, merchant, &new_id, now_ms).await })
        })
        .await
    }

    /// Register many merchants of one acquirer in one durable transaction,
    /// each row standing alone (a savepoint each): the answer has each
    /// row's outcome, and a refused row changes nothing.
    pub async fn merchant_upsert_many(
        &self,
        acquirer_id: &str,
        rows: Vec<(Merchant, String)>,
        now_ms: i64,
    ) -> Result<Vec<Result<Upserted, StoreError>>, StoreError> {
        let acquirer = acquirer_id.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let mut out = Vec::with_capacity(rows.len());
                for (merchant, new_id) in rows {
                    sqlx::query("SAVEPOINT bulk_row")
                        .execute(&mut *conn)
                        .await?;
                    match upsert_in(conn, &acquirer, merchant, &new_id, now_ms).await {
                        Ok((_, how)) => {
                            sqlx::query("RELEASE SAVEPOINT bulk_row")
                                .execute(&mut *conn)
                                .await?;
                            out.push(Ok(how));
                        }
                        Err(e @ StoreError::Conflict(_)) => {
                            sqlx::query("ROLLBACK TO SAVEPOINT bulk_row")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("RELEASE SAVEPOINT bulk_row")
                                .execute(&mut *conn)
                                .await?;
                            out.push(Err(e));
                        }
                        Err(other) => return Err(other),
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    /// One merchant by gateway id.
    pub async fn merchant_get(&self, id: &str) -> Result<Option<MerchantRecord>, StoreError> {
        let row: Option<MerchantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM merchants WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(Some(self.merchant_with_identifiers(row).await?)),
            None => Ok(None),
        }
    }

    /// One merchant by its acquirer's own id for it.
    pub async fn merchant_of_acquirer(
        &self,
        acquirer_id: &str,
        acquirer_merchant_id: &str,
    ) -> Result<Option<MerchantRecord>, StoreError> {
        let row: Option<MerchantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM merchants WHERE acquirer_id = $1 AND acquirer_merchant_id = $2"
        )))
        .bind(acquirer_id)
        .bind(acquirer_merchant_id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(Some(self.merchant_with_identifiers(row).await?)),
            None => Ok(None),
        }
    }

    /// The merchant an identifier points to.
    pub async fn merchant_find(
        &self,
        kind: &str,
        value: &str,
    ) -> Result<Option<MerchantRecord>, StoreError> {
        let id: Option<(String,)> = sqlx::query_as(
            "SELECT merchant_id FROM merchant_identifiers WHERE kind = $1 AND value = $2",
        )
        .bind(kind)
        .bind(value)
        .fetch_optional(self.pool())
        .await?;
        match id {
            Some((id,)) => self.merchant_get(&id).await,
            None => Ok(None),
        }
    }

    /// An acquirer's merchants by gateway id, `limit` at a time after
    /// `after` (keyset paging).
    pub async fn merchant_list(
        &self,
        acquirer_id: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<MerchantRecord>, StoreError> {
        let rows: Vec<MerchantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM merchants WHERE acquirer_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        )))
        .bind(acquirer_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.merchant_with_identifiers(row).await?);
        }
        Ok(out)
    }

    async fn merchant_with_identifiers(
        &self,
        row: MerchantRow,
    ) -> Result<MerchantRecord, StoreError> {
        let (
            id,
            acquirer_id,
            acquirer_merchant_id,
            name,
            mcc,
            country,
            city,
            time_zone,
            kyb_status,
            created_at_ms,
            updated_at_ms,
        ) = row;
        let identifiers: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, value FROM merchant_identifiers WHERE merchant_id = $1 ORDER BY kind, value",
        )
        .bind(&id)
        .fetch_all(self.pool())
        .await?;
        Ok(MerchantRecord {
            id,
            acquirer_id,
            merchant: Merchant {
                acquirer_merchant_id,
                name,
                mcc,
                country,
                city,
                time_zone,
                kyb_status,
                identifiers: identifiers
                    .into_iter()
                    .map(|(kind, value)| Identifier { kind, value })
                    .collect(),
            },
            created_at_ms,
            updated_at_ms,
        })
    }
}

/// Register or update one merchant inside a transaction.
async fn upsert_in(
    conn: &mut sqlx::AnyConnection,
    acquirer: &str,
    m: Merchant,
    new_id: &str,
    now_ms: i64,
) -> Result<(MerchantRecord, Upserted), StoreError> {
    let existing: Option<(String, i64)> = sqlx::query_as(
        "SELECT id, created_at_ms FROM merchants WHERE acquirer_id = $1 AND acquirer_merchant_id = $2",
    )
    .bind(acquirer)
    .bind(&m.acquirer_merchant_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (id, created_at_ms, how) = match existing {
        Some((id, created)) => {
            sqlx::query(
                "UPDATE merchants SET name = $1, mcc = $2, country = $3, city = $4, time_zone = $5, \
                 kyb_status = $6, updated_at_ms = $7 WHERE id = $8",
            )
            .bind(&m.name)
            .bind(&m.mcc)
            .bind(&m.country)
            .bind(&m.city)
            .bind(&m.time_zone)
            .bind(&m.kyb_status)
            .bind(now_ms)
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM merchant_identifiers WHERE merchant_id = $1")
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            (id, created, Upserted::Updated)
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO merchants ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
            )))
            .bind(new_id)
            .bind(acquirer)
            .bind(&m.acquirer_merchant_id)
            .bind(&m.name)
            .bind(&m.mcc)
            .bind(&m.country)
            .bind(&m.city)
            .bind(&m.time_zone)
            .bind(&m.kyb_status)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
            (new_id.to_string(), now_ms, Upserted::Created)
        }
    };
    for ident in &m.identifiers {
        let done = sqlx::query(
            "INSERT INTO merchant_identifiers (kind, value, merchant_id, acquirer_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(&ident.kind)
        .bind(&ident.value)
        .bind(&id)
        .bind(acquirer)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "{} {} already points to another merchant",
                ident.kind, ident.value
            )));
        }
    }
    Ok((
        MerchantRecord {
            id,
            acquirer_id: acquirer.to_string(),
            merchant: m,
            created_at_ms,
            updated_at_ms: now_ms,
        },
        how,
    ))
}
