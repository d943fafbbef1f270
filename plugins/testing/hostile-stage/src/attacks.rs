//! The attacks, one function each. Every attack ends in an error: the
//! host's or WASI's refusal as it reached the plugin, or `ESCAPED ...` when
//! something got through (which the tests treat as a hole).

use std::hint::black_box;

use serde_json::{Map, Value};

use crate::bindings::drhost::plugin::archive::{
    ArchiveReader, ArchiveWriter, EntryKind, EntryMeta,
};
use crate::bindings::drhost::plugin::report;
use crate::bindings::drhost::plugin::types::PluginError;
use crate::bindings::exports::drhost::plugin::stage::StageSummary;

type Settings = Map<String, Value>;

pub fn backup(
    attack: &str,
    settings: &Settings,
    out: &ArchiveWriter,
) -> Result<StageSummary, PluginError> {
    match attack {
        // Restore attacks need a backup to restore.
        "none" | "write-outside" => benign_backup(out),
        "deep-recursion" => Err(escaped(format!("recursion returned at {}", recurse(0)))),
        "read-outside" => read_outside(&strings(settings, "paths")?),
        "entry-path" => entry_path(out, &string(settings, "path")?),
        "symlink-escape" => symlink_escape(out, &string(settings, "target")?),
        "tcp-connect" => tcp_connect(&string(settings, "target")?),
        "http" => http(&string(settings, "target")?),
        "endless-entry" => endless_entry(out),
        "flood" => flood(out, number(settings, "count")?),
        "huge-summary" => huge_summary(
            out,
            number(settings, "pairs")?,
            number(settings, "value_bytes")?,
        ),
        other => Err(PluginError::InvalidConfig(format!(
            "unknown attack {other:?}"
        ))),
    }
}

pub fn restore(
    attack: &str,
    settings: &Settings,
    input: &ArchiveReader,
) -> Result<StageSummary, PluginError> {
    match attack {
        "write-outside" => write_outside(
            &strings(settings, "paths")?,
            &strings(settings, "link_targets")?,
        ),
        _ => benign_restore(input),
    }
}

fn escaped(what: String) -> PluginError {
    PluginError::Other(format!("ESCAPED: {what}"))
}

fn string(settings: &Settings, key: &str) -> Result<String, PluginError> {
    settings
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| PluginError::InvalidConfig(format!("`{key}` (a string) is required")))
}

fn strings(settings: &Settings, key: &str) -> Result<Vec<String>, PluginError> {
    settings
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .ok_or_else(|| PluginError::InvalidConfig(format!("`{key}` (strings) is required")))
}

fn number(settings: &Settings, key: &str) -> Result<u64, PluginError> {
    settings
        .get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| PluginError::InvalidConfig(format!("`{key}` (a number) is required")))
}

fn meta(path: &str, kind: EntryKind, link_target: Option<String>) -> EntryMeta {
    EntryMeta {
        path: path.as_bytes().to_vec(),
        kind,
        mode: 0o644,
        mtime_seconds: 1_700_000_000,
        mtime_nanoseconds: 0,
        link_target: link_target.map(String::into_bytes),
        owner: None,
        attributes: Vec::new(),
    }
}

fn write_file(out: &ArchiveWriter, path: &str, data: &[u8]) -> Result<(), PluginError> {
    out.begin_entry(&meta(path, EntryKind::File, None))?;
    out.write(data)?;
    out.end_entry()
}

fn summary() -> StageSummary {
    StageSummary {
        items: 1,
        bytes: 5,
        metadata: Vec::new(),
    }
}

fn benign_backup(out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
    write_file(out, "hello.txt", b"hello")?;
    Ok(summary())
}

fn benign_restore(input: &ArchiveReader) -> Result<StageSummary, PluginError> {
    let (mut items, mut bytes) = (0, 0);
    while input.next_entry()?.is_some() {
        items += 1;
        loop {
            let chunk = input.read(1 << 20)?;
            if chunk.is_empty() {
                break;
            }
            bytes += chunk.len() as u64;
        }
    }
    Ok(StageSummary {
        items,
        bytes,
        metadata: Vec::new(),
    })
}

/// Small frames, no tail call: only the call stack limit ends it.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    black_box(recurse(depth + 1)).wrapping_add(1)
}

/// Reads (or lists) each path; every one should be refused by WASI.
fn read_outside(paths: &[String]) -> Result<StageSummary, PluginError> {
    let mut refusals = Vec::new();
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => {
                let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned();
                return Err(escaped(format!("read {path}: {head}")));
            }
            Err(read) => match std::fs::read_dir(path) {
                Ok(entries) => {
                    let names: Vec<String> = entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .take(8)
                        .collect();
                    return Err(escaped(format!("listed {path}: {}", names.join(","))));
                }
                Err(list) => refusals.push(format!("{path}: {read} / {list}")),
            },
        }
    }
    Err(PluginError::Denied(format!(
        "every access outside /data was refused: {}",
        refusals.join("; ")
    )))
}

