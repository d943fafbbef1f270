//! Whole-flow tests: a scripted server on one side, in-memory archive and
//! host fakes on the other.

use std::cell::RefCell;
use std::io::{self, Cursor, Read, Write};

use guest_sdk::native::NativeFs;
use guest_sdk::{ContentDigest, EntryKind, EntryMeta, EntrySink, EntrySource, Host, LogLevel};
use sha2::Digest;

use crate::config::{DataOwner, Id};
use crate::connection::Connection;
use crate::manifest::tests::manifest;
use crate::tar::tests::{archive, header_block};
use crate::{PluginError, auth, backup, restore};

// ---------- fakes ----------

#[derive(Default)]
pub struct FakeHost {
    pub logs: RefCell<Vec<String>>,
    pub messages: RefCell<Vec<(u32, String)>>,
}

impl Host for FakeHost {
    fn log(&self, _: LogLevel, message: &str) {
        self.logs.borrow_mut().push(message.to_owned());
    }
    fn message(&self, code: u32, text: &str) {
        self.messages.borrow_mut().push((code, text.to_owned()));
    }
    fn progress(&self, _: u64, _: u64) {}
    fn skipped(&self, _: &[u8], _: &str) {
        unreachable!("the plugin leaves nothing out")
    }
}

/// Entries as written, content included.
#[derive(Default)]
pub struct MemArchive {
    pub entries: RefCell<Vec<(EntryMeta, Vec<u8>)>>,
    pub open: RefCell<bool>,
    pub max_write: RefCell<usize>,
    cursor: RefCell<(usize, usize)>,
}

impl EntrySink for MemArchive {
    fn begin_entry(&self, meta: &EntryMeta) -> Result<(), PluginError> {
        assert!(
            !*self.open.borrow(),
            "entry begun before the previous ended"
        );
        *self.open.borrow_mut() = true;
        self.entries.borrow_mut().push((meta.clone(), Vec::new()));
        Ok(())
    }
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        assert!(*self.open.borrow());
        let mut max = self.max_write.borrow_mut();
        *max = (*max).max(data.len());
        if let Some(last) = self.entries.borrow_mut().last_mut() {
            last.1.extend_from_slice(data);
        }
        Ok(())
    }
    fn end_entry(&self) -> Result<(), PluginError> {
        *self.open.borrow_mut() = false;
        Ok(())
    }
    fn hash_entry(&self) -> Result<(), PluginError> {
        let entries = self.entries.borrow();
        assert!(*self.open.borrow() && entries.last().is_some_and(|e| e.1.is_empty()));
        Ok(())
    }
    fn entry_digest(&self) -> Result<ContentDigest, PluginError> {
        assert!(*self.open.borrow());
        let entries = self.entries.borrow();
        let data = entries.last().map(|e| e.1.as_slice()).unwrap_or_default();
        Ok(ContentDigest {
            size: data.len() as u64,
            sha256: sha2::Sha256::digest(data).to_vec(),
        })
    }
}

impl EntrySource for MemArchive {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError> {
        let mut c = self.cursor.borrow_mut();
        let entries = self.entries.borrow();
        let next = entries.get(c.0).map(|(m, _)| m.clone());
        *c = (c.0 + 1, 0);
        Ok(next)
    }
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let mut c = self.cursor.borrow_mut();
        let entries = self.entries.borrow();
        let Some((_, data)) = c.0.checked_sub(1).and_then(|i| entries.get(i)) else {
            return Ok(Vec::new());
        };
        let end = (c.1 + max as usize).min(data.len());
        let out = data[c.1..end].to_vec();
        c.1 = end;
        Ok(out)
    }
}

impl MemArchive {
    pub fn paths(&self) -> Vec<String> {
        self.entries
            .borrow()
            .iter()
            .map(|(m, _)| String::from_utf8(m.path.clone()).unwrap())
            .collect()
    }
    pub fn content(&self, path: &str) -> Option<Vec<u8>> {
        self.entries
            .borrow()
            .iter()
            .find(|(m, _)| m.path == path.as_bytes())
            .map(|(_, d)| d.clone())
    }
}

