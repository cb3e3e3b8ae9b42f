//! The unified information interface (SPEC §2.10, docs/reports.md):
//! statistics over any window for the operator (`/v1/admin/stats`) and the
//! regulator (`/v1/reports/stats`), and the daily regulatory report made
//! when each clearing cycle closes, kept with its SHA-256 and downloaded
//! through the regulator's API.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use store::{StatsDim, StatsFilter, StatsRow, Store};

use crate::auth::{AnyRole, OperatorOnly};
use crate::clearing::{check_date, download, hex};
use crate::payments::PaymentsConfig;
use crate::problem::ApiError;
use crate::{AppState, now_ms, rfc3339};

/// Longest window one statistics query covers.
pub const STATS_WINDOW_DAYS_MAX: i64 = 366;
/// Groups per page: the default and the most.
pub const STATS_PAGE_DEFAULT: usize = 100;
pub const STATS_PAGE_MAX: usize = 1_000;
/// Payments the daily report lists as the largest.
pub const REPORT_LARGEST: i64 = 10;
const DAY_MS: i64 = 86_400_000;

/// `GET …/stats` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Start of the window (RFC 3339, inclusive). Default: a day before `to`.
    pub from: Option<String>,
    /// End of the window (RFC 3339, exclusive). Default: now.
    pub to: Option<String>,
    /// Comma-separated: direction, corridor, wallet, acquirer, participant,
    /// currency, mode, status, mcc, payer_residency, merchant_residency,
    /// purpose, day. None: one total.
    pub group_by: Option<String>,
    /// The time zone of `day` (IANA). Default: the clearing time zone.
    pub time_zone: Option<String>,
    /// Only payments of this clearing date.
    pub clearing_date: Option<String>,
    /// Only payments in this state.
    pub status: Option<String>,
    /// Only payments of this participant (as wallet or acquirer).
    pub participant: Option<String>,
    pub direction: Option<String>,
    pub mode: Option<String>,
    /// Groups per page (1 to 1000, default 100).
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// An amount in one currency, minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurrencyAmount {
    pub currency: String,
    pub count: i64,
    pub minor: i64,
}

/// One group of payments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatsGroup {
    /// The group's value of each dimension (`day`: YYYY-MM-DD).
    pub key: BTreeMap<String, String>,
    pub count: i64,
    /// Merchant amounts per original currency.
    pub amounts: Vec<CurrencyAmount>,
    /// In the reporting currency, as each payment recorded it when it was
    /// booked.
    pub reporting_minor: i64,
    /// Payments with no reporting amount (too small to show in it).
    pub reporting_missing: i64,
}

/// Statistics: one page of groups, in key order.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatsOut {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub group_by: Vec<String>,
    pub reporting_currency: String,
    pub groups: Vec<StatsGroup>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn bad(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::new("FIELD_INVALID", why.into()).field(field)
}

fn instant(field: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            bad(
                field,
                format!("{field} is an RFC 3339 time, e.g. 2026-12-06T00:00:00Z"),
            )
        })
}

