//! What every HTTP dialect shares: one keep-alive connection pool for all
//! participants, each request signed afresh by the gateway (SPEC §4.1)
//! and each answer verified against the participant's own keys, a
//! timeout on every attempt, retries with backoff for idempotent calls
//! only, a circuit breaker per participant, and an outbound log row
//! written before every attempt, so whichever node resumes the work finds
//! the request id it must reuse (SPEC §4.3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sign::Signer;

use crate::breaker::{BreakerConfig, Breakers};
use crate::model::{Call, Message, Outcome, Status};
use crate::{BoxFuture, ConnectorError, Peer, Reply};

/// The connector's limits (`[connector]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Each attempt's time limit, connecting included.
    pub timeout_ms: u64,
    /// Retries after the first attempt, for idempotent calls only.
    pub retries_max: u32,
    /// The first retry's wait; each next one doubles, up to
    /// `backoff_max_ms`.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// The largest answer read.
    pub answer_bytes_max: usize,
    /// Idle keep-alive connections kept per participant host.
    pub idle_per_host: usize,
    /// Connect only to public addresses (production).
    pub public_only: bool,
    pub breaker: BreakerConfig,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        ConnectorConfig {
            timeout_ms: 10_000,
            retries_max: 3,
            backoff_base_ms: 200,
            backoff_max_ms: 5_000,
            answer_bytes_max: 256 * 1024,
            idle_per_host: 32,
            public_only: true,
            breaker: BreakerConfig::default(),
        }
    }
}

/// One attempt, as the outbound log records it.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub request_id: &'a str,
    pub participant: &'a str,
    pub call: Call,
    pub payment_id: Option<&'a str>,
}

/// Where outbound calls are recorded before they are sent.
pub trait OutboundLog: Send + Sync {
    /// Record an attempt; the call is not sent unless this succeeds.
    fn attempt<'a>(&'a self, attempt: Attempt<'a>) -> BoxFuture<'a, Result<(), String>>;
    /// Record how the call ended.
    fn finish<'a>(
        &'a self,
        request_id: &'a str,
        outcome: &'a Outcome,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The outbound log in the store (table `outbound_calls`).
#[derive(Clone, Debug)]
pub struct StoreLog(pub store::Store);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

impl OutboundLog for StoreLog {
    fn attempt<'a>(&'a self, a: Attempt<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0
                .outbound_attempt(
                    a.request_id,
                    a.participant,
                    a.call.as_str(),
                    a.payment_id,
                    now_ms(),
                )
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn finish<'a>(
        &'a self,
        request_id: &'a str,
        outcome: &'a Outcome,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0
                .outbound_finish(request_id, outcome.status.as_str(), &outcome.code, now_ms())
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// The shared HTTP transport of the dialects.
pub struct Transport {
    http: reqwest::Client,
    signer: Arc<dyn Signer>,
    config: ConnectorConfig,
    breakers: Breakers,
    log: Arc<dyn OutboundLog>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.config)
            .field("breakers", &self.breakers)
            .finish()
    }
}

/// How one attempt ended.
enum Tried {
    /// A verified answer: the status and body.
    Answered(u16, Vec<u8>),
    /// No trustworthy answer; `sent` says whether it may have arrived.
    Failed { outcome: Outcome, sent: bool },
}

impl Transport {
    pub fn new(
        signer: Arc<dyn Signer>,
        config: ConnectorConfig,
        log: Arc<dyn OutboundLog>,
    ) -> Result<Transport, ConnectorError> {
        let limits = client::ClientLimits {
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            answer_bytes_max: config.answer_bytes_max,
            public_only: config.public_only,
        };
        let http = client::http_client(&limits, config.idle_per_host).map_err(|e| {
            ConnectorError::Peer {
                participant: "-".into(),
                detail: e.to_string(),
            }
        })?;
        Ok(Transport {
            http,
            signer,
            config,
            breakers: Breakers::new(config.breaker),
            log,
        })
    }