/// A server that replays a script and records what the client sent.
struct Scripted {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
    /// Fail reads with a reset once the script is exhausted, instead of EOF.
    reset_at_end: bool,
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        if n == 0 && self.reset_at_end && !buf.is_empty() {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------- backend messages ----------

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(extra);
    msg(b'R', &body)
}

fn param(name: &str, value: &str) -> Vec<u8> {
    msg(b'S', format!("{name}\0{value}\0").as_bytes())
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

fn row_description(names: &[&str]) -> Vec<u8> {
    let mut body = (names.len() as i16).to_be_bytes().to_vec();
    for n in names {
        body.extend_from_slice(n.as_bytes());
        body.push(0);
        body.extend_from_slice(&[0; 18]);
    }
    msg(b'T', &body)
}

fn data_row(values: &[Option<&str>]) -> Vec<u8> {
    let mut body = (values.len() as i16).to_be_bytes().to_vec();
    for v in values {
        match v {
            Some(v) => {
                body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                body.extend_from_slice(v.as_bytes());
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    msg(b'D', &body)
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', format!("{tag}\0").as_bytes())
}

fn copy_data(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(data);
    msg(b'd', &body)
}

fn error(code: &str, message: &str) -> Vec<u8> {
    msg(
        b'E',
        format!("SFATAL\0VFATAL\0C{code}\0M{message}\0\0").as_bytes(),
    )
}

fn startup_ok(version: &str) -> Vec<u8> {
    [
        auth(0, &[]),
        param("server_version", version),
        msg(b'K', &[0; 8]),
        ready(),
    ]
    .concat()
}

fn identify() -> Vec<u8> {
    [
        row_description(&["systemid", "timeline", "xlogpos", "dbname"]),
        data_row(&[
            Some("7301234567890123456"),
            Some("1"),
            Some("0/3000060"),
            None,
        ]),
        complete("IDENTIFY_SYSTEM"),
        ready(),
    ]
    .concat()
}

/// A BASE_BACKUP response carrying `archives` (name, location, tar bytes)
/// and `manifest`, with CopyData pieces of `piece` bytes.
fn base_backup_response(
    archives: &[(&str, &str, Vec<u8>)],
    manifest_text: &str,
    tablespaces: &[(&str, &str)],
    piece: usize,
) -> Vec<u8> {
    let mut out = [
        row_description(&["recptr", "tli"]),
        data_row(&[Some("0/2000028"), Some("1")]),
        row_description(&["spcoid", "spclocation", "size"]),
    ]
    .concat();
    for (oid, loc) in tablespaces {
        out.extend(data_row(&[Some(oid), Some(loc), None]));
    }
    out.extend(data_row(&[None, None, None]));
    out.extend(complete("SELECT"));
    out.extend(msg(b'H', &[0, 0, 0]));
    for (name, location, bytes) in archives {
        out.extend(copy_data(b'n', format!("{name}\0{location}\0").as_bytes()));
        for chunk in bytes.chunks(piece) {
            out.extend(copy_data(b'd', chunk));
        }
        out.extend(copy_data(b'p', &(bytes.len() as i64).to_be_bytes()));
    }
    out.extend(copy_data(b'm', &[]));
    for chunk in manifest_text.as_bytes().chunks(piece) {
        out.extend(copy_data(b'd', chunk));
    }
    out.extend(msg(b'c', &[]));
    out.extend(row_description(&["recptr", "tli"]));
    out.extend(data_row(&[Some("0/2000100"), Some("1")]));
    out.extend(complete("BASE_BACKUP"));
    out.extend(ready());
    out
}

const CONTROL: &[u8] = b"pg_control bytes";
const LABEL: &[u8] = b"START WAL LOCATION: 0/2000028\n";

fn base_files() -> Vec<(&'static str, &'static [u8])> {
    let big: &'static [u8] = Box::leak(vec![7u8; 3 << 20].into_boxed_slice());
    vec![
        ("backup_label", LABEL),
        ("global/pg_control", CONTROL),
        ("base/1/1259", big),
    ]
}

fn base_tar() -> Vec<u8> {
    let mut files = base_files();
    files.push(("pg_wal/000000010000000000000002", b"wal segment"));
    let mut bytes = archive(&files, false);
    // `archive` ends with a symlink member; drop it for the base archive.
    bytes.truncate(bytes.len() - 512);
    bytes.extend_from_slice(&[0; 1024]);
    bytes
}

fn session(script: Vec<u8>, reset_at_end: bool) -> Scripted {
    Scripted {
        input: Cursor::new(script),
        output: Vec::new(),
        reset_at_end,
    }
}

fn run_backup(
    script: Vec<u8>,
    reset: bool,
) -> (
    Result<backup::Summary, PluginError>,
    MemArchive,
    FakeHost,
    Vec<u8>,
) {
    let host = FakeHost::default();
    let sink = MemArchive::default();
    let mut stream = session(script, reset);
    let result = {
        let mut conn = Connection::new(&mut stream, "127.0.0.1:5432".into(), &host);
        auth::startup(&mut conn, "replicator", None, "nonce")
            .and_then(|()| backup::run(&mut conn, "drhost", &sink))
    };
    (result, sink, host, stream.output)
}

fn full_script(piece: usize) -> Vec<u8> {
    let text = manifest(&base_files());
    [
        startup_ok("15.8 (Debian 15.8-1)"),
        identify(),
        base_backup_response(&[("base.tar", "", base_tar())], &text, &[], piece),
    ]
    .concat()
}

// ---------- backup ----------

#[test]
fn backs_up_and_verifies_a_base_backup() {
    for piece in [1000, 8192, 65_536] {
        let (result, sink, host, sent) = run_backup(full_script(piece), false);
        let summary = result.unwrap();
        assert_eq!(
            sink.paths(),
            [
                "global",
                "backup_label",
                "global/pg_control",
                "base/1/1259",
                "pg_wal/000000010000000000000002",
                "backup_manifest"
            ]
        );
        assert_eq!(sink.content("global/pg_control").unwrap(), CONTROL);
        assert_eq!(sink.content("base/1/1259").unwrap().len(), 3 << 20);
        assert!(*sink.max_write.borrow() <= 1 << 20);
        let entries = sink.entries.borrow();
        let (manifest_meta, manifest_data) = entries.last().unwrap();
        assert_eq!(manifest_meta.mode, 0o600);
        assert_eq!(manifest_data.as_slice(), manifest(&base_files()).as_bytes());
        assert_eq!(entries[0].0.kind, EntryKind::Directory);
        assert_eq!(entries[1].0.mode, 0o600);

        let meta: std::collections::HashMap<_, _> = summary.metadata.iter().cloned().collect();
        assert_eq!(meta["server-version"], "15.8 (Debian 15.8-1)");
        assert_eq!(meta["system-identifier"], "7301234567890123456");
        assert_eq!(meta["timeline"], "1");
        assert_eq!(meta["start-lsn"], "0/2000028");
        assert_eq!(meta["end-lsn"], "0/2000100");
        assert_eq!(meta["files"], "4");
        assert_eq!(meta["tablespaces"], "");
        assert_eq!(meta["manifest-sha256"].len(), 64);
        assert_eq!(summary.items, 6);

        let messages = host.messages.borrow();
        assert_eq!(
            messages[0],
            (
                4016,
                "Base backup started at LSN 0/2000028 on timeline 1.".into()
            )
        );
        assert_eq!(
            messages[1],
            (
                4017,
                "Verified 3 files against the server's backup manifest.".into()
            )
        );

        let sent = String::from_utf8_lossy(&sent);
        assert!(sent.contains("user\0replicator\0replication\0true\0application_name\0drhost\0"));
        assert!(sent.contains("IDENTIFY_SYSTEM\0"));
        assert!(sent.contains("BASE_BACKUP ( LABEL 'drhost', PROGRESS true"));
    }
}

#[test]
fn names_a_file_that_does_not_match_the_manifest() {
    let mut files = base_files();
    files[1] = ("global/pg_control", b"other pg_control");
    let text = manifest(&files);
    let script = [
        startup_ok("16.2"),
        identify(),
        base_backup_response(&[("base.tar", "", base_tar())], &text, &[], 4096),
    ]
    .concat();
    let err = run_backup(script, false).0.unwrap_err();
    let text = format!("{err:?}");
    assert!(matches!(err, PluginError::InvalidData(_)), "{text}");
    assert!(text.contains("global/pg_control: SHA-256"), "{text}");
}

#[test]
fn keeps_tablespace_archives_apart() {
    let ts = archive(&[("PG_15_202209061/16384/16385", b"table")], true);
    let mut ts = ts;
    // Drop the sample's directory and symlink members: keep the file only.
    ts.drain(..512);
    let mut files = base_files();
    files.push(("pg_tblspc/16390/PG_15_202209061/16384/16385", b"table"));
    let text = manifest(&files);
    let script = [
        startup_ok("15.8"),
        identify(),
        base_backup_response(
            &[("16390.tar", "/srv/ts", ts), ("base.tar", "", base_tar())],
            &text,
            &[("16390", "/srv/ts")],
            777,
        ),
    ]
    .concat();
    let (result, sink, _, _) = run_backup(script, false);
    let summary = result.unwrap();
    assert!(
        sink.paths()
            .contains(&"pg_tblspc_archives/16390/PG_15_202209061/16384/16385".to_owned())
    );
    assert!(
        sink.paths()
            .contains(&"pg_tblspc_archives/16390/pg_tblspc/16390".to_owned())
    );
    let meta: std::collections::HashMap<_, _> = summary.metadata.into_iter().collect();
    assert_eq!(meta["tablespaces"], "16390=/srv/ts");
}

#[test]
fn refuses_old_servers() {
    let host = FakeHost::default();
    let mut stream = session(startup_ok("14.9"), false);
    let mut conn = Connection::new(&mut stream, "127.0.0.1:5432".into(), &host);
    auth::startup(&mut conn, "replicator", None, "n").unwrap();
    // `open` checks the version after startup; exercise the same check.
    let err = crate::connection::tests_check_version(&conn).unwrap_err();
    assert!(format!("{err:?}").contains("runs version 14.9"), "{err:?}");
}

#[test]
fn reports_a_server_that_disappears() {
    let mut script = full_script(8192);
    script.truncate(script.len() / 2);
    for reset in [false, true] {
        let err = run_backup(script.clone(), reset).0.unwrap_err();
        let PluginError::Io(text) = &err else {
            panic!("{err:?}")
        };
        assert!(
            text.starts_with("PostgreSQL server 127.0.0.1:5432: "),
            "{text}"
        );
        assert!(text.contains("bytes received"), "{text}");
    }
}

#[test]
fn reports_server_errors_with_sqlstate() {
    let script = error(
        "28P01",
        "password authentication failed for user \"replicator\"",
    );
    let err = run_backup(script, false).0.unwrap_err();
    let PluginError::Denied(text) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        text,
        "PostgreSQL server 127.0.0.1:5432: authentication failed: password authentication \
         failed for user \"replicator\" (28P01)"
    );

    let script = [
        startup_ok("15.1"),
        identify(),
        error(
            "55000",
            "WAL level not sufficient for making an online backup",
        ),
    ]
    .concat();
    let err = format!("{:?}", run_backup(script, false).0.unwrap_err());
    assert!(
        err.contains("BASE_BACKUP failed: WAL level not sufficient") && err.contains("(55000)"),
        "{err}"
    );
}

#[test]
fn authenticates_with_md5_and_cleartext() {
    let host = FakeHost::default();
    let script = [auth(5, &[1, 2, 3, 4]), startup_ok("15.1")].concat();
    let mut stream = session(script, false);
    {
        let mut conn = Connection::new(&mut stream, "127.0.0.1:5432".into(), &host);
        auth::startup(&mut conn, "replicator", Some("pencil"), "n").unwrap();
    }
    let sent = String::from_utf8_lossy(&stream.output).into_owned();
    assert!(
        sent.contains("md55a455de8933434b2da6c77871a9ed55f\0"),
        "{sent}"
    );
    assert!(!sent.contains("pencil"));

    let script = [auth(3, &[]), startup_ok("15.1")].concat();
    let mut stream = session(script, false);
    {
        let mut conn = Connection::new(&mut stream, "127.0.0.1:5432".into(), &host);
        auth::startup(&mut conn, "replicator", Some("pencil"), "n").unwrap();
    }
    assert!(stream.output.ends_with(b"p\0\0\0\x0bpencil\0"));
}

#[test]
fn asks_for_a_missing_password_without_revealing_anything() {
    let host = FakeHost::default();
    for request in [
        auth(3, &[]),
        auth(5, &[1, 2, 3, 4]),
        auth(10, b"SCRAM-SHA-256\0\0"),
    ] {
        let mut stream = session(request, false);
        let mut conn = Connection::new(&mut stream, "127.0.0.1:5432".into(), &host);
        let err = auth::startup(&mut conn, "replicator", None, "n").unwrap_err();
        let PluginError::InvalidConfig(text) = err else {
            panic!()
        };
        assert!(
            text.contains("asks for a password but none is configured"),
            "{text}"
        );
    }
}

#[test]
fn runs_scram_and_checks_the_server_signature() {
    // The client's nonce is fixed so the exchange is reproducible; the
    // server's messages come from an independent server-side computation.
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    let salt = b"0123456789abcdef";
    let iterations = 4096u32;
    // PBKDF2 with one block, written out independently of the client.
    let mut u = mac(b"pencil", &[&salt[..], &1u32.to_be_bytes()].concat());
    let mut salted = u.clone();
    for _ in 1..iterations {
        u = mac(b"pencil", &u);
        salted.iter_mut().zip(&u).for_each(|(s, x)| *s ^= x);
    }
    let server_first = format!("r=clientnonceSERVER,s={},i={iterations}", B64.encode(salt));
    let auth_message = format!("n=,r=clientnonce,{server_first},c=biws,r=clientnonceSERVER");
    let server_sig = mac(&mac(&salted, b"Server Key"), auth_message.as_bytes());
    let client_key = mac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let client_sig = mac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(client_sig)
        .map(|(a, b)| a ^ b)
        .collect();

    for (signature, ok) in [(server_sig.clone(), true), (vec![0u8; 32], false)] {
        let script = [
            auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
            auth(11, server_first.as_bytes()),
            auth(12, format!("v={}", B64.encode(&signature)).as_bytes()),
            startup_ok("17.0"),
        ]
        .concat();
        let host = FakeHost::default();
        let mut stream = session(script, false);
        let result = {
            let mut conn = Connection::new(&mut stream, "127.0.0.1:5432".into(), &host);
            auth::startup(&mut conn, "replicator", Some("pencil"), "clientnonce")
        };
        let sent = String::from_utf8_lossy(&stream.output).into_owned();
        assert!(
            sent.contains("SCRAM-SHA-256\0\0\0\0\x13n,,n=,r=clientnonce"),
            "{sent:?}"
        );
        assert!(sent.contains(&format!(
            "c=biws,r=clientnonceSERVER,p={}",
            B64.encode(&proof)
        )));
        match result {
            Ok(()) => assert!(ok),
            Err(e) => {
                assert!(!ok, "{e:?}");
                assert!(format!("{e:?}").contains("SCRAM signature is wrong"));
            }
        }
    }
}

#[test]
fn refuses_data_before_an_archive_and_unknown_archives() {
    let text = manifest(&base_files());
    let script = [
        startup_ok("15.8"),
        identify(),
        base_backup_response(&[("base.tar.gz", "", base_tar())], &text, &[], 4096),
    ]
    .concat();
    let err = format!("{:?}", run_backup(script, false).0.unwrap_err());
    assert!(
        err.contains("unexpected archive") && err.contains("base.tar.gz"),
        "{err}"
    );
}

#[test]
fn refuses_a_truncated_archive() {
    let mut tar = base_tar();
    tar.truncate(3000);
    let text = manifest(&base_files());
    let script = [
        startup_ok("15.8"),
        identify(),
        base_backup_response(&[("base.tar", "", tar)], &text, &[], 4096),
    ]
    .concat();
    let err = format!("{:?}", run_backup(script, false).0.unwrap_err());
    assert!(
        err.contains("server archive base.tar: the archive ends"),
        "{err}"
    );
}

// ---------- restore ----------

fn restore_into(
    root: &str,
    archive: &MemArchive,
    metadata: &[(String, String)],
) -> Result<restore::Totals, PluginError> {
    restore::restore(
        root,
        archive,
        &FakeHost::default(),
        &NativeFs,
        metadata,
        &DataOwner::default(),
    )
}

/// (uid, gid) of every entry below `root` and of `root` itself.
fn owners(root: &std::path::Path) -> Vec<(String, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        out.push((rel, meta.uid(), meta.gid()));
    }
    out.sort();
    out
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::tempdir().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid() == 0
}

fn backed_up() -> (MemArchive, Vec<(String, String)>) {
    let (result, sink, _, _) = run_backup(full_script(65_536), false);
    (sink, result.unwrap().metadata)
}

#[test]
fn restores_and_verifies_into_an_empty_directory() {
    use std::os::unix::fs::PermissionsExt;
    let (archive, metadata) = backed_up();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let root = root.to_str().unwrap().to_owned();
    let host = FakeHost::default();
    let totals = restore::restore(
        &root,
        &archive,
        &host,
        &NativeFs,
        &metadata,
        &DataOwner::default(),
    )
    .unwrap();
    assert_eq!(totals.items, 6);
    assert_eq!(
        std::fs::read(format!("{root}/global/pg_control")).unwrap(),
        CONTROL
    );
    assert_eq!(
        std::fs::metadata(format!("{root}/base/1/1259"))
            .unwrap()
            .len(),
        3 << 20
    );
    assert!(std::fs::metadata(format!("{root}/backup_manifest")).is_ok());
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&format!("{root}/base/1")), 0o700);
    assert_eq!(mode(&format!("{root}/global/pg_control")), 0o600);
    assert!(host.logs.borrow().iter().all(|l| !l.contains("owner")));
}

/// Without configuration, everything is owned like the target directory.
#[test]
fn restore_gives_every_entry_the_owner_of_the_target() {
    let (archive, metadata) = backed_up();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir(&root).unwrap();
    let wanted = if running_as_root() {
        std::os::unix::fs::chown(&root, Some(12_345), Some(23_456)).unwrap();
        (12_345, 23_456)
    } else {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&root).unwrap();
        (meta.uid(), meta.gid())
    };
    restore_into(root.to_str().unwrap(), &archive, &metadata).unwrap();
    let owners = owners(&root);
    assert_eq!(owners.len(), 10, "{owners:?}");
    for (path, uid, gid) in owners {
        assert_eq!((uid, gid), wanted, "{path:?}");
    }
}