fn one_of(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(bad(
            field,
            format!("{field} is one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// A checked statistics query.
struct Checked {
    dims: Vec<StatsDim>,
    filter: StatsFilter,
    zone: jiff::tz::TimeZone,
    zone_name: String,
    limit: usize,
    after: Option<Vec<String>>,
}

fn check(q: &StatsQuery, default_zone: &str) -> Result<Checked, ApiError> {
    let to = match &q.to {
        Some(t) => instant("to", t)?,
        None => now_ms(),
    };
    let from = match &q.from {
        Some(t) => instant("from", t)?,
        None => to.saturating_sub(DAY_MS),
    };
    if from >= to {
        return Err(bad("from", "from is before to"));
    }
    if to - from > STATS_WINDOW_DAYS_MAX * DAY_MS {
        return Err(bad(
            "to",
            format!("a window is at most {STATS_WINDOW_DAYS_MAX} days"),
        ));
    }
    let mut dims = Vec::new();
    for name in q.group_by.as_deref().unwrap_or("").split(',') {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let dim = StatsDim::parse(name).ok_or_else(|| {
            bad(
                "group_by",
                format!(
                    "unknown dimension {:?}: one of {}",
                    name.chars().take(32).collect::<String>(),
                    StatsDim::ALL.map(StatsDim::as_str).join(", ")
                ),
            )
        })?;
        if dims.contains(&dim) {
            return Err(bad("group_by", format!("{name} is named twice")));
        }
        dims.push(dim);
    }
    let zone_name = q.time_zone.clone().unwrap_or_else(|| default_zone.into());
    let zone = jiff::tz::TimeZone::get(&zone_name)
        .map_err(|_| bad("time_zone", "not an IANA time zone, e.g. Asia/Shanghai"))?;
    if let Some(d) = &q.clearing_date {
        check_date(d).map_err(|_| bad("clearing_date", "a date, YYYY-MM-DD"))?;
    }
    one_of(
        "status",
        &q.status,
        &payment::State::ALL.map(payment::State::as_str),
    )?;
    one_of(
        "direction",
        &q.direction,
        &["inbound", "outbound", "transit", "domestic"],
    )?;
    one_of("mode", &q.mode, &["mpm", "cpm"])?;
    if q.participant
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.len() > 64)
    {
        return Err(bad("participant", "1 to 64 characters"));
    }
    let limit = q.limit.unwrap_or(STATS_PAGE_DEFAULT);
    if !(1..=STATS_PAGE_MAX).contains(&limit) {
        return Err(bad("limit", format!("1 to {STATS_PAGE_MAX}")));
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            let bytes = (0..c.len())
                .step_by(2)
                .map(|i| c.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                .collect::<Option<Vec<u8>>>();
            bytes
                .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
                .ok_or_else(|| bad("cursor", "not a cursor this API gave"))
        })
        .transpose()?;
    Ok(Checked {
        dims,
        filter: StatsFilter {
            from_ms: from,
            to_ms: to,
            utc_offset_ms: 0,
            clearing_date: q.clearing_date.clone(),
            status: q.status.clone(),
            participant: q.participant.clone(),
            direction: q.direction.clone(),
            mode: q.mode.clone(),
        },
        zone,
        zone_name,
        limit,
        after,
    })
}

/// The window cut where the zone's UTC offset changes: pieces of one
/// offset each, so the store can count local days with arithmetic.
fn constant_offsets(zone: &jiff::tz::TimeZone, from: i64, to: i64) -> Vec<(i64, i64, i64)> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let Ok(at) = jiff::Timestamp::from_millisecond(start) else {
            break;
        };
        let offset = i64::from(zone.to_offset(at).seconds()) * 1000;
        let next = zone
            .following(at)
            .next()
            .map_or(i64::MAX, |t| t.timestamp().as_millisecond());
        let end = next.clamp(start + 1, to);
        out.push((start, end, offset));
        start = end;
    }
    out
}

/// The store's rows over the whole window, a day counted in `zone`.
pub async fn rows(
    store: &Store,
    dims: &[StatsDim],
    filter: &StatsFilter,
    zone: &jiff::tz::TimeZone,
) -> Result<Vec<StatsRow>, store::StoreError> {
    if !dims.contains(&StatsDim::Day) {
        return store.stats(dims, filter).await;
    }
    let mut out = Vec::new();
    for (from_ms, to_ms, utc_offset_ms) in constant_offsets(zone, filter.from_ms, filter.to_ms) {
        let piece = StatsFilter {
            from_ms,
            to_ms,
            utc_offset_ms,
            ..filter.clone()
        };
        out.extend(store.stats(dims, &piece).await?);
    }
    Ok(out)
}

/// Merge the store's rows (by currency, and by local day number) into
/// groups keyed by the dimensions in order.
pub fn merge(dims: &[StatsDim], rows: &[StatsRow]) -> BTreeMap<Vec<String>, StatsGroup> {
    let mut groups: BTreeMap<Vec<String>, StatsGroup> = BTreeMap::new();
    let mut days: BTreeMap<i64, String> = BTreeMap::new();
    for r in rows {
        let mut keyed = r.keys.iter();
        let mut key = Vec::with_capacity(dims.len());
        for d in dims {
            if *d == StatsDim::Day {
                let day = days.entry(r.bucket).or_insert_with(|| {
                    jiff::Timestamp::from_millisecond(r.bucket.saturating_mul(DAY_MS))
                        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
                        .unwrap_or_default()
                });
                key.push(day.clone());
            } else {
                key.push(keyed.next().cloned().unwrap_or_default());
            }
        }
        let g = groups.entry(key.clone()).or_insert_with(|| StatsGroup {
            key: dims
                .iter()
                .zip(&key)
                .map(|(d, v)| (d.as_str().to_string(), v.clone()))
                .collect(),
            count: 0,
            amounts: Vec::new(),
            reporting_minor: 0,
            reporting_missing: 0,
        });
        g.count += r.count;
        g.reporting_minor += r.reporting_amount;
        g.reporting_missing += r.reporting_missing;
        match g.amounts.iter_mut().find(|a| a.currency == r.currency) {
            Some(a) => {
                a.count += r.count;
                a.minor += r.amount;
            }
            None => {
                g.amounts.push(CurrencyAmount {
                    currency: r.currency.clone(),
                    count: r.count,
                    minor: r.amount,
                });
                g.amounts.sort_by(|a, b| a.currency.cmp(&b.currency));
            }
        }
    }
    groups
}

/// Statistics for a query (one page).
pub async fn stats(
    store: &Store,
    default_zone: &str,
    reporting_currency: &str,
    q: &StatsQuery,
) -> Result<StatsOut, ApiError> {
    let c = check(q, default_zone)?;
    let rows = rows(store, &c.dims, &c.filter, &c.zone)
        .await
        .map_err(|e| match e {
            store::StoreError::Refused(why) => bad("group_by", why),
            e => ApiError::internal(&e),
        })?;
    let groups = merge(&c.dims, &rows);
    let mut page: Vec<(Vec<String>, StatsGroup)> = groups
        .into_iter()
        .filter(|(k, _)| c.after.as_ref().is_none_or(|a| k > a))
        .take(c.limit + 1)
        .collect();
    let next_cursor = if page.len() > c.limit {
        page.truncate(c.limit);
        page.last()
            .and_then(|(k, _)| serde_json::to_vec(k).ok())
            .map(|b| hex(&b))
    } else {
        None
    };
    Ok(StatsOut {
        from: rfc3339(c.filter.from_ms),
        to: rfc3339(c.filter.to_ms),
        time_zone: c.zone_name,
        group_by: c.dims.iter().map(|d| d.as_str().to_string()).collect(),
        reporting_currency: reporting_currency.into(),
        groups: page.into_iter().map(|(_, g)| g).collect(),
        next_cursor,
    })
}

/// `GET /v1/admin/stats`: payment statistics for the operator.
#[utoipa::path(get, path = "/v1/admin/stats", tag = "reports", security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, body = StatsOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn admin_stats(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Query(q): Query<StatsQuery>,
) -> Result<axum::Json<StatsOut>, ApiError> {
    stats_of(&state, &q).await
}

