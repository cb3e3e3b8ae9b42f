//! The translator (SPEC §2.5): the gateway speaks to each participant in
//! the participant's dialect through one [`Connector`] trait.
//!
//! - [`model`]: the unified callbacks (`merchant-inquiry`, `pay`,
//!   `authorize`, `inquiry`, `cancel`, `refund`, `notify`, `fx-quote`).
//! - [`transport`]: what every HTTP dialect shares: one keep-alive pool,
//!   signing (SPEC §4.1) and verifying the answer, timeouts, retries with
//!   backoff for idempotent calls only, a circuit breaker per participant,
//!   and the outbound log written before each attempt (SPEC §4.3).
//! - [`dialects`]: one module per dialect and one registry; `native` is
//!   the signed JSON protocol of SPEC §4.4. `cargo xtask new-connector
//!   NAME` adds a dialect.

pub mod breaker;
pub mod dialects;
pub mod model;
pub mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use breaker::{BreakerConfig, Breakers, Circuit};
pub use model::{Call, Message, Outcome, Status};
pub use transport::{ConnectorConfig, OutboundLog, StoreLog, Transport};

/// A boxed future (the trait is used as `dyn Connector`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A participant as a connector sees it: where to call it and which keys
/// its answers must verify against.
#[derive(Clone, Debug)]
pub struct Peer {
    pub id: String,
    /// Its callback base URL (`https://wallet.example/unigate`).
    pub base_url: String,
    /// Its usable public keys by version.
    pub keys: Vec<(u32, sign::PublicKey)>,
    /// The dialect it speaks (`native` unless registered otherwise).
    pub dialect: String,
}

/// What a callback came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The participant's `result`, or the connector's own when no
    /// trustworthy answer came (codes `DOWNSTREAM_*`,
    /// `PARTICIPANT_UNAVAILABLE`).
    pub outcome: Outcome,
    /// The rest of the answer (the call's own fields), empty when none.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Whether any attempt may have reached the participant: `false`
    /// means it certainly did nothing.
    pub sent: bool,
    /// Attempts made.
    pub attempts: u32,
}

impl Reply {
    /// The answer's own fields as `T` (e.g. [`model::MerchantInfo`]).
    pub fn fields_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::Object(self.fields.clone()))
            .map_err(|e| format!("the answer's fields: {e}"))
    }
}

/// A fault of the gateway's own side: nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("the participant {participant}: {detail}")]
    Peer { participant: String, detail: String },
    #[error("the outbound log: {0}")]
    Log(String),
    #[error("no dialect {0:?} is registered")]
    UnknownDialect(String),
}

/// The translator for one dialect.
pub trait Connector: Send + Sync {
    /// The dialect's registered name.
    fn dialect(&self) -> &'static str;

    /// Make one callback and bring back its outcome. Faults of the
    /// participant (no answer, 5xx, a bad signature) are outcomes (`U`,
    /// or `F` when nothing was sent), not errors.
    fn call<'a>(
        &'a self,
        peer: &'a Peer,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<Reply, ConnectorError>>;
}

/// Every registered dialect over one shared transport.
pub struct Connectors {
    by_name: Vec<(&'static str, Arc<dyn Connector>)>,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.by_name.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Connectors")
            .field("dialects", &names)
            .finish()
    }
}

impl Connectors {
    pub fn new(transport: Arc<Transport>) -> Connectors {
        Connectors {
            by_name: dialects::DIALECTS
                .iter()
                .map(|d| (d.name, (d.build)(transport.clone())))
                .collect(),
        }
    }

    /// The connector for a participant's dialect.
    pub fn for_peer(&self, peer: &Peer) -> Result<Arc<dyn Connector>, ConnectorError> {
        self.by_name
            .iter()
            .find(|(name, _)| *name == peer.dialect)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| ConnectorError::UnknownDialect(peer.dialect.clone()))
    }

    /// Make a callback in the participant's dialect.
    pub async fn call(&self, peer: &Peer, message: &Message) -> Result<Reply, ConnectorError> {
        self.for_peer(peer)?.call(peer, message).await
    }
}
