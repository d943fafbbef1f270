//! Verification against the server's backup manifest, read as it streams.
//!
//! PostgreSQL writes the manifest one item per line (its `backup_manifest.c`
//! does so on purpose, for line-oriented tools), so it is checked line by
//! line and never held whole: each `Files` line is compared with what was
//! received, and `Manifest-Checksum` covers every byte up to and including
//! the newline before its own line.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::PluginError;
use plugin_util::hex;

/// Size and SHA-256 of every regular file received, by manifest path.
pub type Received = HashMap<String, (u64, [u8; 32])>;

/// File paths a manifest never lists although they may be present: WAL
/// (covered by the manifest's WAL ranges instead) and the files
/// `pg_verifybackup` ignores by default.
const UNLISTED_PREFIXES: &[&str] = &["pg_wal/"];
const UNLISTED_FILES: &[&str] = &[
    "backup_manifest",
    "postgresql.auto.conf",
    "recovery.signal",
    "standby.signal",
];
/// A file line holds one path of at most MAXPGPATH bytes, hex-encoded at
/// worst; anything far longer is not a PostgreSQL manifest.
const MAX_LINE: usize = 64 << 10;
const CHECKSUM_KEY: &str = "\"Manifest-Checksum\"";

#[derive(Debug, PartialEq, Eq)]
enum Section {
    Start,
    Top,
    Files,
}

/// The manifest's verdict once it has been read whole.
#[derive(Debug)]
pub struct Outcome {
    /// Files listed in the manifest and found intact.
    pub files: u64,
    /// SHA-256 of the whole manifest text, as stored.
    pub sha256: String,
}

pub struct Check {
    received: Received,
    line: Vec<u8>,
    checksummed: Sha256,
    whole: Sha256,
    section: Section,
    expected: Option<String>,
    verified: u64,
}

fn invalid(text: String) -> PluginError {
    PluginError::InvalidData(format!("backup manifest check failed: {text}"))
}

