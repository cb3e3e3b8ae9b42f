//! The wallet and acquirer simulators (`unigate sim wallet|acquirer`).
//!
//! Each answers the gateway's callbacks of its role under its callback
//! base URL (SPEC §4.4), verifies the gateway's signature on each and
//! signs each answer, and keeps its own books in its own store: one row
//! per callback it carried out, so a test can reconcile them with the
//! gateway's ledger.
//!
//! - **wallet**: `authorize` (CPM: debit the user whose payment code it
//!   is), `refund` (credit the user back), `inquiry`, `cancel`, `notify`.
//! - **acquirer**: `merchant-inquiry` (from its merchant catalogue), `pay`
//!   (credit the merchant), `inquiry`, `cancel`, `notify`.
//!
//! A repeated request id gets the first answer again, as SPEC §4.3 asks
//! of every participant.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use connector::model::{
    Authorize, Call, Cancel, Inquiry, MerchantInfo, MerchantInquiry, Notify, Pay, Refund,
};
use money::{Currency, Money};
use serde_json::json;
use sqlx::AnyPool;

use crate::fx::SimError;
use crate::peer::{Faults, Verifier, now_ms, signed_answer};

/// A merchant of the simulated acquirer's catalogue.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SimMerchant {
    pub merchant_id: String,
    pub name: String,
    pub mcc: String,
    pub city: String,
    pub country: String,
    pub currency: Currency,
    /// The merchant's QR payload(s), as scanned.
    #[serde(default)]
    pub codes: Vec<String>,
}

/// A user of the simulated wallet and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct SimUser {
    pub id: String,
    pub name: String,
    pub country: String,
    /// Its opening balance.
    pub balance: Money,
}

/// Which participant it plays.
#[derive(Clone, Debug)]
pub enum Role {
    Wallet { users: Vec<SimUser> },
    Acquirer { merchants: Vec<SimMerchant> },
}

impl Role {
    fn serves(&self, call: Call) -> bool {
        match self {
            Role::Wallet { .. } => matches!(
                call,
                Call::Authorize | Call::Refund | Call::Inquiry | Call::Cancel | Call::Notify
            ),
            Role::Acquirer { .. } => matches!(
                call,
                Call::MerchantInquiry | Call::Pay | Call::Inquiry | Call::Cancel | Call::Notify
            ),
        }
    }
}

/// A simulated wallet or acquirer.
#[derive(Debug)]
pub struct ParticipantSim {
    pub signer: Arc<sign::KeySigner>,
    pub role: Role,
    pub faults: Faults,
    pub verifier: Verifier,
}

/// One row of a simulator's books.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BookEntry {
    pub request_id: String,
    pub call: String,
    pub payment_id: String,
    /// The user or merchant.
    pub account: String,
    /// Signed: a credit to the account is positive.
    pub amount: i64,
    pub currency: String,
    /// `S` or `F`.
    pub status: String,
    pub code: String,
    pub at_ms: i64,
}

/// A running simulator: its books and how to reach it.
#[derive(Clone)]
pub struct Running {
    inner: Arc<Inner>,
    pub addr: std::net::SocketAddr,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish()
    }
}

struct Inner {
    sim: ParticipantSim,
    db: AnyPool,
    requests: AtomicU64,
    /// Payment codes it issued → user (kept in memory: a code is a secret
    /// and never written down).
    codes: std::sync::Mutex<HashMap<String, String>>,
    /// One callback at a time changes the books (a sim has no need for
    /// more, and it keeps balance checks simple).
    books: tokio::sync::Mutex<()>,
    /// The faults in force (a test changes them as it goes).
    faults: std::sync::Mutex<Faults>,
}

impl Running {
    /// Its books, oldest first.
    pub async fn entries(&self) -> Result<Vec<BookEntry>, SimError> {
        sqlx::query_as(
            "SELECT request_id, call, payment_id, account, amount, currency, status, code, at_ms \
             FROM sim_book ORDER BY at_ms, request_id",
        )
        .fetch_all(&self.inner.db)
        .await
        .map_err(db_error)
    }

    /// An account's balance: its opening balance (wallet users) plus its
    /// successful entries.
    pub async fn balance(&self, account: &str) -> Result<i64, SimError> {
        balance(&self.inner, account).await
    }

    /// Issue a CPM payment code for a wallet user: `prefix` then digits,
    /// 18 in all (the CN payment-code shape).
    pub fn issue_code(&self, user: &str, prefix: &str) -> String {
        let n = self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let tail = format!(
            "{:016}",
            (now_ms().unsigned_abs() ^ n.wrapping_mul(7919)) % 10u64.pow(16)
        );
        let mut code: String = format!("{prefix}{tail}").chars().take(18).collect();
        while code.len() < 18 {
            code.push('0');
        }
        if let Ok(mut codes) = self.inner.codes.lock() {
            codes.insert(code.clone(), user.to_string());
        }
        code
    }

