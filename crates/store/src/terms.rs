//! What a payment was agreed at (its merchant, FX legs and fee split), and
//! the single use of orders.

use crate::{Store, StoreError};

/// A payment's terms, in minor units of the payer's currency (FX legs)
/// and of the merchant's (fee).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentTerms {
    pub payment_id: String,
    pub merchant_name: String,
    pub acquirer_merchant_id: String,
    pub merchant_country: String,
    pub mcc: String,
    pub payer_country: String,
    pub fx_provider: Option<String>,
    pub fx_rate: Option<String>,
    pub markup_bps: Option<i64>,
    pub fx_provider_minor: i64,
    pub fx_markup_minor: i64,
    pub fx_rounding_minor: i64,
    pub fee_discount: i64,
    pub fee_acquirer: i64,
    pub fee_wallet: i64,
    pub fee_gateway: i64,
    pub fee_scheme: i64,
    pub created_at_ms: i64,
    /// Balance of payments: where the payer and the merchant reside (ISO
    /// 3166), and the payment's purpose (ISO 20022 ExternalPurpose1Code).
    pub payer_residency: String,
    pub merchant_residency: String,
    pub purpose: String,
}

const COLUMNS: &str = "payment_id, merchant_name, acquirer_merchant_id, merchant_country, mcc, payer_country, \
    fx_provider, fx_rate, markup_bps, fx_provider_minor, fx_markup_minor, fx_rounding_minor, fee_discount, \
    fee_acquirer, fee_wallet, fee_gateway, fee_scheme, created_at_ms, payer_residency, merchant_residency, purpose";

/// Copy a payment's statistics dimensions from its terms onto its row
/// (migration 0019): a no-op until both rows exist, so either writer calls
/// it.
pub(crate) async fn copy_dimensions(
    conn: &mut sqlx::AnyConnection,
    payment_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE payments SET \
         payer_country = (SELECT t.payer_country FROM payment_terms t WHERE t.payment_id = $1), \
         merchant_country = (SELECT t.merchant_country FROM payment_terms t WHERE t.payment_id = $1), \
         mcc = (SELECT t.mcc FROM payment_terms t WHERE t.payment_id = $1), \
         payer_residency = (SELECT t.payer_residency FROM payment_terms t WHERE t.payment_id = $1), \
         merchant_residency = (SELECT t.merchant_residency FROM payment_terms t WHERE t.payment_id = $1), \
         purpose = (SELECT t.purpose FROM payment_terms t WHERE t.payment_id = $1) \
         WHERE id = $1 AND EXISTS (SELECT 1 FROM payment_terms t WHERE t.payment_id = $1)",
    )
    .bind(payment_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn payment_terms_put(&self, t: &PaymentTerms) -> Result<(), StoreError> {
        let t = t.clone();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO payment_terms ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                     $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
                )))
                .bind(&t.payment_id)
                .bind(&t.merchant_name)
                .bind(&t.acquirer_merchant_id)
                .bind(&t.merchant_country)
                .bind(&t.mcc)
                .bind(&t.payer_country)
                .bind(&t.fx_provider)
                .bind(&t.fx_rate)
                .bind(t.markup_bps)
                .bind(t.fx_provider_minor)
                .bind(t.fx_markup_minor)
                .bind(t.fx_rounding_minor)
                .bind(t.fee_discount)
                .bind(t.fee_acquirer)
                .bind(t.fee_wallet)
                .bind(t.fee_gateway)
                .bind(t.fee_scheme)
                .bind(t.created_at_ms)
                .bind(&t.payer_residency)
                .bind(&t.merchant_residency)
                .bind(&t.purpose)
                .execute(&mut *conn)
                .await?;
                copy_dimensions(conn, &t.payment_id).await
            })
        })
        .await
    }

    pub async fn payment_terms_get(
        &self,
        payment_id: &str,
    ) -> Result<Option<PaymentTerms>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payment_terms WHERE payment_id = $1"
        )))
        .bind(payment_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Claim an order for a payment: `false` when another payment holds
    /// it already.
    pub async fn order_claim(
        &self,
        acquirer_id: &str,
        order_id: &str,
        payment_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (a, o, p) = (
            acquirer_id.to_string(),
            order_id.to_string(),
            payment_id.to_string(),
        );
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "INSERT INTO used_orders (acquirer_id, order_id, payment_id, created_at_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (acquirer_id, order_id) DO NOTHING",
                )
                .bind(&a)
                .bind(&o)
                .bind(&p)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    /// Release an order a failed payment held (only that payment's claim).
    pub async fn order_release(
        &self,
        acquirer_id: &str,
        order_id: &str,
        payment_id: &str,
    ) -> Result<(), StoreError> {
        let (a, o, p) = (
            acquirer_id.to_string(),
            order_id.to_string(),
            payment_id.to_string(),
        );
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM used_orders WHERE acquirer_id = $1 AND order_id = $2 AND payment_id = $3",
                )
                .bind(&a)
                .bind(&o)
                .bind(&p)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }
}

/// A refund as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RefundRecord {
    pub id: String,
    pub payment_id: String,
    pub acquirer_id: String,
    pub request_id: String,
    pub merchant_minor: i64,
    pub merchant_currency: String,
    pub payer_minor: i64,
    pub payer_currency: String,
    /// What earlier refunds of the payment had taken (merchant currency).
    pub refunded_before_minor: i64,
    /// `pending`, `succeeded`, `failed` or `unknown`.
    pub state: String,
    pub code: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The cycle it belongs to: the clearing date it was given when
    /// accepted (`None` for refunds from before clearing existed).
    pub clearing_date: Option<String>,
}

