//! The FX-provider simulator (`unigate sim fx`): pushes two-sided rates
//! around configured mid rates to `POST /v1/fx/rates` every so often, and
//! answers the gateway's `fx-quote` callback with a firm quote, after a
//! configured latency, declining every n-th request if asked to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use money::{Currency, Money, Rate};
use rust_decimal::Decimal;
use sign::{PublicKey, Signer};

/// Why the simulator could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Client(#[from] client::ClientError),
}

/// How the simulated provider behaves.
#[derive(Debug)]
pub struct FxSim {
    /// The gateway's base URL.
    pub gateway: String,
    pub signer: Arc<sign::KeySigner>,
    /// Mid rates: units of `quote` per `base`.
    pub mids: Vec<(Currency, Currency, Rate)>,
    /// The width of its two-sided rates, in basis points of the mid.
    pub spread_bps: u32,
    /// How long it takes to answer a quote request.
    pub latency_ms: u64,
    /// Decline every n-th quote request (0: never).
    pub decline_every: u64,
    /// How often it pushes its rates.
    pub push_every_ms: u64,
    /// How long its firm quotes hold beyond what the gateway asks.
    pub quote_slack_s: i64,
    /// The gateway's keys, when pinned; otherwise fetched from the
    /// gateway's `GET /v1/keys`.
    pub gateway_keys: Option<Vec<(u32, PublicKey)>>,
}

impl FxSim {
    /// Parse `BASE/QUOTE=MID` (e.g. `CNY/MNT=480.5`).
    pub fn parse_mid(text: &str) -> Result<(Currency, Currency, Rate), SimError> {
        let bad = || {
            SimError::Config(format!(
                "{text:?} is not BASE/QUOTE=MID, e.g. CNY/MNT=480.5"
            ))
        };
        let (pair, mid) = text.split_once('=').ok_or_else(bad)?;
        let (base, quote) = pair.split_once('/').ok_or_else(bad)?;
        Ok((
            Currency::parse(base).map_err(|e| SimError::Config(e.to_string()))?,
            Currency::parse(quote).map_err(|e| SimError::Config(e.to_string()))?,
            Rate::parse(mid).map_err(|e| SimError::Config(e.to_string()))?,
        ))
    }

    /// Its two-sided rate for a mid: `mid × (1 ∓ spread/2)`, to 8 decimals.
    pub fn two_sided(&self, mid: Rate) -> Option<(Rate, Rate)> {
        let half = Decimal::from(self.spread_bps) / Decimal::from(20_000);
        let bid = (mid.decimal() * (Decimal::ONE - half)).round_dp(8);
        let ask = (mid.decimal() * (Decimal::ONE + half)).round_dp(8);
        Some((Rate::from_decimal(bid)?, Rate::from_decimal(ask)?))
    }

    fn quoted(&self, now_ms: i64) -> Vec<::fx::Quoted> {
        self.mids
            .iter()
            .filter_map(|(base, quote, mid)| {
                let (bid, ask) = self.two_sided(*mid)?;
                Some(::fx::Quoted {
                    provider: self.signer.client_id().to_string(),
                    base: *base,
                    quote: *quote,
                    bid,
                    ask,
                    at_ms: now_ms,
                    source: "sim".into(),
                })
            })
            .collect()
    }
}

struct Shared {
    sim: FxSim,
    verifier: Verifier,
    requests: Arc<AtomicU64>,
}

use crate::peer::{GatewayKeys, Verifier, now_ms, signed_answer};

/// Serve the `fx-quote` callback on `listener` and push rates until the
/// process ends.
pub async fn run(sim: FxSim, listener: tokio::net::TcpListener) -> Result<(), SimError> {
    run_counted(sim, listener, Arc::new(AtomicU64::new(0))).await
}

/// [`run`], counting the quote requests it answers in `requests`.
pub async fn run_counted(
    sim: FxSim,
    listener: tokio::net::TcpListener,
    requests: Arc<AtomicU64>,
) -> Result<(), SimError> {
    let keys = match &sim.gateway_keys {
        Some(keys) => GatewayKeys::Pinned(keys.clone()),
        None => GatewayKeys::Fetch(sim.gateway.clone()),
    };
    let shared = Arc::new(Shared {
        sim,
        verifier: Verifier::new(keys),
        requests,
    });
    let pusher = tokio::spawn(push_rates(shared.clone()));
    let app = axum::Router::new()
        .route("/fx-quote", axum::routing::post(fx_quote))
        .with_state(shared);
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "FX simulator answering fx-quote");
    let served = axum::serve(listener, app).await;
    pusher.abort();
    served.map_err(SimError::Io)
}