    /// Change the faults it injects from now on.
    pub fn set_faults(&self, faults: Faults) -> Result<(), SimError> {
        faults.validate().map_err(SimError::Config)?;
        if let Ok(mut f) = self.inner.faults.lock() {
            *f = faults;
        }
        Ok(())
    }

    /// Callbacks handled so far.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }
}

fn db_error(e: sqlx::Error) -> SimError {
    SimError::Config(format!("the simulator's store: {e}"))
}

async fn balance(inner: &Inner, account: &str) -> Result<i64, SimError> {
    let (sum,): (Option<i64>,) = sqlx::query_as(
        "SELECT CAST(SUM(amount) AS BIGINT) FROM sim_book WHERE account = $1 AND status = 'S'",
    )
    .bind(account)
    .fetch_one(&inner.db)
    .await
    .map_err(db_error)?;
    let opening = match &inner.sim.role {
        Role::Wallet { users } => users
            .iter()
            .find(|u| u.id == account)
            .map_or(0, |u| u.balance.minor),
        Role::Acquirer { .. } => 0,
    };
    Ok(opening.saturating_add(sum.unwrap_or(0)))
}

/// Start the simulator on `listener` with its books in `db_url`
/// (`sqlite::memory:` or `sqlite://FILE`); it serves until the task is
/// dropped.
pub async fn start(
    sim: ParticipantSim,
    listener: tokio::net::TcpListener,
    db_url: &str,
) -> Result<Running, SimError> {
    sim.faults.validate().map_err(SimError::Config)?;
    sqlx::any::install_default_drivers();
    // One connection: an in-memory SQLite database lives in it.
    let db = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(db_url)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sim_book (request_id TEXT PRIMARY KEY, call TEXT NOT NULL, \
         payment_id TEXT NOT NULL, account TEXT NOT NULL, amount BIGINT NOT NULL, currency TEXT NOT NULL, \
         status TEXT NOT NULL, code TEXT NOT NULL, answer TEXT NOT NULL, at_ms BIGINT NOT NULL)",
    )
    .execute(&db)
    .await
    .map_err(db_error)?;
    let faults = sim.faults;
    let inner = Arc::new(Inner {
        sim,
        db,
        requests: AtomicU64::new(0),
        codes: std::sync::Mutex::new(HashMap::new()),
        books: tokio::sync::Mutex::new(()),
        faults: std::sync::Mutex::new(faults),
    });
    let mut app = axum::Router::new();
    for call in Call::ALL {
        app = app.route(call.path(), axum::routing::post(callback));
    }
    let app = app.with_state(inner.clone());
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the simulator stopped");
        }
    });
    Ok(Running { inner, addr })
}

async fn callback(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    let signer = &inner.sim.signer;
    let answer = |status: StatusCode, value: serde_json::Value, corrupt: bool| {
        signed_answer(signer, method.as_str(), &target, status, &value, corrupt)
    };
    let Some(call) = Call::ALL.into_iter().find(|c| c.path() == uri.path()) else {
        return answer(StatusCode::NOT_FOUND, json!({"code": "NOT_FOUND"}), false);
    };
    if !inner.sim.role.serves(call) {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": "NOT_SERVED", "detail": format!("this simulator does not serve {}", call.as_str())}),
            false,
        );
    }
    if let Err(why) = inner
        .sim
        .verifier
        .verify(method.as_str(), &target, &headers, &body)
        .await
    {
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"code": "SIGNATURE_INVALID", "detail": why}),
            false,
        );
    }
    let n = inner.requests.fetch_add(1, Ordering::Relaxed);
    let faults = inner.faults.lock().map(|f| *f).unwrap_or_default();
    let draw = faults.draw(n);
    tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    if draw.fail {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"code": "SIMULATED_FAILURE"}),
            draw.bad_signature,
        );
    }
    let (status, value) = match handle(&inner, call, &body, draw.decline).await {
        Ok(v) => (StatusCode::OK, v),
        Err(why) => (
            StatusCode::BAD_REQUEST,
            json!({"code": "FIELD_INVALID", "detail": why}),
        ),
    };
    if draw.hang {
        // The work is done; the answer comes too late to be heard.
        tokio::time::sleep(Duration::from_millis(faults.hang_ms)).await;
    }
    answer(status, value, draw.bad_signature)
}

