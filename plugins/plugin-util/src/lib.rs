//! Pure helpers shared by every drhost guest plugin: configuration parsing,
//! guest paths, archive entry paths and object names. Nothing here touches
//! WASI, so it is unit-tested natively.

use std::io::{self, Read};

pub mod config;
pub mod entry_path;
pub mod guest_path;
pub mod object_name;

/// Size of one streamed chunk: the host's archive and stream calls are most
/// efficient between 64 KiB and 1 MiB, and one reused buffer keeps memory flat.
pub const CHUNK: usize = 1 << 20;

/// Lowercase hexadecimal of `bytes` (digests in manifests and protocols).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `"<path>: <error>"`, the shape of every I/O error text the plugins report, so
/// an operator always learns which file failed.
pub fn io_message(path: &str, error: &io::Error) -> String {
    format!("{path}: {error}")
}

/// Fills `buf` as far as `reader` allows and returns how much it filled; less
/// than `buf.len()` only at end of input. Platforms may read in small pieces,
/// and full chunks keep the host calls that follow few and large.
pub fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
