//! Passcode-derived keys: Argon2id master key, HKDF-Expand sub-keys, chunk ids.

use hmac::{Hmac, Mac};
use rand::RngCore;
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::chunker::Chunker;

type HmacSha256 = Hmac<Sha256>;

/// Argon2id parameters and the per-store salt. Kept in the plaintext `config`
/// object and copied into every commit record, so a backup can be opened with
/// the parameters it was written with even after the store's are raised.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Argon2 version, always 19 (0x13).
    pub version: u32,
    /// Memory cost in KiB (m).
    pub memory_kib: u32,
    /// Passes over memory (t).
    pub iterations: u32,
    /// Lanes (p).
    pub parallelism: u32,
    /// Lowercase hex of the random salt (32 bytes when created).
    pub salt: String,
}

impl KdfParams {
    /// RFC 9106's second recommended option: 64 MiB, t=3, p=4.
    pub const DEFAULT_MEMORY_KIB: u32 = 64 * 1024;
    pub const DEFAULT_ITERATIONS: u32 = 3;
    pub const DEFAULT_PARALLELISM: u32 = 4;
    /// OWASP's floor (19 MiB, t=2); a store holding weaker parameters is refused
    /// so that someone who can write the store cannot quietly weaken new backups.
    pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
    pub const MIN_ITERATIONS: u32 = 2;
    /// Upper bounds keep a damaged or hostile record from exhausting memory.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    pub const MAX_ITERATIONS: u32 = 64;
    pub const MAX_PARALLELISM: u32 = 16;

    /// Default parameters with a fresh random 32-byte salt.
    pub fn generate() -> Self {
        let mut salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        KdfParams {
            algorithm: "argon2id".into(),
            version: 0x13,
            memory_kib: Self::DEFAULT_MEMORY_KIB,
            iterations: Self::DEFAULT_ITERATIONS,
            parallelism: Self::DEFAULT_PARALLELISM,
            salt: hex::encode(salt),
        }
    }

    /// Checks the parameters are supported and within bounds.
    pub fn validate(&self) -> Result<(), String> {
        if self.algorithm != "argon2id" || self.version != 0x13 {
            return Err(format!(
                "unsupported KDF {} version {}",
                self.algorithm, self.version
            ));
        }
        if !(Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
            || !(Self::MIN_ITERATIONS..=Self::MAX_ITERATIONS).contains(&self.iterations)
            || !(1..=Self::MAX_PARALLELISM).contains(&self.parallelism)
        {
            return Err(format!(
                "KDF parameters out of range (m={} KiB, t={}, p={})",
                self.memory_kib, self.iterations, self.parallelism
            ));
        }
        let salt = self.salt_bytes()?;
        if !(16..=64).contains(&salt.len()) {
            return Err("KDF salt must be 16-64 bytes".into());
        }
        Ok(())
    }

    fn salt_bytes(&self) -> Result<Vec<u8>, String> {
        if self.salt.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("KDF salt is not lowercase hex".into());
        }
        hex::decode(&self.salt).map_err(|_| "KDF salt is not hex".to_string())
    }
}

/// A chunk id: HMAC-SHA-256 of the chunk's plaintext under the id key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl std::fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkId({})", hex::encode(self.0))
    }
}

impl Serialize for ChunkId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for ChunkId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.as_bytes(), &mut out)
            .map_err(|_| serde::de::Error::custom("chunk id is not 64 hex digits"))?;
        Ok(ChunkId(out))
    }
}

/// The keys of one passcode under one set of KDF parameters.
pub struct Keys {
    id_mac: HmacSha256,
    commit_mac: HmacSha256,
    enc: LessSafeKey,
    key_id: [u8; 16],
    chunker: Chunker,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("key_id", &self.key_id_hex())
            .finish_non_exhaustive()
    }
}

/// Sub-key labels (HKDF "info").
const LABEL_ID: &[u8] = b"drhost-repo/v1/chunk-id";
const LABEL_ENC: &[u8] = b"drhost-repo/v1/encryption";
const LABEL_MAC: &[u8] = b"drhost-repo/v1/commit-mac";
const LABEL_KEY_ID: &[u8] = b"drhost-repo/v1/key-id";
const LABEL_CHUNKER: &[u8] = b"drhost-repo/v1/chunker-key";

/// HKDF-Expand-SHA256 (RFC 5869) for a 32-byte output: `HMAC(prk, info || 0x01)`.
fn expand(prk: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(prk).expect("HMAC takes any key length");
    m.update(info);
    m.update(&[1]);
    m.finalize().into_bytes().into()
}

