//! FX: providers' rates and their history, markup rules, settings, and
//! firm quotes used at most once.

use crate::{Store, StoreError};

/// A provider's two-sided rate for one pair (decimal text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FxRateRow {
    pub provider_id: String,
    pub base: String,
    pub quote: String,
    pub bid: String,
    pub ask: String,
    pub source: String,
    pub at_ms: i64,
}

/// A markup rule; an empty field matches anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkupRow {
    pub participant_id: String,
    pub from_currency: String,
    pub to_currency: String,
    pub bps: i64,
}

/// A firm quote.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct QuoteRow {
    pub id: String,
    pub participant_id: String,
    pub provider_id: String,
    /// The provider's own reference of its firm quote, or empty.
    pub provider_ref: String,
    pub from_currency: String,
    pub to_currency: String,
    /// The customer's exact price (after markup) as a fraction.
    pub price_num: String,
    pub price_den: String,
    /// The same, as decimal text for display.
    pub rate: String,
    pub markup_bps: i64,
    pub pay_minor: i64,
    pub receive_minor: i64,
    pub payer_id: String,
    pub merchant_ref: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub used_by: Option<String>,
}

/// What asking to use a quote came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuoteUse {
    /// Now used; it will not be used again.
    Used(Box<QuoteRow>),
    NotFound,
    AlreadyUsed,
    Expired,
    /// Bound to something else: the field that differs.
    Mismatch(&'static str),
}

type RateRow = (String, String, String, String, String, String, i64);

fn rate_from(r: RateRow) -> FxRateRow {
    let (provider_id, base, quote, bid, ask, source, at_ms) = r;
    FxRateRow {
        provider_id,
        base,
        quote,
        bid,
        ask,
        source,
        at_ms,
    }
}

const QUOTE_COLUMNS: &str = "id, participant_id, provider_id, provider_ref, from_currency, to_currency, price_num, price_den, rate, \
     markup_bps, pay_minor, receive_minor, payer_id, merchant_ref, created_at_ms, expires_at_ms, used_at_ms, used_by";