fn result(status: &str, code: &str, message: &str) -> serde_json::Value {
    json!({"status": status, "code": code, "message": message})
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// Carry out one callback; `Err` is a malformed request (400).
async fn handle(
    inner: &Inner,
    call: Call,
    body: &[u8],
    decline: bool,
) -> Result<serde_json::Value, String> {
    let _books = inner.books.lock().await;
    match call {
        Call::MerchantInquiry => {
            let ask: MerchantInquiry = parse(body)?;
            Ok(merchant_inquiry(inner, &ask))
        }
        Call::Pay => {
            let pay: Pay = parse(body)?;
            let known = merchant(inner, Some(&pay.merchant_id), None)
                .filter(|m| m.currency == pay.amount.currency);
            let refusal = match known {
                None => Some(("MERCHANT_NOT_FOUND", "no such merchant in this currency")),
                Some(_) if decline => Some(("DECLINED", "the simulator declines this one")),
                Some(_) => None,
            };
            book(
                inner,
                &pay.request_id,
                call,
                &pay.payment_id,
                &pay.merchant_id,
                (pay.amount.minor, pay.amount.currency.code()),
                refusal,
            )
            .await
        }
        Call::Authorize => {
            let auth: Authorize = parse(body)?;
            let user = inner
                .codes
                .lock()
                .ok()
                .and_then(|c| c.get(&auth.payment_code).cloned());
            let refusal = match &user {
                None => Some(("PAYMENT_CODE_INVALID", "no such payment code")),
                Some(_) if decline => Some(("DECLINED", "the simulator declines this one")),
                Some(u) => {
                    let held = balance(inner, u).await.map_err(|e| e.to_string())?;
                    (held < auth.amount.minor)
                        .then_some(("INSUFFICIENT_FUNDS", "the user cannot cover it"))
                }
            };
            let debit = (
                auth.amount.minor.saturating_neg(),
                auth.amount.currency.code(),
            );
            let account = user.unwrap_or_default();
            let mut answer = book(
                inner,
                &auth.request_id,
                call,
                &auth.payment_id,
                &account,
                debit,
                refusal,
            )
            .await?;
            // Done: the wallet names its payer (the gateway's risk rules
            // on the payer run now).
            if answer.pointer("/result/status").and_then(|s| s.as_str()) == Some("S")
                && let Role::Wallet { users } = &inner.sim.role
                && let Some(u) = users.iter().find(|u| u.id == account)
                && let Some(o) = answer.as_object_mut()
            {
                o.insert(
                    "payer".into(),
                    json!({"id": u.id, "name": u.name, "country": u.country}),
                );
            }
            Ok(answer)
        }
        Call::Refund => {
            let refund: Refund = parse(body)?;
            // Credit back the user the payment debited.
            let original = entry_for_payment(inner, &refund.payment_id, "authorize").await?;
            let refusal = decline.then_some(("DECLINED", "the simulator declines this one"));
            // A CPM payment's user was debited here; an MPM payment was the
            // wallet's own doing before it called the gateway, so its refund
            // is credited to the payment's account in these books.
            let account = original
                .map(|o| o.account)
                .unwrap_or_else(|| format!("mpm:{}", refund.payment_id));
            book(
                inner,
                &refund.request_id,
                call,
                &refund.payment_id,
                &account,
                (refund.amount.minor, refund.amount.currency.code()),
                refusal,
            )
            .await
        }
        Call::Inquiry => {
            let ask: Inquiry = parse(body)?;
            Ok(match entry(inner, &ask.original_request_id).await? {
                Some(e) => json!({
                    "result": result(&e.status, &e.code, "as first answered"),
                    "original_request_id": ask.original_request_id,
                }),
                // Never arrived: nothing was done, and now never will be —
                // a tombstone under its request id refuses it if it comes
                // late.
                None => {
                    book(
                        inner,
                        &ask.original_request_id,
                        ask.call,
                        &ask.payment_id,
                        "",
                        (0, ""),
                        Some(("NOT_FOUND", "refused: inquired about before it arrived")),
                    )
                    .await?;
                    json!({
                        "result": result("F", "NOT_FOUND", "no such request here"),
                        "original_request_id": ask.original_request_id,
                    })
                }
            })
        }
        Call::Cancel => {
            let cancel: Cancel = parse(body)?;
            if let Some(done) = answered(inner, &cancel.request_id).await? {
                return Ok(done);
            }
            // One reversal per original call, whatever the cancel's own
            // request id.
            let reversed = sqlx::query_as::<_, (i64,)>(
                "SELECT COUNT(*) FROM sim_book WHERE call = 'cancel' AND status = 'S' AND code = $1",
            )
            .bind(format!("REVERSED:{}", cancel.original_request_id))
            .fetch_one(&inner.db)
            .await
            .map_err(|e| e.to_string())?
            .0 > 0;
            let original = entry(inner, &cancel.original_request_id).await?;
            let (account, reverse) = match original.filter(|o| o.status == "S" && !reversed) {
                Some(o) => (o.account, o.amount.saturating_neg()),
                None => (String::new(), 0),
            };
            let currency = cancel.amount.currency.code();
            let answer = book(
                inner,
                &cancel.request_id,
                call,
                &cancel.payment_id,
                &account,
                (reverse, currency),
                None,
            )
            .await?;
            if reverse != 0 {
                sqlx::query("UPDATE sim_book SET code = $2 WHERE request_id = $1")
                    .bind(&cancel.request_id)
                    .bind(format!("REVERSED:{}", cancel.original_request_id))
                    .execute(&inner.db)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(answer)
        }
        Call::Notify => {
            let note: Notify = parse(body)?;
            let currency = note.amount.map(|a| a.currency.code()).unwrap_or("");
            book(
                inner,
                &note.request_id,
                call,
                &note.payment_id,
                "",
                (0, currency),
                None,
            )
            .await
        }
        Call::FxQuote => Err("the FX simulator answers fx-quote".into()),
    }
}

fn merchant<'a>(inner: &'a Inner, id: Option<&str>, code: Option<&str>) -> Option<&'a SimMerchant> {
    let Role::Acquirer { merchants } = &inner.sim.role else {
        return None;
    };
    merchants.iter().find(|m| {
        id.is_some_and(|id| m.merchant_id == id)
            || code.is_some_and(|c| m.codes.iter().any(|k| k == c))
    })
}