    /// The breakers (for metrics, the console and tests).
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    /// Send `body` (`message` in the dialect) to `target` under the
    /// peer's base URL, signed, and
    /// bring back the verified answer. `parse` turns a verified 200 body
    /// into a reply; when it cannot, the answer counts as a bad one.
    /// Idempotent calls are retried (re-signed, same request id) after a
    /// failed attempt; others get one attempt and an unknown outcome.
    pub async fn exchange(
        &self,
        peer: &Peer,
        message: &Message,
        target: &str,
        body: Vec<u8>,
        parse: &(dyn Fn(&[u8]) -> Result<Reply, String> + Sync),
    ) -> Result<Reply, ConnectorError> {
        let (call, request_id, payment_id) =
            (message.call(), message.request_id(), message.payment_id());
        let limits = client::ClientLimits {
            timeout: Duration::from_millis(self.config.timeout_ms.max(1)),
            answer_bytes_max: self.config.answer_bytes_max,
            public_only: self.config.public_only,
        };
        let client = client::SignedClient::over(
            self.http.clone(),
            &peer.base_url,
            self.signer.clone(),
            limits,
        )
        .map_err(|e| ConnectorError::Peer {
            participant: peer.id.clone(),
            detail: e.to_string(),
        })?
        .pin_peer_keys(peer.keys.clone());
        let attempts_max = if call.idempotent() {
            self.config.retries_max.saturating_add(1)
        } else {
            1
        };
        let mut sent_any = false;
        let mut last = Outcome::new(Status::U, "DOWNSTREAM_ERROR", "no attempt was made");
        let mut attempts = 0u32;
        while attempts < attempts_max {
            if attempts > 0 {
                tokio::time::sleep(self.backoff(attempts)).await;
            }
            if !self.breakers.admit(&peer.id, Instant::now()) {
                metrics::counter!("unigate_connector_calls_total", "call" => call.as_str(), "outcome" => "circuit_open")
                    .increment(1);
                if !sent_any {
                    last = Outcome::new(
                        Status::F,
                        "PARTICIPANT_UNAVAILABLE",
                        format!("the circuit to {} is open: not sent", peer.id),
                    );
                }
                break;
            }
            if let Err(e) = self
                .log
                .attempt(Attempt {
                    request_id,
                    participant: &peer.id,
                    call,
                    payment_id,
                })
                .await
            {
                // Not sent; the admitted call's end is recorded all the same,
                // so a half-open circuit is not left waiting for it.
                self.breakers.record(&peer.id, true, Instant::now());
                return Err(ConnectorError::Log(e));
            }
            attempts += 1;
            let started = Instant::now();
            let tried = self.try_once(&client, target, body.clone()).await;
            metrics::histogram!("unigate_connector_call_seconds", "call" => call.as_str())
                .record(started.elapsed().as_secs_f64());
            match tried {
                Tried::Answered(200, bytes) => match parse(&bytes) {
                    Ok(mut reply) => {
                        self.breakers.record(&peer.id, true, Instant::now());
                        reply.sent = true;
                        reply.attempts = attempts;
                        return self.finish(call, request_id, reply).await;
                    }
                    Err(why) => {
                        self.breakers.record(&peer.id, false, Instant::now());
                        sent_any = true;
                        last = Outcome::new(
                            Status::U,
                            "DOWNSTREAM_BAD_ANSWER",
                            format!(
                                "{} answered what is not a {} answer: {why}",
                                peer.id,
                                call.as_str()
                            ),
                        );
                    }
                },
                Tried::Answered(status, bytes) if (400..500).contains(&status) && status != 429 => {
                    // The participant refused the request itself: it did
                    // nothing, and is alive.
                    self.breakers.record(&peer.id, true, Instant::now());
                    let code = problem_code(&bytes);
                    // A refusal of a retry says nothing of an earlier
                    // attempt that may have arrived: still unknown then.
                    let status_now = if sent_any { Status::U } else { Status::F };
                    let reply = Reply {
                        outcome: Outcome::new(
                            status_now,
                            "DOWNSTREAM_REFUSED",
                            format!("{} refused the request: HTTP {status} {code}", peer.id),
                        ),
                        fields: serde_json::Map::new(),
                        sent: sent_any,
                        attempts,
                    };
                    return self.finish(call, request_id, reply).await;
                }
                Tried::Answered(status, _) => {
                    sent_any = true;
                    self.breakers.record(&peer.id, false, Instant::now());
                    last = Outcome::new(
                        Status::U,
                        if status == 429 {
                            "DOWNSTREAM_BUSY"
                        } else {
                            "DOWNSTREAM_ERROR"
                        },
                        format!("{} answered HTTP {status}", peer.id),
                    );
                }
                Tried::Failed { outcome, sent } => {
                    sent_any |= sent;
                    self.breakers.record(&peer.id, false, Instant::now());
                    last = if sent_any {
                        outcome
                    } else {
                        Outcome::new(Status::F, "PARTICIPANT_UNAVAILABLE", outcome.message)
                    };
                }
            }
        }
        let reply = Reply {
            outcome: last,
            fields: serde_json::Map::new(),
            sent: sent_any,
            attempts,
        };
        self.finish(call, request_id, reply).await
    }