async fn stats_of(state: &AppState, q: &StatsQuery) -> Result<axum::Json<StatsOut>, ApiError> {
    stats(
        &state.store,
        &state.payments.time_zone,
        &state.fx.reporting_currency,
        q,
    )
    .await
    .map(axum::Json)
}

/// `GET /v1/reports/stats`: the same statistics for the regulator.
#[utoipa::path(get, path = "/v1/reports/stats", tag = "reports", security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, body = StatsOut), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn regulator_stats(
    State(state): State<AppState>,
    AnyRole(_): AnyRole,
    Query(q): Query<StatsQuery>,
) -> Result<axum::Json<StatsOut>, ApiError> {
    stats_of(&state, &q).await
}

// ---------------------------------------------------------------------
// The daily regulatory report.

/// A settlement position of the cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportPosition {
    pub party: String,
    pub currency: String,
    pub gross_debits: i64,
    pub gross_credits: i64,
    pub fees: i64,
    pub net: i64,
    /// What the cycle's settlement instructions pay the party (negative:
    /// the party pays).
    pub instructed: i64,
}

/// The checks that tie the report to its cycle's settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TieOut {
    /// The cycle's payment count equals the report's.
    pub payments_match_cycle: bool,
    /// The cycle's refund count equals the report's.
    pub refunds_match_cycle: bool,
    /// Every currency's net positions sum to zero.
    pub nets_sum_to_zero: bool,
    /// The instructions pay every position exactly.
    pub instructions_settle_positions: bool,
}