fn merchant_inquiry(inner: &Inner, ask: &MerchantInquiry) -> serde_json::Value {
    match merchant(inner, ask.merchant_id.as_deref(), ask.code.as_deref()) {
        None => json!({"result": result("F", "MERCHANT_NOT_FOUND", "no such merchant")}),
        Some(m) => {
            let info = MerchantInfo {
                merchant_id: m.merchant_id.clone(),
                name: m.name.clone(),
                mcc: m.mcc.clone(),
                city: m.city.clone(),
                country: m.country.clone(),
                currency: m.currency,
                order_id: None,
                amount: None,
            };
            let mut v = serde_json::to_value(info).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("result".into(), result("S", "SUCCESS", "found"));
            }
            v
        }
    }
}

/// The answer given to `request_id` before, if any.
async fn answered(inner: &Inner, request_id: &str) -> Result<Option<serde_json::Value>, String> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT answer FROM sim_book WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&inner.db)
            .await
            .map_err(|e| e.to_string())?;
    Ok(row.and_then(|(a,)| serde_json::from_str(&a).ok()))
}

async fn entry(inner: &Inner, request_id: &str) -> Result<Option<BookEntry>, String> {
    sqlx::query_as(
        "SELECT request_id, call, payment_id, account, amount, currency, status, code, at_ms \
         FROM sim_book WHERE request_id = $1",
    )
    .bind(request_id)
    .fetch_optional(&inner.db)
    .await
    .map_err(|e| e.to_string())
}

async fn entry_for_payment(
    inner: &Inner,
    payment_id: &str,
    call: &str,
) -> Result<Option<BookEntry>, String> {
    sqlx::query_as(
        "SELECT request_id, call, payment_id, account, amount, currency, status, code, at_ms \
         FROM sim_book WHERE payment_id = $1 AND call = $2 AND status = 'S'",
    )
    .bind(payment_id)
    .bind(call)
    .fetch_optional(&inner.db)
    .await
    .map_err(|e| e.to_string())
}

/// Write the callback's row (once per request id) and answer it.
async fn book(
    inner: &Inner,
    request_id: &str,
    call: Call,
    payment_id: &str,
    account: &str,
    (minor, currency): (i64, &str),
    refusal: Option<(&str, &str)>,
) -> Result<serde_json::Value, String> {
    if let Some(done) = answered(inner, request_id).await? {
        return Ok(done);
    }
    let (status, code, message) = match refusal {
        Some((code, message)) => ("F", code, message),
        None => ("S", "SUCCESS", "done"),
    };
    let answer = json!({"result": result(status, code, message)});
    sqlx::query(
        "INSERT INTO sim_book (request_id, call, payment_id, account, amount, currency, status, code, answer, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(request_id)
    .bind(call.as_str())
    .bind(payment_id)
    .bind(account)
    .bind(minor)
    .bind(currency)
    .bind(status)
    .bind(code)
    .bind(answer.to_string())
    .bind(now_ms())
    .execute(&inner.db)
    .await
    .map_err(|e| e.to_string())?;
    Ok(answer)
}
