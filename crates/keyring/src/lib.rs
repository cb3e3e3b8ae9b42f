//! The gateway's own signing keys (SPEC §4.1).
//!
//! The first node to start generates an Ed25519 key, seals its private
//! half under the key-encryption key ([`sign::kek::KeyProvider`]) and
//! stores it; every node opens the same key from the store. Rotation adds a
//! version; the current key signs, and the current and previous public
//! keys are published (`GET /v1/keys`) so that answers signed just before
//! a rotation still verify. Private keys are never logged: [`GatewayKeys`]
//! prints only versions.

use std::sync::{Arc, RwLock};

use sign::kek::KeyProvider;
use sign::{PrivateKey, SignatureHeader};
use store::{GatewayKey, Store, StoreError};

/// Why the gateway's keys could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("gateway key {version}: {cause}")]
    Key {
        version: i64,
        cause: sign::SignError,
    },
    #[error(
        "gateway key {version} was sealed under key-encryption key {sealed_by}, not {given}: \
         start every node with the same key-encryption key"
    )]
    WrongKek {
        version: i64,
        sealed_by: String,
        given: String,
    },
    #[error("{0}")]
    Sign(#[from] sign::SignError),
}

/// A published public key of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedKey {
    pub version: i64,
    pub algorithm: &'static str,
    pub public_pem: String,
    pub created_at_ms: i64,
    /// `current` (signs now), `previous` (signed before the last rotation)
    /// or `next` (published ahead of the time it starts to sign).
    pub status: &'static str,
}

struct Ring {
    version: i64,
    key: PrivateKey,
    published: Vec<PublishedKey>,
}

/// The gateway's keys as this node holds them.
pub struct GatewayKeys {
    store: Store,
    provider: Arc<dyn KeyProvider>,
    ring: RwLock<Arc<Ring>>,
}

impl std::fmt::Debug for GatewayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKeys")
            .field("version", &self.current_version())
            .field("kek", &self.provider.id())
            .finish()
    }
}

/// What the sealed private key is bound to, so a sealed key cannot be
/// moved to another version.
fn context(version: i64) -> Vec<u8> {
    format!("unigate gateway key v{version}").into_bytes()
}

impl GatewayKeys {
    /// Open the current key from the store, creating version 1 when there
    /// is none yet.
    pub async fn load_or_create(
        store: Store,
        provider: Arc<dyn KeyProvider>,
        now_ms: i64,
    ) -> Result<GatewayKeys, KeyringError> {
        if store.gateway_keys_latest(1).await?.is_empty()
            && insert_new(&store, provider.as_ref(), 1, now_ms, now_ms).await?
        {
            tracing::info!(
                version = 1,
                kek = provider.id(),
                "generated the gateway's signing key"
            );
        }
        let ring = load(&store, provider.as_ref(), now_ms).await?;
        Ok(GatewayKeys {
            store,
            provider,
            ring: RwLock::new(Arc::new(ring)),
        })
    }

    /// Add a new key version that starts to sign `activation_delay_ms`
    /// from now: published at once as `next`, so every node (each reloads
    /// within its reload interval) publishes it before any signs with it.
    /// The one it replaces stays published as `previous`. Returns the new
    /// version.
    pub async fn rotate(&self, now_ms: i64, activation_delay_ms: i64) -> Result<i64, KeyringError> {
        let latest = self
            .store
            .gateway_keys_latest(1)
            .await?
            .first()
            .map_or(0, |k| k.version);
        let version = latest.saturating_add(1);
        let activates = now_ms.saturating_add(activation_delay_ms.max(0));
        if insert_new(
            &self.store,
            self.provider.as_ref(),
            version,
            now_ms,
            activates,
        )
        .await?
        {
            tracing::info!(
                version,
                activates_at_ms = activates,
                "rotated the gateway's signing key"
            );
        }
        self.reload(now_ms).await?;
        Ok(version)
    }

    /// Pick up a rotation made by another node, and a key whose activation
    /// time has come.
    pub async fn reload(&self, now_ms: i64) -> Result<(), KeyringError> {
        let ring = load(&self.store, self.provider.as_ref(), now_ms).await?;
        if let Ok(mut guard) = self.ring.write() {
            *guard = Arc::new(ring);
        }
        Ok(())
    }

    fn ring(&self) -> Option<Arc<Ring>> {
        self.ring.read().ok().map(|g| Arc::clone(&g))
    }

    pub fn current_version(&self) -> i64 {
        self.ring().map_or(0, |r| r.version)
    }

    /// The next (if one is waiting), current and previous public keys.
    pub fn published(&self) -> Vec<PublishedKey> {
        self.ring().map(|r| r.published.clone()).unwrap_or_default()
    }

    /// Sign `content` with the current key: the `Signature` header value.
    pub fn sign(&self, content: &[u8]) -> Result<String, KeyringError> {
        let ring = self
            .ring()
            .ok_or_else(|| sign::SignError::BadKey("the key ring is poisoned".into()))?;
        let signature = ring.key.sign(content)?;
        Ok(SignatureHeader {
            algorithm: ring.key.algorithm(),
            key_version: u32::try_from(ring.version).unwrap_or(u32::MAX),
            signature,
        }
        .format())
    }
}

/// The gateway signs its answers and callbacks as `unigate`.
impl sign::Signer for GatewayKeys {
    fn client_id(&self) -> &str {
        GATEWAY_CLIENT_ID
    }