/// One refund figure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundFigure {
    pub state: String,
    pub currency: String,
    pub count: i64,
    pub minor: i64,
}

/// A payment among the largest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LargeOut {
    pub payment_id: String,
    pub direction: String,
    pub wallet: String,
    pub acquirer: String,
    pub currency: String,
    pub minor: i64,
    pub reporting_minor: i64,
}

/// The daily regulatory report of one clearing cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DailyReport {
    pub clearing_date: String,
    pub cycle_state: String,
    pub closed_at: Option<String>,
    pub reporting_currency: String,
    /// Every payment of the date, by status.
    pub by_status: Vec<StatsGroup>,
    /// Payments that went through, by direction and corridor.
    pub by_direction_corridor: Vec<StatsGroup>,
    /// Payments that went through, per participant (each counts for its
    /// wallet and its acquirer).
    pub by_participant: Vec<StatsGroup>,
    /// Balance of payments: payments that went through, by purpose and the
    /// payer's and merchant's residency.
    pub balance_of_payments: Vec<StatsGroup>,
    pub refunds: Vec<RefundFigure>,
    pub cancelled: i64,
    pub exceptions: i64,
    /// Risk declines decided in the cycle's window, by moment.
    pub risk_declines: BTreeMap<String, i64>,
    pub largest: Vec<LargeOut>,
    pub settlement: Vec<ReportPosition>,
    pub tie_out: TieOut,
}

impl DailyReport {
    /// The grouped sections with their names.
    pub fn sections(&self) -> [(&'static str, &Vec<StatsGroup>); 4] {
        [
            ("status", &self.by_status),
            ("direction_corridor", &self.by_direction_corridor),
            ("participant", &self.by_participant),
            ("balance_of_payments", &self.balance_of_payments),
        ]
    }
}

/// The dimensions of a report section, in order.
pub fn section_dims(section: &str) -> &'static [&'static str] {
    match section {
        "status" => &["status"],
        "direction_corridor" => &["direction", "corridor"],
        "participant" => &["participant"],
        "balance_of_payments" => &["purpose", "payer_residency", "merchant_residency"],
        _ => &[],
    }
}

/// A group's key in its section's order, joined by `/`.
pub fn key_of(g: &StatsGroup, section: &str) -> String {
    section_dims(section)
        .iter()
        .map(|d| g.key.get(*d).map_or("", String::as_str))
        .collect::<Vec<_>>()
        .join("/")
}

fn groups(map: BTreeMap<Vec<String>, StatsGroup>) -> Vec<StatsGroup> {
    map.into_values().collect()
}