impl Keys {
    /// Runs Argon2id (≈ 0.3 s and 64 MiB with the defaults: call from a blocking
    /// thread) and derives the sub-keys.
    pub fn derive(passcode: &str, kdf: &KdfParams) -> Result<Keys, String> {
        kdf.validate()?;
        let salt = kdf.salt_bytes()?;
        let params = argon2::Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
            .map_err(|e| format!("KDF parameters refused: {e}"))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut master = [0u8; 32];
        argon
            .hash_password_into(passcode.as_bytes(), &salt, &mut master)
            .map_err(|e| format!("KDF failed: {e}"))?;
        let keys = Self::from_master(&master);
        master.fill(0);
        Ok(keys)
    }

    fn from_master(master: &[u8; 32]) -> Keys {
        let mut id = expand(master, LABEL_ID);
        let mut enc = expand(master, LABEL_ENC);
        let mut mac = expand(master, LABEL_MAC);
        let key_id_full = expand(master, LABEL_KEY_ID);
        let mut chunker = expand(master, LABEL_CHUNKER);
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&key_id_full[..16]);
        let keys = Keys {
            id_mac: <HmacSha256 as Mac>::new_from_slice(&id).expect("any key length"),
            commit_mac: <HmacSha256 as Mac>::new_from_slice(&mac).expect("any key length"),
            enc: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &enc).expect("32-byte key for AES-256"),
            ),
            key_id,
            chunker: Chunker::new(&chunker),
        };
        chunker.fill(0);
        id.fill(0);
        enc.fill(0);
        mac.fill(0);
        keys
    }

    /// Keys from a fixed master key, for unit tests that must not pay for Argon2.
    #[cfg(test)]
    pub(crate) fn for_tests(master: [u8; 32]) -> Keys {
        Self::from_master(&master)
    }

    /// The public key id: first 16 bytes of HKDF-Expand(master, "key-id"), hex.
    /// Equal for backups that share passcode, salt and KDF parameters; it is
    /// also the key-check value that tells a wrong passcode apart.
    pub fn key_id(&self) -> [u8; 16] {
        self.key_id
    }

    pub fn key_id_hex(&self) -> String {
        hex::encode(self.key_id)
    }

    /// Constant-time comparison of our key id with a stored one.
    pub fn key_id_matches(&self, stored_hex: &str) -> bool {
        let mut stored = [0u8; 16];
        if hex::decode_to_slice(stored_hex, &mut stored).is_err() {
            return false;
        }
        stored
            .iter()
            .zip(self.key_id.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    pub fn chunk_id(&self, data: &[u8]) -> ChunkId {
        let mut m = self.id_mac.clone();
        m.update(data);
        ChunkId(m.finalize().into_bytes().into())
    }

    pub fn aead(&self) -> &LessSafeKey {
        &self.enc
    }

    /// The secret gear table and boundary function expanded from the chunker key.
    pub fn chunker(&self) -> &Chunker {
        &self.chunker
    }

    pub fn commit_mac(&self, data: &[u8]) -> [u8; 32] {
        let mut m = self.commit_mac.clone();
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Constant-time check of a commit MAC given as hex.
    pub fn verify_commit_mac(&self, data: &[u8], mac_hex: &str) -> bool {
        let Ok(mac) = hex::decode(mac_hex) else {
            return false;
        };
        let mut m = self.commit_mac.clone();
        m.update(data);
        m.verify_slice(&mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_expand_matches_rfc5869_case_1() {
        // RFC 5869 A.1: PRK and OKM's first 32 bytes (T(1)) for info f0..f9.
        let prk: [u8; 32] =
            hex::decode("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
                .unwrap()
                .try_into()
                .unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        assert_eq!(
            hex::encode(expand(&prk, &info)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn params_are_bounded() {
        let mut p = KdfParams::generate();
        assert!(p.validate().is_ok());
        p.memory_kib = 8;
        assert!(p.validate().is_err());
        let mut p = KdfParams::generate();
        p.memory_kib = u32::MAX;
        assert!(p.validate().is_err());
        let mut p = KdfParams::generate();
        p.salt = "zz".into();
        assert!(p.validate().is_err());
        let mut p = KdfParams::generate();
        p.salt = p.salt.to_uppercase();
        assert!(p.validate().is_err());
    }

    #[test]
    fn sub_keys_differ_and_key_id_checks() {
        let a = Keys::for_tests([1; 32]);
        let b = Keys::for_tests([2; 32]);
        assert_ne!(a.key_id_hex(), b.key_id_hex());
        assert!(a.key_id_matches(&a.key_id_hex()));
        assert!(!a.key_id_matches(&b.key_id_hex()));
        assert!(!a.key_id_matches("nothex"));
        assert_ne!(a.chunk_id(b"x"), b.chunk_id(b"x"));
        assert_eq!(a.chunk_id(b"x"), a.chunk_id(b"x"));
        let mac = hex::encode(a.commit_mac(b"m"));
        assert!(a.verify_commit_mac(b"m", &mac));
        assert!(!b.verify_commit_mac(b"m", &mac));
        assert!(!a.verify_commit_mac(b"n", &mac));
    }
}
