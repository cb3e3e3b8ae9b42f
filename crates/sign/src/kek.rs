//! Keeping private keys encrypted at rest: a key-encryption key (KEK)
//! behind the small [`KeyProvider`] trait, so a KMS or an HSM can take the
//! place of the local one without touching its callers.
//!
//! [`LocalKek`] is a 256-bit key held in memory (from the environment or a
//! file); sealing is AES-256-GCM with a random 96-bit nonce, the sealed
//! form being `nonce || ciphertext || tag`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::SignError;

/// Seals and opens secrets under a key-encryption key.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// A short public name of the KEK (stored beside what it sealed, so a
    /// wrong KEK is told apart from a damaged secret).
    fn id(&self) -> &str;
    /// Encrypt and authenticate `plain`; `context` is bound in as
    /// associated data.
    fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Vec<u8>, SignError>;
    /// The inverse of [`KeyProvider::seal`].
    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A local 256-bit key-encryption key.
pub struct LocalKek {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("LocalKek").field("id", &self.id).finish()
    }
}

/// Length of a KEK in bytes.
pub const KEK_BYTES: usize = 32;

impl LocalKek {
    /// A KEK from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<LocalKek, SignError> {
        if bytes.len() != KEK_BYTES {
            return Err(SignError::BadKey(format!(
                "a key-encryption key is {KEK_BYTES} bytes; this is {}",
                bytes.len()
            )));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let id = digest
            .as_ref()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| SignError::BadKey("not an AES-256 key".into()))?;
        Ok(LocalKek {
            key: LessSafeKey::new(key),
            id: format!("local-{id}"),
        })
    }

    /// A KEK from its text form: standard base64 of the 32 bytes.
    pub fn from_text(text: &str) -> Result<LocalKek, SignError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            SignError::BadKey("a key-encryption key is standard base64 of 32 bytes".into())
        })?;
        LocalKek::from_bytes(&bytes)
    }

    /// A new random KEK and its text form (to keep somewhere safe).
    pub fn generate() -> Result<(LocalKek, String), SignError> {
        let mut bytes = [0u8; KEK_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SignError::BadKey("no randomness".into()))?;
        Ok((LocalKek::from_bytes(&bytes)?, STANDARD.encode(bytes)))
    }
}

impl KeyProvider for LocalKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SignError::BadKey("no randomness".into()))?;
        let mut out = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut out,
            )
            .map_err(|_| SignError::BadKey("sealing failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Ok(sealed)
    }

    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SignError> {
        let wrong = || {
            SignError::BadKey("the sealed key does not open under this key-encryption key".into())
        };
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN).ok_or_else(wrong)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_the_wrong_kek_or_context() {
        let (kek, text) = LocalKek::generate().unwrap();
        let again = LocalKek::from_text(&text).unwrap();
        assert_eq!(kek.id(), again.id());
        let sealed = kek.seal(b"secret", b"gateway-key:1").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(again.open(&sealed, b"gateway-key:1").unwrap(), b"secret");
        assert!(kek.open(&sealed, b"gateway-key:2").is_err());
        let (other, _) = LocalKek::generate().unwrap();
        assert!(other.open(&sealed, b"gateway-key:1").is_err());
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(kek.open(&tampered, b"gateway-key:1").is_err());
        assert!(kek.open(b"short", b"gateway-key:1").is_err());
        assert!(LocalKek::from_text("AAAA").is_err());
        assert!(!format!("{kek:?}").contains(&text));
    }
}