/// Build the report of a closed cycle from the store.
pub async fn build_daily(
    store: &Store,
    config: &PaymentsConfig,
    reporting_currency: &str,
    date: &str,
) -> Result<DailyReport, ApiError> {
    check_date(date).map_err(|_| bad("date", "a date, YYYY-MM-DD"))?;
    let internal = |e: store::StoreError| ApiError::internal(&e);
    let cycle = store
        .cycle_get(date)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::new("NOT_FOUND", format!("no cycle {date}")))?;
    if cycle.state != "closed" && cycle.state != "settled" {
        return Err(ApiError::new(
            "STATE_CONFLICT",
            format!(
                "cycle {date} is {}: its report is made when it closes",
                cycle.state
            ),
        ));
    }
    let of_date = |status: Option<&str>| StatsFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        clearing_date: Some(date.into()),
        status: status.map(str::to_string),
        ..StatsFilter::default()
    };
    let run = |dims: Vec<StatsDim>, filter: StatsFilter| async move {
        let rows = store.stats(&dims, &filter).await.map_err(internal)?;
        Ok::<_, ApiError>(merge(&dims, &rows))
    };
    let by_status = run(vec![StatsDim::Status], of_date(None)).await?;
    let count_of = |s: &str| by_status.get(&vec![s.to_string()]).map_or(0, |g| g.count);
    let (cancelled, exceptions) = (count_of("cancelled"), count_of("exception"));
    let all_payments: i64 = by_status.values().map(|g| g.count).sum();
    let by_direction_corridor = run(
        vec![StatsDim::Direction, StatsDim::Corridor],
        of_date(Some("succeeded")),
    )
    .await?;
    let by_participant = run(vec![StatsDim::Participant], of_date(Some("succeeded"))).await?;
    let bop = run(
        vec![
            StatsDim::Purpose,
            StatsDim::PayerResidency,
            StatsDim::MerchantResidency,
        ],
        of_date(Some("succeeded")),
    )
    .await?;
    let refunds: Vec<RefundFigure> = store
        .cycle_refund_totals(date)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(state, currency, count, minor)| RefundFigure {
            state,
            currency,
            count,
            minor,
        })
        .collect();
    let (_, (from, to)) = crate::clearing::window(config, date)?;
    let risk_declines = store
        .risk_declines_between(from, to)
        .await
        .map_err(internal)?
        .into_iter()
        .collect();
    let largest = store
        .cycle_largest_payments(date, REPORT_LARGEST)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|p| LargeOut {
            payment_id: p.id,
            direction: p.direction,
            wallet: p.wallet,
            acquirer: p.acquirer,
            currency: p.merchant_currency,
            minor: p.merchant_amount,
            reporting_minor: p.reporting_amount,
        })
        .collect();
    let positions = store.cycle_positions(date).await.map_err(internal)?;
    let instructions = store.cycle_instructions(date).await.map_err(internal)?;
    let settlement: Vec<ReportPosition> = positions
        .iter()
        .map(|p| ReportPosition {
            party: p.party.clone(),
            currency: p.currency.clone(),
            gross_debits: p.gross_debits,
            gross_credits: p.gross_credits,
            fees: p.fees,
            net: p.net,
            instructed: instructions
                .iter()
                .filter(|i| i.currency == p.currency)
                .map(|i| {
                    if i.payee == p.party {
                        i.amount
                    } else if i.payer == p.party {
                        -i.amount
                    } else {
                        0
                    }
                })
                .sum(),
        })
        .collect();
    let mut nets: BTreeMap<&str, i64> = BTreeMap::new();
    for p in &settlement {
        *nets.entry(p.currency.as_str()).or_insert(0) += p.net;
    }
    let refund_count: i64 = refunds.iter().map(|r| r.count).sum();
    let tie_out = TieOut {
        payments_match_cycle: all_payments == cycle.payments,
        refunds_match_cycle: refund_count == cycle.refunds,
        nets_sum_to_zero: nets.values().all(|n| *n == 0),
        instructions_settle_positions: settlement.iter().all(|p| p.instructed == p.net),
    };
    Ok(DailyReport {
        clearing_date: date.into(),
        cycle_state: cycle.state,
        closed_at: cycle.closed_at_ms.map(rfc3339),
        reporting_currency: reporting_currency.into(),
        by_status: groups(by_status),
        by_direction_corridor: groups(by_direction_corridor),
        by_participant: groups(by_participant),
        balance_of_payments: groups(bop),
        refunds,
        cancelled,
        exceptions,
        risk_declines,
        largest,
        settlement,
        tie_out,
    })
}