impl Store {
    /// Record rates: each joins the history, and becomes the provider's
    /// current rate for its pair unless a newer one is there already.
    pub async fn fx_rates_put(
        &self,
        rows: Vec<FxRateRow>,
        received_at_ms: i64,
    ) -> Result<(), StoreError> {
        let put = self.write(move |conn| {
            Box::pin(async move {
                for r in &rows {
                    sqlx::query(
                        "INSERT INTO fx_rate_history (provider_id, base, quote, bid, ask, source, at_ms, received_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&r.provider_id)
                    .bind(&r.base)
                    .bind(&r.quote)
                    .bind(&r.bid)
                    .bind(&r.ask)
                    .bind(&r.source)
                    .bind(r.at_ms)
                    .bind(received_at_ms)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO fx_rates (provider_id, base, quote, bid, ask, source, at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (provider_id, base, quote) DO UPDATE SET bid = excluded.bid, ask = excluded.ask, \
                           source = excluded.source, at_ms = excluded.at_ms \
                         WHERE fx_rates.at_ms <= excluded.at_ms",
                    )
                    .bind(&r.provider_id)
                    .bind(&r.base)
                    .bind(&r.quote)
                    .bind(&r.bid)
                    .bind(&r.ask)
                    .bind(&r.source)
                    .bind(r.at_ms)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await;
        self.cache.rates.clear();
        put
    }

    /// Every provider's current rate of every pair (from this node's copy
    /// when it has one: see `cache`).
    pub async fn fx_rates_current(&self) -> Result<Vec<FxRateRow>, StoreError> {
        let shelf = &self.cache.rates;
        if let Some(rates) = shelf.get(&()) {
            return Ok(rates);
        }
        let generation = shelf.generation();
        let rows: Vec<RateRow> = sqlx::query_as(
            "SELECT provider_id, base, quote, bid, ask, source, at_ms FROM fx_rates ORDER BY provider_id, base, quote",
        )
        .fetch_all(self.pool())
        .await?;
        let rates: Vec<FxRateRow> = rows.into_iter().map(rate_from).collect();
        shelf.put((), rates.clone(), generation);
        Ok(rates)
    }

    /// A provider's rates of one pair, newest first.
    pub async fn fx_rate_history(
        &self,
        provider_id: &str,
        base: &str,
        quote: &str,
        limit: i64,
    ) -> Result<Vec<FxRateRow>, StoreError> {
        let rows: Vec<RateRow> = sqlx::query_as(
            "SELECT provider_id, base, quote, bid, ask, source, at_ms FROM fx_rate_history \
             WHERE provider_id = $1 AND base = $2 AND quote = $3 ORDER BY at_ms DESC LIMIT $4",
        )
        .bind(provider_id)
        .bind(base)
        .bind(quote)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(rate_from).collect())
    }

    /// Every markup rule (from this node's copy when it has one: see
    /// `cache`).
    pub async fn fx_markups(&self) -> Result<Vec<MarkupRow>, StoreError> {
        let shelf = &self.cache.markups;
        if let Some(rules) = shelf.get(&()) {
            return Ok(rules);
        }
        let generation = shelf.generation();
        let rules = self.fx_markups_stored().await?;
        shelf.put((), rules.clone(), generation);
        Ok(rules)
    }

    async fn fx_markups_stored(&self) -> Result<Vec<MarkupRow>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT participant_id, from_currency, to_currency, bps FROM fx_markups \
             ORDER BY participant_id, from_currency, to_currency",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(participant_id, from_currency, to_currency, bps)| MarkupRow {
                    participant_id,
                    from_currency,
                    to_currency,
                    bps,
                },
            )
            .collect())
    }

    /// Replace every markup rule at once.
    pub async fn fx_markups_replace(&self, rules: Vec<MarkupRow>) -> Result<(), StoreError> {
        let replaced = self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM fx_markups").execute(&mut *conn).await?;
                for r in &rules {
                    sqlx::query(
                        "INSERT INTO fx_markups (participant_id, from_currency, to_currency, bps) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&r.participant_id)
                    .bind(&r.from_currency)
                    .bind(&r.to_currency)
                    .bind(r.bps)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| match e {
                        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!(
                            "two markup rules for participant {:?}, {:?} → {:?}",
                            r.participant_id, r.from_currency, r.to_currency
                        )),
                        other => StoreError::Query(other),
                    })?;
                }
                Ok(())
            })
        })
        .await;
        self.cache.markups.clear();
        replaced
    }

    /// A setting (from this node's copy when it has one: see `cache`).
    pub async fn fx_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let shelf = &self.cache.settings;
        if let Some(value) = shelf.get(&name.to_string()) {
            return Ok(value);
        }
        let generation = shelf.generation();
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM fx_settings WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        let value = row.map(|(v,)| v);
        // Unset is kept too: it is the common case, and only
        // `fx_setting_set` changes it.
        shelf.put(name.to_string(), value.clone(), generation);
        Ok(value)
    }

    pub async fn fx_setting_set(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let set = sqlx::query(
            "INSERT INTO fx_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(self.pool())
        .await;
        self.cache.settings.clear();
        set?;
        Ok(())
    }

    pub async fn fx_quote_insert(&self, q: &QuoteRow) -> Result<(), StoreError> {
        let insert = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO fx_quotes ({QUOTE_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, NULL)"
        )))
        .bind(&q.id)
        .bind(&q.participant_id)
        .bind(&q.provider_id)
        .bind(&q.provider_ref)
        .bind(&q.from_currency)
        .bind(&q.to_currency)
        .bind(&q.price_num)
        .bind(&q.price_den)
        .bind(&q.rate)
        .bind(q.markup_bps)
        .bind(q.pay_minor)
        .bind(q.receive_minor)
        .bind(&q.payer_id)
        .bind(&q.merchant_ref)
        .bind(q.created_at_ms)
        .bind(q.expires_at_ms);
        self.write_statement(insert).await?;
        Ok(())
    }

    pub async fn fx_quote_get(&self, id: &str) -> Result<Option<QuoteRow>, StoreError> {
        let row: Option<QuoteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {QUOTE_COLUMNS} FROM fx_quotes WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row)
    }

    /// Quotes, newest first: one participant's, or everyone's.
    pub async fn fx_quotes_list(
        &self,
        participant_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<QuoteRow>, StoreError> {
        let rows: Vec<QuoteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {QUOTE_COLUMNS} FROM fx_quotes WHERE ($1 = '' OR participant_id = $1) \
             ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        )))
        .bind(participant_id.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Use a quote once: only by its participant, for the payer, merchant
    /// or order, pair and receive amount it was made for, before it
    /// expires. One statement decides, so two nodes cannot both use it.
    #[allow(clippy::too_many_arguments)]
    pub async fn fx_quote_use(
        &self,
        id: &str,
        participant_id: &str,
        payer_id: &str,
        merchant_ref: &str,
        from_currency: &str,
        to_currency: &str,
        receive_minor: i64,
        used_by: &str,
        now_ms: i64,
    ) -> Result<QuoteUse, StoreError> {
        let done = sqlx::query(
            "UPDATE fx_quotes SET used_at_ms = $1, used_by = $2 WHERE id = $3 AND used_at_ms IS NULL \
             AND expires_at_ms > $1 AND participant_id = $4 AND payer_id = $5 AND merchant_ref = $6 \
             AND from_currency = $7 AND to_currency = $8 AND receive_minor = $9",
        )
        .bind(now_ms)
        .bind(used_by)
        .bind(id)
        .bind(participant_id)
        .bind(payer_id)
        .bind(merchant_ref)
        .bind(from_currency)
        .bind(to_currency)
        .bind(receive_minor);
        let done = self.write_statement(done).await?;
        let Some(q) = self.fx_quote_get(id).await? else {
            return Ok(QuoteUse::NotFound);
        };
        if done == 1 {
            return Ok(QuoteUse::Used(Box::new(q)));
        }
        Ok(if q.participant_id != participant_id {
            // Another participant's quote is none of this one's business.
            QuoteUse::NotFound
        } else if q.used_at_ms.is_some() {
            QuoteUse::AlreadyUsed
        } else if q.expires_at_ms <= now_ms {
            QuoteUse::Expired
        } else if q.from_currency != from_currency || q.to_currency != to_currency {
            QuoteUse::Mismatch("pair")
        } else if q.payer_id != payer_id {
            QuoteUse::Mismatch("payer")
        } else if q.merchant_ref != merchant_ref {
            QuoteUse::Mismatch("merchant")
        } else {
            QuoteUse::Mismatch("receive")
        })
    }
}