/// An owner that cannot be set is named in a warning saying what to do.
#[test]
fn restore_warns_when_the_owner_cannot_be_set() {
    if running_as_root() {
        eprintln!("root can set any owner: test skipped");
        return;
    }
    let (archive, metadata) = backed_up();
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::default();
    let owner = DataOwner {
        user: Some(Id::Number(999)),
        group: None,
    };
    let root = dir.path().to_str().unwrap();
    restore::restore(root, &archive, &host, &NativeFs, &metadata, &owner).unwrap();
    let logs = host.logs.borrow();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("10 restored entries") && l.contains("chown -R")),
        "{logs:?}"
    );
}

/// A configured owner wins; names are resolved on the restore machine.
#[test]
fn restore_gives_every_entry_the_configured_owner() {
    if !running_as_root() {
        eprintln!("not root: owners cannot be changed, test skipped");
        return;
    }
    for (owner, wanted) in [
        (
            DataOwner {
                user: Some(Id::Number(999)),
                group: Some(Id::Number(998)),
            },
            (999, 998),
        ),
        (
            DataOwner {
                user: Some(Id::Name("daemon".into())),
                group: None,
            },
            (1, 23_456),
        ),
    ] {
        let (archive, metadata) = backed_up();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::chown(&root, Some(12_345), Some(23_456)).unwrap();
        let host = FakeHost::default();
        restore::restore(
            root.to_str().unwrap(),
            &archive,
            &host,
            &NativeFs,
            &metadata,
            &owner,
        )
        .unwrap();
        for (path, uid, gid) in owners(&root) {
            assert_eq!((uid, gid), wanted, "{path:?}");
        }
    }
}