/// The CSV header of a daily report.
pub const REPORT_CSV_HEADER: &str = "section,key,currency,count,minor,reporting_minor";

/// The report as CSV: one row per figure, `key` the group's values joined
/// by `/`.
pub fn daily_csv(r: &DailyReport) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = format!("{REPORT_CSV_HEADER}\n");
    let mut line = |section: &str, key: &str, ccy: &str, count: i64, minor: i64, rep: i64| {
        out.push_str(&format!(
            "{section},{},{ccy},{count},{minor},{rep}\n",
            field(key)
        ));
    };
    for (section, list) in r.sections() {
        for g in list {
            let key = key_of(g, section);
            for a in &g.amounts {
                line(section, &key, &a.currency, a.count, a.minor, 0);
            }
            line(
                section,
                &key,
                &r.reporting_currency,
                g.count,
                0,
                g.reporting_minor,
            );
        }
    }
    for f in &r.refunds {
        line("refunds", &f.state, &f.currency, f.count, f.minor, 0);
    }
    line("cancelled", "", "", r.cancelled, 0, 0);
    line("exceptions", "", "", r.exceptions, 0, 0);
    for (moment, n) in &r.risk_declines {
        line("risk_declines", moment, "", *n, 0, 0);
    }
    for p in &r.largest {
        line(
            "largest",
            &format!(
                "{}/{}/{}/{}",
                p.payment_id, p.direction, p.wallet, p.acquirer
            ),
            &p.currency,
            1,
            p.minor,
            p.reporting_minor,
        );
    }
    for p in &r.settlement {
        line("settlement_net", &p.party, &p.currency, 0, p.net, 0);
        line(
            "settlement_instructed",
            &p.party,
            &p.currency,
            0,
            p.instructed,
            0,
        );
    }
    let t = &r.tie_out;
    for (check, ok) in [
        ("payments_match_cycle", t.payments_match_cycle),
        ("refunds_match_cycle", t.refunds_match_cycle),
        ("nets_sum_to_zero", t.nets_sum_to_zero),
        (
            "instructions_settle_positions",
            t.instructions_settle_positions,
        ),
    ] {
        line("tie_out", check, "", i64::from(ok), 0, 0);
    }
    out
}

/// Make and keep the report of a closed cycle (once: a report made
/// before stands). Returns the kept one.
pub async fn make_daily(
    store: &Store,
    config: &PaymentsConfig,
    reporting_currency: &str,
    node: &str,
    date: &str,
) -> Result<store::ReportRow, ApiError> {
    if let Some(r) = store
        .report_get(date)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        return Ok(r);
    }
    let report = build_daily(store, config, reporting_currency, date).await?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| ApiError::internal(&e))?;
    let csv = daily_csv(&report);
    let row = store::ReportRow {
        clearing_date: date.into(),
        json_sha256: hex(&sha2::Sha256::digest(json.as_bytes())),
        json,
        csv_sha256: hex(&sha2::Sha256::digest(csv.as_bytes())),
        csv,
        created_at_ms: now_ms(),
        created_by: node.into(),
    };
    store
        .report_put(row.clone())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if !report.tie_out.payments_match_cycle
        || !report.tie_out.refunds_match_cycle
        || !report.tie_out.nets_sum_to_zero
        || !report.tie_out.instructions_settle_positions
    {
        tracing::error!(cycle = %date, tie_out = ?report.tie_out, "the daily report does not tie out");
    }
    Ok(store
        .report_get(date)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .unwrap_or(row))
}

/// Make the reports of closed cycles that have none (after a close, and
/// whatever a failed attempt left out).
pub async fn make_missing(state: &AppState) -> Result<usize, ApiError> {
    let dates = state
        .store
        .reports_missing()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut made = 0;
    for date in dates {
        match make_daily(
            &state.store,
            &state.payments,
            &state.fx.reporting_currency,
            &state.node_id,
            &date,
        )
        .await
        {
            Ok(_) => made += 1,
            Err(e) => tracing::warn!(cycle = %date, error = ?e, "making the daily report failed"),
        }
    }
    Ok(made)
}

