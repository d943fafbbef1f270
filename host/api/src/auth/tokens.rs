//! Stateless signed tokens:
//! `base64url(payload).base64url(HMAC-SHA-256(key, payload))` with a JSON
//! payload `{user, role, stamp, expires (epoch ms), nonce}`, keyed with the
//! random 32-byte `token.key` of the state directory so that tokens survive
//! a restart. This module signs and opens them; whether the user they name
//! still stands behind them is [`super::Auth`]'s decision.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::OsRng;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::private_file::{read_if_exists, restrict_permissions, write_private};
use super::{AuthError, Role};
use crate::error::ApiError;

/// File of the token-signing key in the state directory.
pub const KEY_FILE: &str = "token.key";
pub(super) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// Longer tokens are rejected before decoding.
const MAX_TOKEN_LEN: usize = 2048;

type HmacSha256 = Hmac<Sha256>;

/// A freshly signed token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    /// Expiry in epoch milliseconds.
    pub expires: i64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    /// The user is gone, or has another role or password now.
    #[error("token no longer valid for its user")]
    Revoked,
}

/// Token errors keep ArcGIS's codes: expired and invalid tokens both answer 498.
impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Expired => ApiError::TokenExpired,
            TokenError::Malformed | TokenError::BadSignature | TokenError::Revoked => {
                ApiError::InvalidToken
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct Payload {
    pub(super) user: String,
    pub(super) role: Role,
    /// Absent from tokens issued before stamps existed, which therefore
    /// match no user.
    #[serde(default)]
    pub(super) stamp: String,
    pub(super) expires: i64,
    pub(super) nonce: String,
}

/// The signing key.
pub(super) struct TokenKey {
    /// HMAC keyed with the contents of `token.key`, cloned per use.
    mac: HmacSha256,
}

impl TokenKey {
    /// Reads the key at `path`, or creates it (mode 0600) when missing.
    pub(super) fn load_or_create(path: &Path) -> Result<TokenKey, AuthError> {
        let bad_key = || AuthError::BadKey {
            path: path.to_owned(),
        };
        let key: [u8; KEY_LEN] = match read_if_exists(path)? {
            Some(bytes) => {
                let key = bytes.try_into().map_err(|_| bad_key())?;
                restrict_permissions(path)?;
                key
            }
            None => {
                let mut key = [0u8; KEY_LEN];
                OsRng.fill_bytes(&mut key);
                write_private(path, &key)?;
                key
            }
        };
        let mac = <HmacSha256 as Mac>::new_from_slice(&key).map_err(|_| bad_key())?;
        Ok(TokenKey { mac })
    }

    /// A token for `payload`, with a fresh nonce.
    pub(super) fn sign(
        &self,
        user: &str,
        role: Role,
        stamp: String,
        expires: i64,
    ) -> Result<IssuedToken, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            user: user.to_owned(),
            role,
            stamp,
            expires,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
        };
        let payload = serde_json::to_vec(&payload).map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(IssuedToken {
            token: self.seal(&payload),
            expires,
        })
    }

    /// `payload` and its signature, encoded as a token.
    pub(super) fn seal(&self, payload: &[u8]) -> String {
        let mac = self.mac(payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// The payload of a token whose signature (checked in constant time)
    /// holds and which has not expired at `now`.
    pub(super) fn open(&self, token: &str, now: i64) -> Result<Payload, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, mac) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(&payload)
            .verify_slice(&mac)
            .map_err(|_| TokenError::BadSignature)?;
        let payload: Payload =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if payload.expires <= now {
            return Err(TokenError::Expired);
        }
        Ok(payload)
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(payload);
        mac
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