const REFUND_COLUMNS: &str = "id, payment_id, acquirer_id, request_id, merchant_minor, merchant_currency, payer_minor, \
    payer_currency, refunded_before_minor, state, code, created_at_ms, updated_at_ms, clearing_date";

/// What claiming a refund came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundClaim {
    /// Claimed: earlier refunds had taken this much (merchant currency).
    Claimed {
        refunded_before: i64,
    },
    /// Another refund of the payment is still being carried out.
    InFlight,
    /// It would take more than is left: this much is left.
    Exceeds {
        remaining: i64,
    },
    NotFound,
}

impl Store {
    /// Claim `amount` of a payment whose merchant amount is `total` for
    /// refund `refund_id`, atomically: one refund of a payment at a time,
    /// never beyond the total.
    pub async fn refund_claim(
        &self,
        payment_id: &str,
        refund_id: &str,
        amount: i64,
        total: i64,
    ) -> Result<RefundClaim, StoreError> {
        let (p, r) = (payment_id.to_string(), refund_id.to_string());
        self.write(move |conn| {
            Box::pin(async move {
                let row: Option<(i64,)> = sqlx::query_as(
                    "UPDATE payment_terms SET refunded_minor = refunded_minor + $2, refund_in_flight = $3 \
                     WHERE payment_id = $1 AND refund_in_flight IS NULL AND refunded_minor + $2 <= $4 \
                     RETURNING refunded_minor",
                )
                .bind(&p)
                .bind(amount)
                .bind(&r)
                .bind(total)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some((after,)) = row {
                    return Ok(RefundClaim::Claimed {
                        refunded_before: after - amount,
                    });
                }
                let now: Option<(i64, Option<String>)> = sqlx::query_as(
                    "SELECT refunded_minor, refund_in_flight FROM payment_terms WHERE payment_id = $1",
                )
                .bind(&p)
                .fetch_optional(&mut *conn)
                .await?;
                Ok(match now {
                    None => RefundClaim::NotFound,
                    Some((_, Some(_))) => RefundClaim::InFlight,
                    Some((refunded, None)) => RefundClaim::Exceeds {
                        remaining: total.saturating_sub(refunded),
                    },
                })
            })
        })
        .await
    }

    /// How much of a payment was refunded (merchant currency), and whether
    /// a refund is in flight.
    pub async fn payment_refunded(&self, payment_id: &str) -> Result<(i64, bool), StoreError> {
        let row: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT refunded_minor, refund_in_flight FROM payment_terms WHERE payment_id = $1",
        )
        .bind(payment_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map_or((0, false), |(r, f)| (r, f.is_some())))
    }

    /// End refund `refund_id`'s claim: kept (`succeeded`) or given back.
    pub async fn refund_settle(
        &self,
        payment_id: &str,
        refund_id: &str,
        amount: i64,
        kept: bool,
    ) -> Result<(), StoreError> {
        let (p, r) = (payment_id.to_string(), refund_id.to_string());
        self.write(move |conn| {
            Box::pin(async move {
                let back = if kept { 0 } else { amount };
                let done = sqlx::query(
                    "UPDATE payment_terms SET refunded_minor = refunded_minor - $3, refund_in_flight = NULL \
                     WHERE payment_id = $1 AND refund_in_flight = $2",
                )
                .bind(&p)
                .bind(&r)
                .bind(back)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "refund {r} does not hold payment {p}'s claim"
                    )));
                }
                if kept {
                    let (refunded, total): (i64, i64) = sqlx::query_as(
                        "SELECT t.refunded_minor, p.merchant_amount FROM payment_terms t \
                         JOIN payments p ON p.id = t.payment_id WHERE t.payment_id = $1",
                    )
                    .bind(&p)
                    .fetch_one(&mut *conn)
                    .await?;
                    crate::risk::release_on_refund(conn, &p, &r, refunded, total).await?;
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn refund_insert(&self, r: &RefundRecord) -> Result<(), StoreError> {
        let r = r.clone();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                )))
                .bind(&r.id)
                .bind(&r.payment_id)
                .bind(&r.acquirer_id)
                .bind(&r.request_id)
                .bind(r.merchant_minor)
                .bind(&r.merchant_currency)
                .bind(r.payer_minor)
                .bind(&r.payer_currency)
                .bind(r.refunded_before_minor)
                .bind(&r.state)
                .bind(&r.code)
                .bind(r.created_at_ms)
                .bind(r.updated_at_ms)
                .bind(&r.clearing_date)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn refund_update(
        &self,
        id: &str,
        state: &str,
        code: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE refunds SET state = $2, code = $3, updated_at_ms = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(code)
        .bind(now_ms);
        self.write_statement(update).await?;
        Ok(())
    }

    pub async fn refund_get(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A payment's refunds, oldest first.
    pub async fn refunds_of(&self, payment_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY created_at_ms, id"
        )))
        .bind(payment_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Refunds whose outcome is not known yet (`pending`: cut off before
    /// its answer was stored; `unknown`), last changed before
    /// `updated_before_ms`, oldest first.
    pub async fn refunds_open(
        &self,
        updated_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<RefundRecord>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE state IN ('pending', 'unknown') \
             AND updated_at_ms < $1 ORDER BY updated_at_ms, id LIMIT $2"
        )))
        .bind(updated_before_ms)
        .bind(limit.clamp(0, crate::PAYMENT_LIST_MAX))
        .fetch_all(self.pool())
        .await?)
    }
}