/// A report in the list.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportEntryOut {
    pub clearing_date: String,
    pub json_sha256: String,
    pub csv_sha256: String,
    pub created_at: String,
}

impl From<store::ReportEntry> for ReportEntryOut {
    fn from(r: store::ReportEntry) -> Self {
        ReportEntryOut {
            clearing_date: r.clearing_date,
            json_sha256: r.json_sha256,
            csv_sha256: r.csv_sha256,
            created_at: rfc3339(r.created_at_ms),
        }
    }
}

impl From<store::ReportRow> for ReportEntryOut {
    fn from(r: store::ReportRow) -> Self {
        ReportEntryOut {
            clearing_date: r.clearing_date,
            json_sha256: r.json_sha256,
            csv_sha256: r.csv_sha256,
            created_at: rfc3339(r.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportList {
    pub reports: Vec<ReportEntryOut>,
}

/// `GET /v1/reports/daily`: the daily reports, newest first.
#[utoipa::path(get, path = "/v1/reports/daily", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = ReportList)))]
pub async fn daily_list(
    State(state): State<AppState>,
    AnyRole(_): AnyRole,
) -> Result<axum::Json<ReportList>, ApiError> {
    let list = state
        .store
        .reports_list(store::REPORT_LIST_MAX)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(ReportList {
        reports: list.into_iter().map(ReportEntryOut::from).collect(),
    }))
}

async fn kept(state: &AppState, date: &str) -> Result<store::ReportRow, ApiError> {
    check_date(date).map_err(|_| bad("date", "a date, YYYY-MM-DD"))?;
    state
        .store
        .report_get(date)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new("NOT_FOUND", format!("no report of {date}")))
}

/// `GET /v1/reports/daily/{date}`: a daily report as JSON (its SHA-256 in
/// `X-Content-SHA256`).
#[utoipa::path(get, path = "/v1/reports/daily/{date}", tag = "reports", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date, YYYY-MM-DD")),
    responses((status = 200, body = DailyReport), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn daily_json(
    State(state): State<AppState>,
    AnyRole(_): AnyRole,
    Path(date): Path<String>,
) -> Result<Response, ApiError> {
    let r = kept(&state, &date).await?;
    Ok(download(
        r.json,
        &format!("unigate-daily-{date}.json"),
        "application/json",
    ))
}

/// `GET /v1/reports/daily/{date}/csv`: a daily report as CSV (its SHA-256
/// in `X-Content-SHA256`).
#[utoipa::path(get, path = "/v1/reports/daily/{date}/csv", tag = "reports", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date, YYYY-MM-DD")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn daily_csv_download(
    State(state): State<AppState>,
    AnyRole(_): AnyRole,
    Path(date): Path<String>,
) -> Result<Response, ApiError> {
    let r = kept(&state, &date).await?;
    Ok(download(
        r.csv,
        &format!("unigate-daily-{date}.csv"),
        "text/csv; charset=utf-8",
    ))
}

/// `POST /v1/admin/reports/daily/{date}`: make a closed cycle's report if
/// it has none (the close makes it; this is for one a failure left out).
#[utoipa::path(post, path = "/v1/admin/reports/daily/{date}", tag = "reports", security(("bearer" = [])),
    params(("date" = String, Path, description = "The clearing date, YYYY-MM-DD")),
    responses((status = 200, body = ReportEntryOut), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn daily_make(
    State(state): State<AppState>,
    OperatorOnly(_): OperatorOnly,
    Path(date): Path<String>,
) -> Result<axum::Json<ReportEntryOut>, ApiError> {
    let r = make_daily(
        &state.store,
        &state.payments,
        &state.fx.reporting_currency,
        &state.node_id,
        &date,
    )
    .await?;
    Ok(axum::Json(r.into()))
}
