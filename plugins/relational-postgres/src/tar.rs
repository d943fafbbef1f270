//! A streaming ustar reader: bytes arrive in arbitrary pieces (CopyData
//! messages split the archive anywhere) and come out as member events, with
//! no member ever buffered. Only what PostgreSQL writes is accepted: regular
//! files, directories and symlinks, names in `name` (and `prefix`).

const BLOCK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
}

/// One member's header, with its path normalized (no leading `./`, no
/// trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub mtime: i64,
    pub size: u64,
    pub link_target: Option<String>,
}

/// Receives the members of an archive in order: `begin`, `data` for the
/// content of a file (any number of pieces), `end`.
pub trait Members {
    type Error;
    fn begin(&mut self, header: &Header) -> Result<(), Self::Error>;
    fn data(&mut self, data: &[u8]) -> Result<(), Self::Error>;
    fn end(&mut self) -> Result<(), Self::Error>;
}

#[derive(Debug)]
pub enum Error<E> {
    /// The archive itself is malformed or uses an unsupported feature.
    Format(String),
    /// The member receiver failed.
    Members(E),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a header block (`have` bytes of it so far).
    Header,
    Content {
        remaining: u64,
    },
    Padding {
        remaining: usize,
    },
    /// After the first all-zero block: only zeros may follow.
    End,
}

pub struct Reader {
    state: State,
    block: [u8; BLOCK],
    have: usize,
    /// Padding still due after the current member's content.
    pad: usize,
    /// Path of the member being read, for error texts.
    current: String,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl Reader {
    pub fn new() -> Self {
        Self {
            state: State::Header,
            block: [0; BLOCK],
            have: 0,
            pad: 0,
            current: String::new(),
        }
    }

    /// Feeds the next piece of the archive.
    pub fn feed<M: Members>(
        &mut self,
        mut data: &[u8],
        out: &mut M,
    ) -> Result<(), Error<M::Error>> {
        while !data.is_empty() {
            match self.state {
                State::Header => {
                    let n = (BLOCK - self.have).min(data.len());
                    self.block[self.have..self.have + n].copy_from_slice(&data[..n]);
                    self.have += n;
                    data = &data[n..];
                    if self.have == BLOCK {
                        self.have = 0;
                        self.header(out)?;
                    }
                }
                State::Content { remaining } => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    out.data(&data[..n]).map_err(Error::Members)?;
                    data = &data[n..];
                    let remaining = remaining - n as u64;
                    if remaining == 0 {
                        self.end_member(out)?;
                    } else {
                        self.state = State::Content { remaining };
                    }
                }
                State::Padding { remaining } => {
                    let n = remaining.min(data.len());
                    data = &data[n..];
                    self.state = match remaining - n {
                        0 => State::Header,
                        remaining => State::Padding { remaining },
                    };
                }
                State::End => {
                    if data.iter().any(|&b| b != 0) {
                        return Err(Error::Format(
                            "data follows the end-of-archive marker".into(),
                        ));
                    }
                    data = &[];
                }
            }
        }
        Ok(())
    }

    /// Checks that the archive ended between members. PostgreSQL's archives
    /// may or may not carry the two zero blocks of the end marker.
    pub fn finish<E>(&self) -> Result<(), Error<E>> {
        match self.state {
            State::Header if self.have == 0 => Ok(()),
            State::End => Ok(()),
            State::Header => Err(Error::Format(
                "the archive ends inside a member header".into(),
            )),
            State::Content { remaining } => Err(Error::Format(format!(
                "the archive ends {remaining} bytes before the end of {}",
                self.current
            ))),
            // The padding after the last member carries no data.
            State::Padding { .. } => Ok(()),
        }
    }

    fn header<M: Members>(&mut self, out: &mut M) -> Result<(), Error<M::Error>> {
        if self.block.iter().all(|&b| b == 0) {
            self.state = State::End;
            return Ok(());
        }
        let header = parse_header(&self.block).map_err(Error::Format)?;
        self.current.clone_from(&header.path);
        out.begin(&header).map_err(Error::Members)?;
        if header.kind == Kind::File && header.size > 0 {
            self.state = State::Content {
                remaining: header.size,
            };
            // Remembered for the padding once the content is read.
            self.pad = padding(header.size);
            Ok(())
        } else {
            self.pad = 0;
            self.end_member(out)
        }
    }

    fn end_member<M: Members>(&mut self, out: &mut M) -> Result<(), Error<M::Error>> {
        out.end().map_err(Error::Members)?;
        self.state = match self.pad {
            0 => State::Header,
            remaining => State::Padding { remaining },
        };
        Ok(())
    }
}

fn padding(size: u64) -> usize {
    // The remainder is below 512, so it fits.
    let rem = (size % BLOCK as u64) as usize;
    (BLOCK - rem) % BLOCK
}

