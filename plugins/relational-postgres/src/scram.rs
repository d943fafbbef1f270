//! SCRAM-SHA-256 client (RFC 5802, RFC 7677) without channel binding, as
//! PostgreSQL speaks it. The server's signature is checked, so a server that
//! does not know the password cannot pretend authentication succeeded.
//!
//! The password is used as given: PostgreSQL's client applies SASLprep, which
//! is the identity for ASCII passwords; other passwords must already be in
//! normalized form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// Base64 of the GS2 header `n,,`: no channel binding, no authzid.
const CHANNEL_BINDING: &str = "biws";
/// Bounds on the server's iteration count: zero is invalid, and a huge count
/// would keep the plugin busy for hours before failing.
const MAX_ITERATIONS: u32 = 10_000_000;

/// A SCRAM exchange after the client's first message.
pub struct Client {
    client_first_bare: String,
    nonce: String,
}

/// The exchange after the client's final message: what the server must prove.
pub struct Pending {
    expected_server_signature: [u8; 32],
}

impl Client {
    /// Starts an exchange; `nonce` must be printable ASCII without `,`.
    /// PostgreSQL takes the user from the startup message, so `user` is
    /// normally empty. Returns the client-first message to send.
    pub fn start(user: &str, nonce: &str) -> (Self, String) {
        let client_first_bare = format!("n={},r={nonce}", escape_name(user));
        let first = format!("n,,{client_first_bare}");
        (
            Self {
                client_first_bare,
                nonce: nonce.to_owned(),
            },
            first,
        )
    }

    /// Answers the server-first message with the client-final message.
    pub fn respond(self, password: &str, server_first: &str) -> Result<(Pending, String), String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = Some(v),
                Some(("i=", v)) => iterations = Some(v),
                Some(("m=", _)) => {
                    return Err("server requires an unsupported SCRAM extension".into());
                }
                _ => {}
            }
        }
        let nonce = nonce.ok_or("SCRAM server-first message lacks a nonce")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("SCRAM server nonce does not extend the client nonce".into());
        }
        let salt = B64
            .decode(salt.ok_or("SCRAM server-first message lacks a salt")?)
            .map_err(|_| "SCRAM salt is not valid base64")?;
        let iterations: u32 = iterations
            .and_then(|i| i.parse().ok())
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .ok_or("SCRAM iteration count is missing or out of range")?;

        let salted = pbkdf2_sha256(password.as_bytes(), &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c={CHANNEL_BINDING},r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }
        let server_key = hmac(&salted, b"Server Key");
        let pending = Pending {
            expected_server_signature: hmac(&server_key, auth_message.as_bytes()),
        };
        Ok((pending, format!("{without_proof},p={}", B64.encode(proof))))
    }
}

impl Pending {
    /// Checks the server-final message.
    pub fn finish(self, server_final: &str) -> Result<(), String> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(format!("server rejected the SCRAM exchange: {e}"));
        }
        let signature = server_final
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .ok_or("SCRAM server-final message lacks the server signature")?;
        let signature = B64
            .decode(signature)
            .map_err(|_| "SCRAM server signature is not valid base64")?;
        if signature != self.expected_server_signature {
            return Err(
                "the server's SCRAM signature is wrong: it does not know the password \
                 (is something impersonating the server?)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// RFC 5802 `saslname`: `=` and `,` are escaped.
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// SHA-256's block size, which HMAC pads its key to.
const BLOCK: usize = 64;

/// HMAC-SHA-256 (RFC 2104), written out because it is a dozen lines and
/// needs no fallible key setup.
fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// PBKDF2-HMAC-SHA-256 with one output block, which is all SCRAM needs.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677, section 3.
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn matches_rfc7677_vector() {
        let (client, first) = Client::start("user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(first, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let (pending, fin) = client.respond("pencil", SERVER_FIRST).unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        pending
            .finish("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
    }

    #[test]
    fn refuses_wrong_server_signature_and_errors() {
        let (client, _) = Client::start("user", "rOprNGfwEbeRWgbNEkqO");
        let (pending, _) = client.respond("pencil", SERVER_FIRST).unwrap();
        let err = pending
            .finish("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(err.contains("signature is wrong"), "{err}");

        let (client, _) = Client::start("user", "rOprNGfwEbeRWgbNEkqO");
        let (pending, _) = client.respond("pencil", SERVER_FIRST).unwrap();
        assert!(
            pending
                .finish("e=invalid-proof")
                .unwrap_err()
                .contains("invalid-proof")
        );
    }

    #[test]
    fn refuses_bad_server_first() {
        let bad = [
            "r=otherNonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
        ];
        for server_first in bad {
            let (client, _) = Client::start("", "rOprNGfwEbeRWgbNEkqO");
            assert!(
                client.respond("pencil", server_first).is_err(),
                "{server_first}"
            );
        }
    }

    #[test]
    fn hmac_matches_rfc4231() {
        // Test cases 2 and 6 (a key longer than the block).
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            plugin_util::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mac = hmac(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            plugin_util::hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn escapes_names() {
        assert_eq!(escape_name("a=b,c"), "a=3Db=2Cc");
    }
}
