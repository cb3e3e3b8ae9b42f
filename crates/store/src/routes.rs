//! The operator's route table (SPEC §2.4). Rows arrive checked and in
//! canonical form (the `routing` crate validates them); the store keeps
//! them, refuses a second route for one side, kind and value, and loads the
//! whole table for resolution.

use crate::{Store, StoreError};

/// One stored route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRecord {
    pub id: String,
    /// `merchant` or `wallet`.
    pub side: String,
    /// `account`, `acquirer_id`, `url_host`, `payment_code_prefix` or
    /// `token_range`.
    pub kind: String,
    /// The matcher's canonical value.
    pub value: String,
    pub participant_id: String,
    /// The operator token that made it.
    pub created_by: String,
    pub created_at_ms: i64,
}

type RouteRow = (String, String, String, String, String, String, i64);

const COLUMNS: &str = "id, side, kind, value, participant_id, created_by, created_at_ms";

fn record(
    (id, side, kind, value, participant_id, created_by, created_at_ms): RouteRow,
) -> RouteRecord {
    RouteRecord {
        id,
        side,
        kind,
        value,
        participant_id,
        created_by,
        created_at_ms,
    }
}

impl Store {
    /// Add a route. `Conflict` when a route for the same side, kind and
    /// value (or the same id) exists; `Refused` when the table already
    /// holds `routes_max` routes.
    pub async fn route_insert(
        &self,
        route: RouteRecord,
        routes_max: i64,
    ) -> Result<RouteRecord, StoreError> {
        let r = route.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM routes")
                    .fetch_one(&mut *conn)
                    .await?;
                if count >= routes_max {
                    return Err(StoreError::Refused(format!(
                        "the route table holds its limit of {routes_max} routes"
                    )));
                }
                let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO routes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
                )))
                .bind(&r.id)
                .bind(&r.side)
                .bind(&r.kind)
                .bind(&r.value)
                .bind(&r.participant_id)
                .bind(&r.created_by)
                .bind(r.created_at_ms)
                .execute(&mut *conn)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(());
                }
                let existing: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM routes WHERE side = $1 AND kind = $2 AND value = $3",
                )
                .bind(&r.side)
                .bind(&r.kind)
                .bind(&r.value)
                .fetch_optional(&mut *conn)
                .await?;
                Err(StoreError::Conflict(match existing {
                    Some((id,)) => format!(
                        "route {id} already maps {} {} {:?}",
                        r.side, r.kind, r.value
                    ),
                    None => format!("route {} exists", r.id),
                }))
            })
        })
        .await?;
        Ok(route)
    }

    /// Every route, by side, kind and value (the table is bounded by the
    /// insert's `routes_max`).
    pub async fn route_list(&self) -> Result<Vec<RouteRecord>, StoreError> {
        let rows: Vec<RouteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM routes ORDER BY side, kind, value"
        )))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// The routes of one side, for resolution.
    pub async fn route_load(&self, side: &str) -> Result<Vec<RouteRecord>, StoreError> {
        let rows: Vec<RouteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM routes WHERE side = $1 ORDER BY id"
        )))
        .bind(side)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// One route by id.
    pub async fn route_get(&self, id: &str) -> Result<Option<RouteRecord>, StoreError> {
        let row: Option<RouteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM routes WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(record))
    }

    /// Delete a route; `NotFound` when there is none with this id.
    pub async fn route_delete(&self, id: &str) -> Result<RouteRecord, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let row: Option<RouteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM routes WHERE id = $1"
                )))
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound(format!("route {id}")));
                };
                sqlx::query("DELETE FROM routes WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                Ok(record(row))
            })
        })
        .await
    }
}