/// Parses and checks one header block.
pub fn parse_header(block: &[u8; BLOCK]) -> Result<Header, String> {
    let name = text(&block[0..100]);
    let stored_sum = octal(&block[148..156]);
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(b)
            }
        })
        .sum();
    if stored_sum != Some(sum) {
        return Err(format!(
            "member header {:?} has a bad checksum (is this a tar stream?)",
            String::from_utf8_lossy(name)
        ));
    }
    let prefix = if &block[257..262] == b"ustar" {
        text(&block[345..500])
    } else {
        &[]
    };
    let mut raw = Vec::with_capacity(prefix.len() + 1 + name.len());
    if !prefix.is_empty() {
        raw.extend_from_slice(prefix);
        raw.push(b'/');
    }
    raw.extend_from_slice(name);
    let path = String::from_utf8(raw).map_err(|e| {
        format!(
            "member name {:?} is not UTF-8",
            String::from_utf8_lossy(e.as_bytes())
        )
    })?;
    let kind = match block[156] {
        b'0' | 0 => Kind::File,
        b'5' => Kind::Directory,
        b'2' => Kind::Symlink,
        b'x' | b'g' => return Err(format!("{path}: pax extended headers are not supported")),
        b'L' | b'K' => return Err(format!("{path}: GNU long names are not supported")),
        other => {
            return Err(format!(
                "{path}: unsupported member type {:?} (only files, directories and symlinks)",
                char::from(other)
            ));
        }
    };
    let field = |range: std::ops::Range<usize>, what: &str| {
        number(&block[range]).ok_or_else(|| format!("{path}: bad {what} field"))
    };
    let mode = u32::try_from(field(100..108, "mode")? & 0o7777).unwrap_or(0);
    let size = field(124..136, "size")?;
    let mtime = i64::try_from(field(136..148, "mtime")?)
        .map_err(|_| format!("{path}: mtime out of range"))?;
    let link_target = match kind {
        Kind::Symlink => Some(
            String::from_utf8(text(&block[157..257]).to_vec())
                .map_err(|_| format!("{path}: symlink target is not UTF-8"))?,
        ),
        _ => None,
    };
    let mut path = path.as_str();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let path = path.trim_end_matches('/').to_owned();
    Ok(Header {
        path,
        kind,
        mode,
        mtime,
        size: if kind == Kind::File { size } else { 0 },
        link_target,
    })
}

