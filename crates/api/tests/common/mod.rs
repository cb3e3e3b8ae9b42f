//! Shared by the API's test files: states over a store, with the gateway's
//! keys.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use api::{AppState, HttpLimits};
use store::{Store, StoreOptions};

/// A fresh in-memory SQLite store.
pub async fn sqlite() -> Store {
    Store::open(
        &format!(
            "sqlite://api-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            store::testing::unique()
        ),
        StoreOptions::default(),
    )
    .await
    .expect("store")
}

/// Gateway keys kept in `keys_store` under a fresh KEK.
pub async fn keys(keys_store: Store) -> Arc<keyring::GatewayKeys> {
    let (kek, _) = sign::kek::LocalKek::generate().unwrap();
    Arc::new(
        keyring::GatewayKeys::load_or_create(keys_store, Arc::new(kek), api::now_ms())
            .await
            .unwrap(),
    )
}

/// A state over `store` with default settings, its keys in the same store.
pub async fn state(store: Store) -> AppState {
    let k = keys(store.clone()).await;
    state_with(store, k)
}

pub fn state_with(store: Store, keys: Arc<keyring::GatewayKeys>) -> AppState {
    AppState {
        store,
        limits: HttpLimits::default(),
        node_id: "test-node".into(),
        allow_private_callbacks: false,
        keys,
        signing: api::signed::SigningConfig::default(),
        policy: participant::StagePolicy::default(),
        idempotency_retention_ms: api::IDEMPOTENCY_RETENTION_MS_DEFAULT,
    }
}
