//! Session startup: the startup message and the authentication exchange
//! (trust, cleartext, MD5, SCRAM-SHA-256), up to the first ReadyForQuery.

use std::io::{Read, Write};

use guest_sdk::Host;
use md5::{Digest, Md5};

use crate::PluginError;
use crate::connection::Connection;
use crate::scram;
use crate::wire::{self, Fields};
use plugin_util::hex;

const APPLICATION_NAME: &str = "drhost";
const CONTEXT: &str = "authentication failed";
const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// Starts a physical replication session as `user` and authenticates.
pub fn startup<S: Read + Write, H: Host>(
    conn: &mut Connection<'_, S, H>,
    user: &str,
    password: Option<&str>,
    nonce: &str,
) -> Result<(), PluginError> {
    conn.send(&wire::startup(&[
        ("user", user),
        // `true` (not `database`) asks for a physical replication walsender.
        ("replication", "true"),
        ("application_name", APPLICATION_NAME),
    ]))?;
    let mut scram_state = Scram::Idle;
    loop {
        let server = conn.server().to_owned();
        let (tag, body) = conn.next(CONTEXT)?;
        // Owned, so that errors can be built from `conn` while parsing;
        // authentication messages are small.
        let body = body.to_vec();
        if tag != b'R' {
            return Err(conn.unexpected(tag, "authentication"));
        }
        let mut f = Fields::new(&body);
        let code = f
            .i32("authentication request")
            .map_err(|m| conn.malformed(m))?;
        let reply = match code {
            0 => break,
            3 => wire::password(need_password(&server, password)?),
            5 => {
                let salt = f.bytes(4, "MD5 salt").map_err(|m| conn.malformed(m))?;
                let pw = need_password(&server, password)?;
                wire::password(&md5_password(user, pw, salt))
            }
            10 => {
                let offered = mechanisms(f.rest());
                if !offered.iter().any(|m| m == SCRAM_SHA_256) {
                    return Err(PluginError::Other(format!(
                        "PostgreSQL server {server}: {CONTEXT}: the server offers SASL \
                         mechanisms {offered:?} but not {SCRAM_SHA_256} without channel binding"
                    )));
                }
                need_password(&server, password)?;
                let (client, first) = scram::Client::start("", nonce);
                scram_state = Scram::Started(client);
                wire::sasl_initial(SCRAM_SHA_256, first.as_bytes())
            }
            11 => {
                let Scram::Started(client) = std::mem::replace(&mut scram_state, Scram::Idle)
                else {
                    return Err(conn.unexpected(tag, "authentication (SASLContinue out of order)"));
                };
                let server_first = String::from_utf8_lossy(f.rest()).into_owned();
                let pw = need_password(&server, password)?;
                let (pending, fin) = client
                    .respond(pw, &server_first)
                    .map_err(|e| scram_error(&server, &e))?;
                scram_state = Scram::Sent(pending);
                wire::sasl_response(fin.as_bytes())
            }
            12 => {
                let Scram::Sent(pending) = std::mem::replace(&mut scram_state, Scram::Idle) else {
                    return Err(conn.unexpected(tag, "authentication (SASLFinal out of order)"));
                };
                let server_final = String::from_utf8_lossy(f.rest()).into_owned();
                pending
                    .finish(&server_final)
                    .map_err(|e| scram_error(&server, &e))?;
                scram_state = Scram::Verified;
                continue;
            }
            other => {
                return Err(PluginError::Other(format!(
                    "PostgreSQL server {server}: {CONTEXT}: the server asks for an unsupported \
                     authentication method (code {other}); configure password, md5 or \
                     scram-sha-256 for this role in pg_hba.conf"
                )));
            }
        };
        conn.send(&reply)?;
    }
    // AuthenticationOk must not skip a started SCRAM exchange: the server
    // would then not have proven it knows the password.
    if matches!(scram_state, Scram::Started(_) | Scram::Sent(_)) {
        return Err(scram_error(
            conn.server(),
            "the server ended the SCRAM exchange without proving it knows the password",
        ));
    }
    match conn.next("connection setup failed")? {
        (b'Z', _) => Ok(()),
        (tag, _) => Err(conn.unexpected(tag, "connection setup")),
    }
}

enum Scram {
    Idle,
    Started(scram::Client),
    Sent(scram::Pending),
    Verified,
}

fn need_password<'a>(server: &str, password: Option<&'a str>) -> Result<&'a str, PluginError> {
    password.ok_or_else(|| {
        PluginError::InvalidConfig(format!(
            "PostgreSQL server {server}: the server asks for a password but none is configured \
             (set `password`, or let the host inject it from a password file)"
        ))
    })
}

fn scram_error(server: &str, why: &str) -> PluginError {
    PluginError::Denied(format!("PostgreSQL server {server}: {CONTEXT}: {why}"))
}

/// The NUL-terminated mechanism names of AuthenticationSASL.
fn mechanisms(list: &[u8]) -> Vec<String> {
    list.split(|&b| b == 0)
        .filter(|m| !m.is_empty())
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect()
}

/// `"md5" + md5hex(md5hex(password + user) + salt)`, PostgreSQL's MD5 scheme.
pub fn md5_password(user: &str, password: &str, salt: &[u8]) -> String {
    let inner = hex(&Md5::new()
        .chain_update(password)
        .chain_update(user)
        .finalize());
    let outer = Md5::new().chain_update(inner).chain_update(salt).finalize();
    format!("md5{}", hex(&outer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_password_matches_postgres() {
        // Computed independently: "md5" + md5(md5("pencil" + "replicator") + salt).
        assert_eq!(
            md5_password("replicator", "pencil", &[1, 2, 3, 4]),
            "md55a455de8933434b2da6c77871a9ed55f"
        );
    }

    #[test]
    fn splits_mechanisms() {
        assert_eq!(
            mechanisms(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
            ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        );
    }
}