impl Check {
    pub fn new(received: Received) -> Self {
        Self {
            received,
            line: Vec::new(),
            checksummed: Sha256::new(),
            whole: Sha256::new(),
            section: Section::Start,
            expected: None,
            verified: 0,
        }
    }

    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), PluginError> {
        self.whole.update(data);
        while let Some(nl) = data.iter().position(|&b| b == b'\n') {
            let (head, tail) = data.split_at(nl + 1);
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(head);
            self.line_done(&line)?;
            line.clear();
            self.line = line;
            data = tail;
        }
        if self.line.len() + data.len() > MAX_LINE {
            return Err(invalid(format!(
                "a manifest line is longer than {MAX_LINE} bytes"
            )));
        }
        self.line.extend_from_slice(data);
        Ok(())
    }

    pub fn finish(mut self) -> Result<Outcome, PluginError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line)?;
        }
        if self.section == Section::Start {
            return Err(invalid("the manifest is empty".into()));
        }
        let expected = self
            .expected
            .ok_or_else(|| invalid("the manifest has no Manifest-Checksum".into()))?;
        let actual = hex(&self.checksummed.finalize());
        if !actual.eq_ignore_ascii_case(&expected) {
            return Err(invalid(format!(
                "the manifest's own checksum does not match its content \
                 (Manifest-Checksum {expected}, computed {actual}): the manifest is damaged"
            )));
        }
        let mut unlisted: Vec<&String> = self
            .received
            .keys()
            .filter(|p| {
                !UNLISTED_PREFIXES.iter().any(|pre| p.starts_with(pre))
                    && !UNLISTED_FILES.contains(&p.as_str())
            })
            .collect();
        unlisted.sort();
        if let Some(path) = unlisted.first() {
            return Err(invalid(format!(
                "{path} was received but is not in the server's backup manifest \
                 ({} such files)",
                unlisted.len()
            )));
        }
        Ok(Outcome {
            files: self.verified,
            sha256: hex(&self.whole.finalize()),
        })
    }

    fn line_done(&mut self, raw: &[u8]) -> Result<(), PluginError> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| invalid("the manifest is not valid UTF-8".into()))?;
        let line = text.trim();
        if self.expected.is_some() {
            if line.is_empty() {
                return Ok(());
            }
            return Err(invalid("content follows the Manifest-Checksum line".into()));
        }
        if line.starts_with(CHECKSUM_KEY) {
            self.expected = Some(checksum_value(line)?);
            return Ok(());
        }
        self.checksummed.update(raw);
        match self.section {
            Section::Start => {
                if !line.starts_with('{')
                    || !line.contains("\"PostgreSQL-Backup-Manifest-Version\"")
                {
                    return Err(invalid(
                        "the manifest does not start with PostgreSQL-Backup-Manifest-Version"
                            .into(),
                    ));
                }
                self.section = Section::Top;
            }
            Section::Top => {
                if line.starts_with("\"Files\"") {
                    if !line.ends_with('[') {
                        return Err(invalid("unexpected layout of the Files list".into()));
                    }
                    self.section = Section::Files;
                }
            }
            Section::Files => {
                if line.starts_with(']') {
                    self.section = Section::Top;
                } else if !line.is_empty() {
                    self.file_line(line.trim_end_matches(','))?;
                }
            }
        }
        Ok(())
    }

    fn file_line(&mut self, line: &str) -> Result<(), PluginError> {
        let entry: Map<String, Value> = serde_json::from_str(line)
            .map_err(|e| invalid(format!("a Files line is not a JSON object: {e}")))?;
        let path = file_path(&entry)?;
        let size = entry
            .get("Size")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid(format!("{path}: no valid Size")))?;
        match entry.get("Checksum-Algorithm").and_then(Value::as_str) {
            Some(a) if a.eq_ignore_ascii_case("SHA256") => {}
            other => {
                return Err(invalid(format!(
                    "{path}: listed without a SHA256 checksum (algorithm {})",
                    other.unwrap_or("none")
                )));
            }
        }
        let checksum = entry
            .get("Checksum")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{path}: no Checksum")))?;
        let Some((got_size, got_hash)) = self.received.remove(&path) else {
            return Err(invalid(format!(
                "{path} is listed in the server's backup manifest but was not received"
            )));
        };
        if got_size != size {
            return Err(invalid(format!(
                "{path}: received {got_size} bytes, the manifest lists {size}"
            )));
        }
        let got = hex(&got_hash);
        if !got.eq_ignore_ascii_case(checksum) {
            return Err(invalid(format!(
                "{path}: SHA-256 {got} does not match the manifest's {checksum}"
            )));
        }
        self.verified += 1;
        Ok(())
    }
}