/// How soon a refused rate push is sent again.
const RETRY_AFTER_MS: u64 = 1_000;

async fn push_rates(shared: Arc<Shared>) {
    let limits = client::ClientLimits::default();
    let signer: Arc<dyn Signer> = shared.sim.signer.clone();
    let gateway = match client::SignedClient::new(&shared.sim.gateway, signer, limits) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the FX simulator cannot reach the gateway");
            return;
        }
    };
    loop {
        let rates: Vec<serde_json::Value> = shared
            .sim
            .quoted(now_ms())
            .iter()
            .map(|q| {
                serde_json::json!({"base": q.base, "quote": q.quote, "bid": q.bid, "ask": q.ask, "source": "sim"})
            })
            .collect();
        let body = serde_json::json!({
            "request_id": format!("rates-{}", uuid::Uuid::now_v7().simple()),
            "rates": rates,
        });
        let pushed = match gateway
            .call(
                "POST",
                "/v1/fx/rates",
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await
        {
            Ok(a) if a.status == 200 && a.verified.is_ok() => {
                tracing::debug!("rates pushed");
                true
            }
            Ok(a) => {
                tracing::warn!(status = a.status, body = %String::from_utf8_lossy(&a.body), "rates refused");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "pushing rates failed");
                false
            }
        };
        // A refused push (a gateway shedding load answers 503 with
        // Retry-After: 1) is sent again after a second, not a whole
        // interval later: the gateway's rates must not go stale.
        let every = shared.sim.push_every_ms.max(100);
        let wait = if pushed {
            every
        } else {
            every.min(RETRY_AFTER_MS)
        };
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

#[derive(serde::Deserialize)]
struct QuoteAsk {
    from: Currency,
    to: Currency,
    receive: Money,
    #[serde(default)]
    valid_for_s: i64,
    #[serde(default)]
    #[allow(dead_code)]
    request_id: String,
}

async fn fx_quote(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    let n = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (status, answer) = match shared
        .verifier
        .verify(method.as_str(), &target, &headers, &body)
        .await
    {
        Err(why) => (
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"code": "SIGNATURE_INVALID", "detail": why}),
        ),
        Ok(()) => {
            tokio::time::sleep(Duration::from_millis(shared.sim.latency_ms)).await;
            (StatusCode::OK, answer_quote(&shared, &body, n))
        }
    };
    signed_answer(
        &shared.sim.signer,
        method.as_str(),
        &target,
        status,
        &answer,
        false,
    )
}

fn answer_quote(shared: &Shared, body: &[u8], n: u64) -> serde_json::Value {
    let decline = |code: &str, message: &str| serde_json::json!({"result": {"status": "F", "code": code, "message": message}});
    let Ok(ask) = serde_json::from_slice::<QuoteAsk>(body) else {
        return decline("BAD_REQUEST", "not a quote request");
    };
    if shared.sim.decline_every > 0 && n.is_multiple_of(shared.sim.decline_every) {
        return decline("DECLINED", "the simulator declines this one, as configured");
    }
    if ask.receive.currency != ask.to {
        return decline("BAD_REQUEST", "receive is not in the to currency");
    }
    let now = now_ms();
    let price = shared
        .sim
        .quoted(now)
        .iter()
        .find_map(|q| q.price(ask.from, ask.to));
    let Some(price) = price else {
        return decline("PAIR_NOT_QUOTED", "the simulator does not quote this pair");
    };
    let expires = now + (ask.valid_for_s.max(0) + shared.sim.quote_slack_s) * 1000;
    serde_json::json!({
        "result": {"status": "S", "code": "SUCCESS", "message": "firm"},
        "rate": price.to_decimal_string(10),
        "expires_at": sign::rfc3339_ms(expires),
        "quote_ref": format!("sim-{n}"),
    })
}
