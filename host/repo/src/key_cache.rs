//! The keys of the passcode and KDF parameters a repository used last. A
//! server runs job after job with the store's one passcode; Argon2id is then
//! paid once rather than by every backup, restore and verification.
//!
//! The passcode itself is not kept: the entry is found by an HMAC of it under
//! a key random to this cache. The keys it holds decrypt the store as the
//! passcode does, and live in the same process as the passcode the server
//! holds to run its jobs.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::error::RepoError;
use crate::keys::{KdfParams, Keys};

struct Entry {
    kdf: KdfParams,
    passcode_tag: [u8; 32],
    keys: Arc<Keys>,
}

pub(crate) struct KeyCache {
    tag_key: [u8; 32],
    last: Mutex<Option<Entry>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        let mut tag_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut tag_key);
        KeyCache {
            tag_key,
            last: Mutex::new(None),
        }
    }
}

impl KeyCache {
    /// The keys of `passcode` under `kdf`: the last ones if they match, else
    /// derived on a blocking thread (Argon2id).
    pub(crate) async fn keys(
        &self,
        passcode: &str,
        kdf: &KdfParams,
    ) -> Result<Arc<Keys>, RepoError> {
        let passcode_tag = self.tag(passcode);
        if let Some(entry) = self.lock().as_ref()
            && entry.kdf == *kdf
            && entry.passcode_tag == passcode_tag
        {
            return Ok(entry.keys.clone());
        }
        let keys = Arc::new(derive_keys(passcode, kdf).await?);
        *self.lock() = Some(Entry {
            kdf: kdf.clone(),
            passcode_tag,
            keys: keys.clone(),
        });
        Ok(keys)
    }

    fn tag(&self, passcode: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.tag_key).expect("any key length");
        mac.update(passcode.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Entry>> {
        // The entry is replaced whole, so a panic elsewhere cannot leave it
        // half written.
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for KeyCache {
    fn drop(&mut self) {
        self.tag_key.fill(0);
    }
}

/// Runs Argon2id on a blocking thread.
async fn derive_keys(passcode: &str, kdf: &KdfParams) -> Result<Keys, RepoError> {
    let passcode = passcode.to_string();
    let kdf = kdf.clone();
    tokio::task::spawn_blocking(move || Keys::derive(&passcode, &kdf))
        .await
        .map_err(RepoError::join)?
        .map_err(RepoError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast_kdf() -> KdfParams {
        KdfParams {
            memory_kib: KdfParams::MIN_MEMORY_KIB,
            iterations: KdfParams::MIN_ITERATIONS,
            parallelism: 1,
            ..KdfParams::generate()
        }
    }

    #[tokio::test]
    async fn the_same_passcode_and_parameters_reuse_the_keys_and_nothing_else_does() {
        let cache = KeyCache::default();
        let kdf = fast_kdf();
        let first = cache.keys("pass one", &kdf).await.unwrap();
        let again = cache.keys("pass one", &kdf).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));

        let other_passcode = cache.keys("pass two", &kdf).await.unwrap();
        assert_ne!(other_passcode.key_id(), first.key_id());
        let other_salt = cache.keys("pass one", &fast_kdf()).await.unwrap();
        assert_ne!(other_salt.key_id(), first.key_id());
        let derived = Keys::derive("pass one", &kdf).unwrap();
        assert_eq!(
            cache.keys("pass one", &kdf).await.unwrap().key_id(),
            derived.key_id()
        );
    }
}