/// `Path`, or `Encoded-Path` (hex of the raw bytes, used for names that are
/// not valid UTF-8 or need escaping).
fn file_path(entry: &Map<String, Value>) -> Result<String, PluginError> {
    if let Some(p) = entry.get("Path").and_then(Value::as_str) {
        return Ok(p.to_owned());
    }
    let encoded = entry
        .get("Encoded-Path")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a Files line has neither Path nor Encoded-Path".into()))?;
    let bytes =
        unhex(encoded).ok_or_else(|| invalid(format!("Encoded-Path {encoded:?} is not hex")))?;
    String::from_utf8(bytes).map_err(|_| {
        invalid(format!(
            "Encoded-Path {encoded} is not a UTF-8 name, which the archive cannot carry"
        ))
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn checksum_value(line: &str) -> Result<String, PluginError> {
    // The line is `"Manifest-Checksum": "<hex>"}`: one brace short of an object.
    let object: Map<String, Value> = serde_json::from_str(&format!("{{{line}"))
        .map_err(|_| invalid("the Manifest-Checksum line is malformed".into()))?;
    object
        .get("Manifest-Checksum")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid("the Manifest-Checksum line is malformed".into()))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    /// A manifest laid out exactly as PostgreSQL's backup_manifest.c writes it.
    pub fn manifest(files: &[(&str, &[u8])]) -> String {
        let mut text = String::from("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [");
        for (i, (path, content)) in files.iter().enumerate() {
            text.push_str(if i == 0 { "\n" } else { ",\n" });
            let name = if path.starts_with("enc:") {
                format!(
                    "\"Encoded-Path\": \"{}\"",
                    hex(path.trim_start_matches("enc:").as_bytes())
                )
            } else {
                format!("\"Path\": \"{path}\"")
            };
            text.push_str(&format!(
                "{{ {name}, \"Size\": {}, \"Last-Modified\": \"2024-01-01 00:00:00 GMT\", \
                 \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"{}\" }}",
                content.len(),
                hex(&sha(content))
            ));
        }
        text.push_str("\n],\n\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/2000100\" }\n],\n");
        let sum = hex(&sha(text.as_bytes()));
        text.push_str(&format!("\"Manifest-Checksum\": \"{sum}\"}}\n"));
        text
    }

    fn received(files: &[(&str, &[u8])]) -> Received {
        files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (c.len() as u64, sha(c))))
            .collect()
    }

    fn check(manifest: &str, got: Received, piece: usize) -> Result<Outcome, PluginError> {
        let mut check = Check::new(got);
        for chunk in manifest.as_bytes().chunks(piece) {
            check.feed(chunk)?;
        }
        check.finish()
    }

    const FILES: &[(&str, &[u8])] = &[
        ("backup_label", b"START WAL LOCATION: 0/2000028\n"),
        ("global/pg_control", b"control"),
        ("enc:base/1/odd name", b"odd"),
    ];

    fn received_files() -> Received {
        let mut got = received(FILES);
        let odd = got.remove("enc:base/1/odd name").unwrap();
        got.insert("base/1/odd name".into(), odd);
        got.insert("pg_wal/000000010000000000000002".into(), (3, sha(b"wal")));
        got
    }

    #[test]
    fn verifies_matching_files_in_any_pieces() {
        let text = manifest(FILES);
        for piece in [1, 2, 7, 64, 100_000] {
            let outcome = check(&text, received_files(), piece).unwrap();
            assert_eq!(outcome.files, 3);
            assert_eq!(outcome.sha256, hex(&sha(text.as_bytes())));
        }
    }

    #[test]
    fn names_mismatching_file() {
        let text = manifest(FILES);
        let mut got = received_files();
        got.insert("global/pg_control".into(), (7, sha(b"CONTROL")));
        let err = format!("{:?}", check(&text, got, 50).unwrap_err());
        assert!(
            err.contains("InvalidData") && err.contains("global/pg_control: SHA-256"),
            "{err}"
        );

        let mut got = received_files();
        got.insert("global/pg_control".into(), (8, sha(b"control")));
        let err = format!("{:?}", check(&text, got, 50).unwrap_err());
        assert!(err.contains("received 8 bytes"), "{err}");
    }

    #[test]
    fn names_missing_and_unlisted_files() {
        let text = manifest(FILES);
        let mut got = received_files();
        got.remove("base/1/odd name");
        let err = format!("{:?}", check(&text, got, 50).unwrap_err());
        assert!(
            err.contains("base/1/odd name is listed") && err.contains("not received"),
            "{err}"
        );

        let mut got = received_files();
        got.insert("base/1/extra".into(), (0, sha(b"")));
        let err = format!("{:?}", check(&text, got, 50).unwrap_err());
        assert!(
            err.contains("base/1/extra was received but is not in"),
            "{err}"
        );
    }

    #[test]
    fn refuses_damaged_manifest() {
        let text = manifest(FILES).replacen("\"Size\": 7", "\"Size\":  7", 1);
        let err = format!("{:?}", check(&text, received_files(), 50).unwrap_err());
        assert!(err.contains("own checksum"), "{err}");

        let no_sum: String = manifest(FILES)
            .lines()
            .filter(|l| !l.contains("Manifest-Checksum"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = format!("{:?}", check(&no_sum, received_files(), 50).unwrap_err());
        assert!(err.contains("no Manifest-Checksum"), "{err}");

        let none = manifest(FILES).replace("\"SHA256\"", "\"CRC32C\"");
        assert!(
            format!("{:?}", check(&none, received_files(), 50).unwrap_err())
                .contains("without a SHA256")
        );
        assert!(check("garbage\n", Received::new(), 3).is_err());
    }

    #[test]
    fn decodes_hex() {
        assert_eq!(unhex("6162ff").unwrap(), b"ab\xff");
        assert!(unhex("6").is_none());
        assert!(unhex("zz").is_none());
    }
}