    fn signature_header(&self, content: &[u8]) -> Result<String, sign::SignError> {
        self.sign(content).map_err(|e| match e {
            KeyringError::Sign(e) | KeyringError::Key { cause: e, .. } => e,
            other => sign::SignError::BadKey(other.to_string()),
        })
    }
}

/// The gateway's `Client-Id` on what it signs.
pub const GATEWAY_CLIENT_ID: &str = "unigate";

async fn insert_new(
    store: &Store,
    provider: &dyn KeyProvider,
    version: i64,
    now_ms: i64,
    activates_at_ms: i64,
) -> Result<bool, KeyringError> {
    let (key, pkcs8) = PrivateKey::generate_ed25519()?;
    let sealed = provider.seal(&pkcs8, &context(version))?;
    let row = GatewayKey {
        version,
        algorithm: key.algorithm().as_str().to_string(),
        public_pem: key.public_key().to_pem()?,
        sealed_private: sealed,
        kek_id: provider.id().to_string(),
        created_at_ms: now_ms,
        activates_at_ms,
    };
    // Another node may have added this version first: theirs stands.
    Ok(store.gateway_key_insert(&row).await?)
}

async fn load(
    store: &Store,
    provider: &dyn KeyProvider,
    now_ms: i64,
) -> Result<Ring, KeyringError> {
    // Rotations are rare and spaced: the newest few hold the next, the
    // current and the previous key.
    let rows = store.gateway_keys_latest(4).await?;
    let at = rows
        .iter()
        .position(|k| k.activates_at_ms <= now_ms)
        .unwrap_or(rows.len().saturating_sub(1));
    let current = rows.get(at).ok_or_else(|| {
        KeyringError::Sign(sign::SignError::BadKey(
            "the store holds no gateway key".into(),
        ))
    })?;
    if current.kek_id != provider.id() {
        return Err(KeyringError::WrongKek {
            version: current.version,
            sealed_by: current.kek_id.clone(),
            given: provider.id().to_string(),
        });
    }
    let pkcs8 = provider
        .open(&current.sealed_private, &context(current.version))
        .map_err(|cause| KeyringError::Key {
            version: current.version,
            cause,
        })?;
    let key = PrivateKey::ed25519_from_pkcs8(&pkcs8).map_err(|cause| KeyringError::Key {
        version: current.version,
        cause,
    })?;
    let published = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| *i <= at + 1)
        .map(|(i, k)| PublishedKey {
            version: k.version,
            algorithm: if k.algorithm == "RSA256" {
                "RSA256"
            } else {
                "ED25519"
            },
            public_pem: k.public_pem.clone(),
            created_at_ms: k.created_at_ms,
            status: match i.cmp(&at) {
                std::cmp::Ordering::Less => "next",
                std::cmp::Ordering::Equal => "current",
                std::cmp::Ordering::Greater => "previous",
            },
        })
        .collect();
    Ok(Ring {
        version: current.version,
        key,
        published,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use sign::kek::LocalKek;

    async fn store() -> Store {
        Store::open(
            &format!(
                "sqlite://keyring-{}?mode=memory&cache=shared",
                std::process::id()
            ),
            store::StoreOptions::default(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn created_once_shared_rotated_and_refused_under_another_kek() {
        let s = store().await;
        let (kek, text) = LocalKek::generate().unwrap();
        let a = GatewayKeys::load_or_create(s.clone(), Arc::new(kek), 1)
            .await
            .unwrap();
        // A second node with the same KEK opens the same key.
        let b = GatewayKeys::load_or_create(
            s.clone(),
            Arc::new(LocalKek::from_text(&text).unwrap()),
            2,
        )
        .await
        .unwrap();
        assert_eq!(a.published(), b.published());
        assert_eq!(a.published().len(), 1);
        let content = b"GET /v1/keys\nunigate.t.";
        let header = SignatureHeader::parse(&a.sign(content).unwrap()).unwrap();
        let public = sign::PublicKey::from_pem(&b.published()[0].public_pem).unwrap();
        public.verify(content, &header.signature).unwrap();
        assert_eq!(header.key_version, 1);

        // A rotation is published first and signs only from its activation.
        assert_eq!(a.rotate(3, 1_000).await.unwrap(), 2);
        let published = a.published();
        assert_eq!((published[0].version, published[0].status), (2, "next"));
        assert_eq!((published[1].version, published[1].status), (1, "current"));
        assert_eq!(a.current_version(), 1);
        b.reload(500).await.unwrap();
        assert_eq!(
            b.published(),
            a.published(),
            "every node publishes the next key"
        );
        for node in [&a, &b] {
            node.reload(1_003).await.unwrap();
            assert_eq!(node.current_version(), 2);
            let p = node.published();
            assert_eq!(
                (p[0].status, p[1].status, p.len()),
                ("current", "previous", 2)
            );
        }
        // Immediately active when asked.
        assert_eq!(a.rotate(2_000, 0).await.unwrap(), 3);
        assert_eq!(a.current_version(), 3);

        let (other, _) = LocalKek::generate().unwrap();
        let refused = GatewayKeys::load_or_create(s.clone(), Arc::new(other), 4)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, KeyringError::WrongKek { .. }),
            "{refused}"
        );
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }
}