fn entry_path(out: &ArchiveWriter, path: &str) -> Result<StageSummary, PluginError> {
    write_file(out, path, b"pwned")?;
    Err(escaped(format!("entry {path:?} accepted")))
}

/// A symlink out of the archive's root, then a file "inside" it.
fn symlink_escape(out: &ArchiveWriter, target: &str) -> Result<StageSummary, PluginError> {
    out.begin_entry(&meta("link", EntryKind::Symlink, Some(target.into())))?;
    out.end_entry()?;
    write_file(out, "link/x", b"pwned")?;
    Err(escaped(format!(
        "entry \"link/x\" through link -> {target} accepted"
    )))
}

fn tcp_connect(target: &str) -> Result<StageSummary, PluginError> {
    match std::net::TcpStream::connect(target) {
        Ok(_) => Err(escaped(format!("connected to {target}"))),
        Err(e) => Err(PluginError::Denied(format!(
            "connect to {target} failed: {e}"
        ))),
    }
}

#[cfg(target_os = "wasi")]
fn http(target: &str) -> Result<StageSummary, PluginError> {
    use s3_client::transport::{Method, Request, Transport};

    let request = Request {
        method: Method::Get,
        https: false,
        authority: target,
        path_and_query: "/".into(),
        headers: Vec::new(),
        body: &[],
    };
    match s3_client::wasi_http::WasiHttp.send(&request) {
        Ok(response) => Err(escaped(format!(
            "request to {target} answered HTTP {}",
            response.status
        ))),
        Err(e) => Err(PluginError::Denied(format!(
            "request to {target} failed: {}",
            e.detail
        ))),
    }
}

#[cfg(not(target_os = "wasi"))]
fn http(target: &str) -> Result<StageSummary, PluginError> {
    Err(PluginError::Other(format!(
        "no wasi:http to reach {target}"
    )))
}

/// One file entry that never ends: only an archive size limit stops it.
fn endless_entry(out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
    out.begin_entry(&meta("endless", EntryKind::File, None))?;
    // Varying bytes, so deduplication and compression do not make it cheap.
    let mut chunk = vec![0u8; 1 << 20];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    loop {
        for byte in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        out.write(&chunk)?;
    }
}

/// `count` progress reports and messages, then a normal backup.
fn flood(out: &ArchiveWriter, count: u64) -> Result<StageSummary, PluginError> {
    let text = "flood ".repeat(400);
    for i in 0..count {
        report::progress(i, i);
        report::message(9000, &text);
    }
    benign_backup(out)
}

fn huge_summary(
    out: &ArchiveWriter,
    pairs: u64,
    value_bytes: u64,
) -> Result<StageSummary, PluginError> {
    write_file(out, "hello.txt", b"hello")?;
    let value = "v".repeat(usize::try_from(value_bytes).unwrap_or(usize::MAX));
    Ok(StageSummary {
        metadata: (0..pairs)
            .map(|i| (format!("k{i}"), value.clone()))
            .collect(),
        ..summary()
    })
}

/// Writes each path, and through a symlink to each target; every write
/// should be refused.
fn write_outside(paths: &[String], link_targets: &[String]) -> Result<StageSummary, PluginError> {
    let mut refusals = Vec::new();
    for path in paths {
        match std::fs::write(path, b"escaped") {
            Ok(()) => return Err(escaped(format!("wrote {path}"))),
            Err(e) => refusals.push(format!("write {path}: {e}")),
        }
    }
    for (i, target) in link_targets.iter().enumerate() {
        let link = format!("link{i}");
        if let Err(e) = symlink(target, &link) {
            refusals.push(format!("symlink /data/{link} -> {target}: {e}"));
        }
        let through = format!("/data/{link}/escaped");
        match std::fs::write(&through, b"escaped") {
            Ok(()) => return Err(escaped(format!("wrote {through} (-> {target})"))),
            Err(e) => refusals.push(format!("write {through}: {e}")),
        }
    }
    Err(PluginError::Denied(format!(
        "every write outside /data was refused: {}",
        refusals.join("; ")
    )))
}

/// `std::os::wasi::fs::symlink_path` is unstable: use the `/data` preopen.
#[cfg(target_os = "wasi")]
fn symlink(target: &str, link: &str) -> Result<(), String> {
    let (dir, _) = wasi::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(_, guest)| guest == "/data")
        .ok_or("no /data preopen")?;
    dir.symlink_at(target, link).map_err(|e| format!("{e:?}"))
}

#[cfg(not(target_os = "wasi"))]
fn symlink(_: &str, _: &str) -> Result<(), String> {
    Err("no WASI".into())
}