    async fn try_once(&self, client: &client::SignedClient, target: &str, body: Vec<u8>) -> Tried {
        match client
            .call("POST", target, Some("application/json"), body)
            .await
        {
            Ok(answer) => match answer.verified {
                Ok(_) => Tried::Answered(answer.status, answer.body),
                Err(why) => Tried::Failed {
                    outcome: Outcome::new(
                        Status::U,
                        "DOWNSTREAM_SIGNATURE_INVALID",
                        format!("the answer (HTTP {}) does not verify: {why}", answer.status),
                    ),
                    sent: true,
                },
            },
            Err(client::ClientError::Connect(why)) => Tried::Failed {
                outcome: Outcome::new(Status::U, "DOWNSTREAM_ERROR", why),
                sent: false,
            },
            Err(client::ClientError::Timeout(why)) => Tried::Failed {
                outcome: Outcome::new(Status::U, "DOWNSTREAM_TIMEOUT", why),
                sent: true,
            },
            Err(client::ClientError::TooLarge(n)) => Tried::Failed {
                outcome: Outcome::new(
                    Status::U,
                    "DOWNSTREAM_BAD_ANSWER",
                    format!("the answer is over {n} bytes"),
                ),
                sent: true,
            },
            Err(e) => Tried::Failed {
                outcome: Outcome::new(Status::U, "DOWNSTREAM_ERROR", e.to_string()),
                sent: true,
            },
        }
    }

    async fn finish(
        &self,
        call: Call,
        request_id: &str,
        reply: Reply,
    ) -> Result<Reply, ConnectorError> {
        metrics::counter!("unigate_connector_calls_total", "call" => call.as_str(), "outcome" => reply.outcome.status.as_str())
            .increment(1);
        if reply.attempts > 0 {
            // The call happened whatever the log says now; a failure to
            // record its end is logged, not turned into a second outcome.
            if let Err(e) = self.log.finish(request_id, &reply.outcome).await {
                tracing::error!(request_id, error = %e, "the outbound log missed a call's end");
            }
        }
        Ok(reply)
    }

    /// The wait before retry `n` (1-based): base × 2^(n−1), capped.
    fn backoff(&self, n: u32) -> Duration {
        let factor = 1u64
            .checked_shl(n.saturating_sub(1).min(20))
            .unwrap_or(u64::MAX);
        Duration::from_millis(
            self.config
                .backoff_base_ms
                .saturating_mul(factor)
                .min(self.config.backoff_max_ms),
        )
    }
}

/// The `code` of a problem+json answer, if it has one.
fn problem_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .map(|c| c.chars().take(64).collect())
        .unwrap_or_default()
}