#[test]
fn restore_refuses_a_non_empty_target() {
    let (archive, metadata) = backed_up();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("PG_VERSION"), "15").unwrap();
    let root = dir.path().to_str().unwrap();
    let err = restore_into(root, &archive, &metadata).unwrap_err();
    let PluginError::InvalidConfig(text) = err else {
        panic!("{err:?}")
    };
    assert!(
        text.contains("is not empty") && text.contains("PG_VERSION"),
        "{text}"
    );
}

#[test]
fn restore_refuses_tablespaces_before_writing() {
    let (archive, mut metadata) = backed_up();
    for (k, v) in &mut metadata {
        if k == "tablespaces" {
            *v = "16390=/srv/ts".into();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let err = format!("{:?}", restore_into(root, &archive, &metadata).unwrap_err());
    assert!(
        err.contains("the backup holds tablespaces (16390 at /srv/ts); restoring tablespaces is not supported"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(root).unwrap().count(), 0);
}

#[test]
fn restore_names_a_damaged_file() {
    let (archive, metadata) = backed_up();
    for (meta, data) in archive.entries.borrow_mut().iter_mut() {
        if meta.path == b"global/pg_control" {
            data[0] ^= 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let err = format!("{:?}", restore_into(root, &archive, &metadata).unwrap_err());
    assert!(
        err.contains("InvalidData") && err.contains("global/pg_control: SHA-256"),
        "{err}"
    );
}

#[test]
fn restore_refuses_escaping_paths() {
    let archive = MemArchive::default();
    archive
        .begin_entry(&EntryMeta {
            path: b"../etc/passwd".to_vec(),
            kind: EntryKind::File,
            mode: 0o600,
            mtime_seconds: 0,
            mtime_nanoseconds: 0,
            link_target: None,
            owner: None,
            attributes: Vec::new(),
        })
        .unwrap();
    archive.end_entry().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = restore_into(dir.path().to_str().unwrap(), &archive, &[]).unwrap_err();
    assert!(format!("{err:?}").contains("`..` component"), "{err:?}");
}

#[test]
fn restore_refuses_paths_that_are_not_utf8_and_hard_links() {
    for (path, kind) in [
        (&b"base/\xff"[..], EntryKind::File),
        (b"base/link", EntryKind::HardLink),
    ] {
        let archive = MemArchive::default();
        archive
            .begin_entry(&EntryMeta {
                path: path.to_vec(),
                kind,
                mode: 0o600,
                mtime_seconds: 0,
                mtime_nanoseconds: 0,
                link_target: Some(b"base/1".to_vec()),
                owner: None,
                attributes: Vec::new(),
            })
            .unwrap();
        archive.end_entry().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = restore_into(dir.path().to_str().unwrap(), &archive, &[]).unwrap_err();
        let PluginError::InvalidData(text) = &err else {
            panic!("{err:?}")
        };
        assert!(
            text.contains("is not UTF-8") || text.contains("hard link"),
            "{text}"
        );
    }
}

// Keeps the header builder in use for prefix-named members in whole flows.
#[test]
fn backs_up_prefix_named_members() {
    let mut tar = header_block("base/16384", "2619_fsm", b'0', 0o600, 3, "").to_vec();
    tar.extend_from_slice(b"fsm");
    tar.resize(1024, 0);
    let mut files = base_files();
    files.push(("base/16384/2619_fsm", b"fsm"));
    let mut base = base_tar();
    base.truncate(base.len() - 1024);
    base.extend_from_slice(&tar);
    let text = manifest(&files);
    let script = [
        startup_ok("15.8"),
        identify(),
        base_backup_response(&[("base.tar", "", base)], &text, &[], 300),
    ]
    .concat();
    let (result, sink, _, _) = run_backup(script, false);
    result.unwrap();
    assert_eq!(sink.content("base/16384/2619_fsm").unwrap(), b"fsm");
}

// ---------- a live server ----------

/// Backs up a running server and restores the backup into a directory.
/// Configure with `RELATIONAL_POSTGRES_TEST_CONFIG` (the stage's JSON
/// configuration) and optionally `RELATIONAL_POSTGRES_TEST_RESTORE` (an
/// empty directory to restore into; a temporary one otherwise).
#[test]
#[ignore = "needs a PostgreSQL server; see the doc comment"]
fn backs_up_and_restores_a_live_server() {
    let config = std::env::var("RELATIONAL_POSTGRES_TEST_CONFIG").unwrap();
    let config = crate::config::parse(&config).unwrap();
    let host = FakeHost::default();
    let mut conn = crate::connection::open(config.server().unwrap(), &host).unwrap();
    let sink = MemArchive::default();
    let summary = backup::run(&mut conn, &config.label, &sink).unwrap();
    conn.close();
    eprintln!("backup: {} entries, {} bytes", summary.items, summary.bytes);
    for (k, v) in &summary.metadata {
        eprintln!("  {k} = {v}");
    }
    for (code, text) in host.messages.borrow().iter() {
        eprintln!("  message {code}: {text}");
    }
    for line in host.logs.borrow().iter() {
        eprintln!("  log: {line}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = std::env::var("RELATIONAL_POSTGRES_TEST_RESTORE")
        .unwrap_or_else(|_| tmp.path().to_str().unwrap().to_owned());
    match restore::restore(
        &root,
        &sink,
        &host,
        &NativeFs,
        &summary.metadata,
        &config.data_owner,
    ) {
        Ok(totals) => eprintln!(
            "restore: {} entries, {} bytes into {root}",
            totals.items, totals.bytes
        ),
        Err(e) => eprintln!("restore refused: {e:?}"),
    }
}
