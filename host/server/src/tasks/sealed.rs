//! Schedules hold backup passcodes, which must be at hand when the schedule
//! fires. They are kept sealed (AES-256-GCM) under a host key in
//! `<state>/tasks.key` (mode 0600), so a copy of `tasks.json` alone, e.g. in a
//! support bundle or a backup of the state, does not give them away.

use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

const KEY_LEN: usize = 32;
const AAD: &[u8] = b"drhost/tasks/passcode/v1";

/// Why a passcode could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read or create the task key {path}: {source}")]
    Key {
        path: String,
        source: std::io::Error,
    },
    #[error("the task key {0} must hold exactly 32 bytes")]
    BadKey(String),
    #[error("a stored passcode is damaged or sealed under another key")]
    Damaged,
}

pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Sealer {
    /// Loads the key, creating it (0600) on first use.
    pub fn open(path: &Path) -> Result<Self, SealError> {
        let key_error = |source| SealError::Key {
            path: path.display().to_string(),
            source,
        };
        let rng = SystemRandom::new();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                rng.fill(&mut key)
                    .map_err(|_| key_error(std::io::Error::other("no randomness")))?;
                crate::fsutil::write_atomic(path, &key).map_err(key_error)?;
                key.to_vec()
            }
            Err(e) => return Err(key_error(e)),
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| SealError::BadKey(path.display().to_string()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            rng,
        })
    }

    /// Hex of nonce || ciphertext || tag.
    pub fn seal(&self, secret: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Damaged)?;
        let mut data = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .map_err(|_| SealError::Damaged)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(hex::encode(out))
    }

    pub fn open_sealed(&self, sealed: &str) -> Result<String, SealError> {
        let bytes = hex::decode(sealed).map_err(|_| SealError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Damaged);
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Damaged)?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut data)
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_under_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sealer = Sealer::open(&dir.path().join("tasks.key")).expect("key");
        let sealed = sealer.seal("my-long-passcode").expect("seal");
        assert!(!sealed.contains("my-long-passcode"));
        let again = Sealer::open(&dir.path().join("tasks.key")).expect("same key");
        assert_eq!(
            again.open_sealed(&sealed).expect("open"),
            "my-long-passcode"
        );
        let other = Sealer::open(&dir.path().join("other.key")).expect("other key");
        assert!(matches!(
            other.open_sealed(&sealed),
            Err(SealError::Damaged)
        ));
        let mut flipped = sealed.into_bytes();
        flipped[30] = if flipped[30] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).expect("hex");
        assert!(matches!(
            again.open_sealed(&flipped),
            Err(SealError::Damaged)
        ));
    }
}
