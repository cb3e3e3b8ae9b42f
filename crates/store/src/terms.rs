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
}

const COLUMNS: &str = "payment_id, merchant_name, acquirer_merchant_id, merchant_country, mcc, payer_country, \
    fx_provider, fx_rate, markup_bps, fx_provider_minor, fx_markup_minor, fx_rounding_minor, fee_discount, \
    fee_acquirer, fee_wallet, fee_gateway, fee_scheme, created_at_ms";

impl Store {
    pub async fn payment_terms_put(&self, t: &PaymentTerms) -> Result<(), StoreError> {
        let t = t.clone();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO payment_terms ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                     $11, $12, $13, $14, $15, $16, $17, $18)"
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
                .execute(&mut *conn)
                .await?;
                Ok(())
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