/// A NUL-terminated (or full-width) text field.
fn text(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// A numeric field: octal digits, or GNU base-256 (high bit of the first
/// byte set) for values beyond the octal range, as PostgreSQL writes sizes
/// of 8 GiB and more.
fn number(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(&b) if b & 0x80 != 0 => {
            let mut v: u64 = u64::from(b & 0x7f);
            for &b in &field[1..] {
                v = v.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            Some(v)
        }
        _ => octal(field),
    }
}

fn octal(field: &[u8]) -> Option<u64> {
    let digits: &[u8] = {
        let start = field.iter().position(|&b| b != b' ').unwrap_or(field.len());
        let rest = &field[start..];
        let end = rest
            .iter()
            .position(|&b| b == 0 || b == b' ')
            .unwrap_or(rest.len());
        &rest[..end]
    };
    if digits.is_empty() {
        return Some(0);
    }
    digits.iter().try_fold(0u64, |v, &d| {
        if (b'0'..=b'7').contains(&d) {
            v.checked_mul(8)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A ustar header block as PostgreSQL writes it (optionally with `prefix`).
    pub fn header_block(
        prefix: &str,
        name: &str,
        kind: u8,
        mode: u32,
        size: u64,
        link: &str,
    ) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        if size < 0o77777777777 {
            h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        } else {
            h[124] = 0x80;
            h[128..136].copy_from_slice(&size.to_be_bytes());
        }
        h[136..148].copy_from_slice(format!("{:011o}\0", 1_700_000_000u64).as_bytes());
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    /// A whole archive of `(path, content)` files plus a directory and a
    /// symlink, with or without the end marker.
    pub fn archive(files: &[(&str, &[u8])], end_marker: bool) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&header_block("", "global/", b'5', 0o700, 0, ""));
        for (path, content) in files {
            out.extend_from_slice(&header_block(
                "",
                path,
                b'0',
                0o600,
                content.len() as u64,
                "",
            ));
            out.extend_from_slice(content);
            out.resize(out.len() + padding(content.len() as u64), 0);
        }
        out.extend_from_slice(&header_block(
            "",
            "pg_tblspc/16390",
            b'2',
            0o777,
            0,
            "/srv/ts",
        ));
        if end_marker {
            out.resize(out.len() + 2 * BLOCK, 0);
        }
        out
    }

    #[derive(Default)]
    pub struct Log(pub Vec<String>);

    impl Members for Log {
        type Error = String;
        fn begin(&mut self, h: &Header) -> Result<(), String> {
            self.0.push(format!(
                "begin {} {:?} {:o} {} {:?}",
                h.path, h.kind, h.mode, h.size, h.link_target
            ));
            Ok(())
        }
        fn data(&mut self, data: &[u8]) -> Result<(), String> {
            // Adjacent pieces are merged so that logs compare across splits.
            match self.0.last_mut() {
                Some(last) if last.starts_with("data ") => {
                    last.push_str(&String::from_utf8_lossy(data))
                }
                _ => self
                    .0
                    .push(format!("data {}", String::from_utf8_lossy(data))),
            }
            Ok(())
        }
        fn end(&mut self) -> Result<(), String> {
            self.0.push("end".into());
            Ok(())
        }
    }

    fn read_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<Vec<String>, String> {
        let mut reader = Reader::new();
        let mut log = Log::default();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            reader
                .feed(&bytes[start..cut], &mut log)
                .map_err(|e| format!("{e:?}"))?;
            start = cut;
        }
        reader.finish::<String>().map_err(|e| format!("{e:?}"))?;
        Ok(log.0)
    }

    fn sample() -> Vec<u8> {
        let big: Vec<u8> = (0..1300u32).map(|i| b'a' + (i % 26) as u8).collect();
        let big: &'static [u8] = Box::leak(big.into_boxed_slice());
        archive(
            &[
                ("global/pg_control", b"control!"),
                ("base/1/1259", big),
                ("empty", b""),
                ("PG_VERSION", &[b'x'; 512]),
            ],
            true,
        )
    }

    #[test]
    fn reads_members_whole() {
        let log = read_in_pieces(&sample(), &[]).unwrap();
        assert_eq!(log[0], "begin global Directory 700 0 None");
        assert_eq!(log[2], "begin global/pg_control File 600 8 None");
        assert_eq!(log[3], "data control!");
        assert_eq!(log[5], "begin base/1/1259 File 600 1300 None");
        assert_eq!(log[8], "begin empty File 600 0 None");
        assert_eq!(log[9], "end");
        assert_eq!(
            log[log.len() - 2],
            "begin pg_tblspc/16390 Symlink 777 0 Some(\"/srv/ts\")"
        );
        assert_eq!(log.len(), 15);
    }

    #[test]
    fn same_members_for_every_split() {
        let bytes = sample();
        let whole = read_in_pieces(&bytes, &[]).unwrap();
        for cut in 0..=bytes.len() {
            assert_eq!(
                read_in_pieces(&bytes, &[cut]).unwrap(),
                whole,
                "cut at {cut}"
            );
        }
        // Three pieces around every block boundary, cutting headers, content
        // and padding at once.
        for a in (0..bytes.len()).step_by(BLOCK) {
            for da in [1usize, 7, 100, 511] {
                for db in [1usize, 13, 512, 700] {
                    let x = (a + da).min(bytes.len());
                    let y = (x + db).min(bytes.len());
                    assert_eq!(
                        read_in_pieces(&bytes, &[x, y]).unwrap(),
                        whole,
                        "cuts {x} {y}"
                    );
                }
            }
        }
        let bytewise: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(read_in_pieces(&bytes, &bytewise).unwrap(), whole);
    }

    #[test]
    fn accepts_archive_without_end_marker() {
        let with = read_in_pieces(&sample(), &[]).unwrap();
        let bytes = archive(
            &[
                ("global/pg_control", b"control!"),
                ("base/1/1259", &[b'a'; 10]),
            ],
            false,
        );
        assert!(read_in_pieces(&bytes, &[]).is_ok());
        assert_eq!(with.len(), 15);
    }

    #[test]
    fn refuses_truncation_and_trailing_garbage() {
        let bytes = sample();
        // Inside the content of base/1/1259.
        let err = read_in_pieces(&bytes[..4 * BLOCK + 100], &[]).unwrap_err();
        assert!(err.contains("before the end of"), "{err}");
        let err = read_in_pieces(&bytes[..BLOCK + 10], &[]).unwrap_err();
        assert!(err.contains("inside a member header"), "{err}");
        let mut garbage = bytes.clone();
        garbage.push(1);
        assert!(
            read_in_pieces(&garbage, &[])
                .unwrap_err()
                .contains("end-of-archive")
        );
    }

    #[test]
    fn honours_prefix_and_refuses_extensions() {
        let h = header_block("base/16384", "2619_fsm", b'0', 0o600, 0, "");
        assert_eq!(parse_header(&h).unwrap().path, "base/16384/2619_fsm");
        for (kind, what) in [(b'x', "pax"), (b'L', "GNU long"), (b'3', "unsupported")] {
            let h = header_block("", "n", kind, 0o600, 0, "");
            assert!(parse_header(&h).unwrap_err().contains(what), "{what}");
        }
        let mut bad = header_block("", "n", b'0', 0o600, 0, "");
        bad[0] = b'm';
        assert!(parse_header(&bad).unwrap_err().contains("checksum"));
    }

    #[test]
    fn reads_base256_sizes() {
        let h = header_block("", "big", b'0', 0o600, 9 << 30, "");
        assert_eq!(parse_header(&h).unwrap().size, 9 << 30);
        assert_eq!(padding(9 << 30), 0);
        assert_eq!(padding(1), 511);
    }
}
