//! Opening an index file (one sequential pass that verifies it and builds the
//! in-RAM filter and fanout) and looking chunk ids up in it with positioned
//! reads. The file is not memory-mapped: only the filter, the fanout table
//! and one pack size per pack live in the process's memory; the records stay
//! on disk (and in the kernel's page cache, which does not count as ours).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::IndexError;
use super::filter::BlockFilter;
use super::format::{HASH_LEN, HEADER_LEN, Header, Layout, RECORD_LEN, Record, TRAILER_LEN};

/// Records per fanout bucket the table is sized for: a lookup reads one
/// bucket, about 32 × 48 B = 1.5 KiB.
const RECORDS_PER_BUCKET: u64 = 32;
/// At most 2^24 buckets (64 MiB of fanout), reached at ~500 M chunks.
const MAX_BUCKET_BITS: u32 = 24;
/// Read buffer of the verifying pass.
const SCAN_BUFFER: usize = 1024 * 1024;

/// The stored pack sizes, from listing `packs/`: a chunk is only returned if
/// its pack is listed and long enough to hold its blob.
#[derive(Default)]
pub struct PackSizes(Vec<([u8; 32], u64)>);

impl PackSizes {
    /// From `(pack hash, size)` pairs; a hash listed twice keeps one size.
    pub fn new(mut packs: Vec<([u8; 32], u64)>) -> Self {
        packs.sort_unstable();
        packs.dedup_by(|a, b| a.0 == b.0);
        PackSizes(packs)
    }

    /// The listed size of the pack object `name` (`packs/hh/<hash>`).
    pub fn object_size(&self, name: &str) -> Option<u64> {
        crate::names::parse_pack_object(name).and_then(|h| self.get(&h))
    }

    fn get(&self, hash: &[u8; 32]) -> Option<u64> {
        self.0
            .binary_search_by(|(h, _)| h.cmp(hash))
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|&(_, size)| size)
    }
}

/// A verified index file: its handle, header and covered manifests.
pub(crate) struct IndexFile {
    pub file: File,
    pub header: Header,
    pub layout: Layout,
    pub manifests: Vec<[u8; 32]>,
}

/// What the verifying pass builds for lookups.
struct LookupTables {
    filter: BlockFilter,
    bucket_bits: u32,
    fanout: Vec<u32>,
    /// Listed size of each pack-table row, 0 if the pack is not in the store
    /// (a real pack is never empty).
    pack_sizes: Vec<u32>,
}

/// Where a known chunk's blob is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexHit {
    /// SHA-256 name of the pack.
    pub pack: [u8; 32],
    pub offset: u32,
    pub length: u32,
    /// Plaintext size of the chunk.
    pub size: u32,
}

/// The chunks already stored under one key, for dedup lookups. `Sync`:
/// lookups are positioned reads, so blocking worker threads share it.
pub struct ChunkIndex {
    file: IndexFile,
    tables: LookupTables,
}

fn bucket_bits(records: u64) -> u32 {
    let buckets = (records / RECORDS_PER_BUCKET).max(1);
    (u64::BITS - (buckets - 1).leading_zeros()).min(MAX_BUCKET_BITS)
}

fn bucket_of(id: &[u8; 32], bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    (u32::from_be_bytes([id[0], id[1], id[2], id[3]]) >> (32 - bits)) as usize
}

impl IndexFile {
    /// Fully verifies `file` (checksum, order, bounds) without building
    /// lookup tables: what a merge needs.
    pub fn verify(file: File, key_id: &[u8; 16]) -> Result<Self, IndexError> {
        let (file, _) = scan(file, key_id, None)?;
        Ok(file)
    }

    /// The records, in id order, read sequentially.
    pub fn records(&self) -> RecordReader<'_> {
        RecordReader::new(&self.file, self.layout.records_at, self.layout.trailer_at)
    }

    /// The pack table, in hash order, read sequentially.
    pub fn packs(&self) -> impl Iterator<Item = Result<[u8; 32], IndexError>> + '_ {
        let mut reader = BufReader::with_capacity(
            SCAN_BUFFER,
            PositionedReader::new(&self.file, self.layout.packs_at),
        );
        (0..self.header.packs).map(move |_| {
            let mut h = [0u8; 32];
            read_or_truncated(&mut reader, &mut h)?;
            Ok(h)
        })
    }
}

impl ChunkIndex {
    /// Opens and verifies `path`, written under `key_id`, and builds the
    /// in-RAM filter and fanout. `packs` decides which pack rows are usable.
    pub fn open(path: &Path, key_id: &[u8; 16], packs: &PackSizes) -> Result<Self, IndexError> {
        Self::from_file(File::open(path)?, key_id, packs)
    }

    /// As [`ChunkIndex::open`], from an open file.
    pub fn from_file(file: File, key_id: &[u8; 16], packs: &PackSizes) -> Result<Self, IndexError> {
        let (file, tables) = scan(file, key_id, Some(packs))?;
        let tables = tables.ok_or_else(|| IndexError::corrupt("lookup tables were not built"))?;
        Ok(ChunkIndex { file, tables })
    }

    /// The verified file, without the lookup tables (to extend it).
    pub(crate) fn into_file(self) -> IndexFile {
        self.file
    }

    /// The key id the index was written under.
    pub fn key_id(&self) -> [u8; 16] {
        self.file.header.key_id
    }

    /// Indexed chunks (including those whose pack is gone).
    pub fn len(&self) -> u64 {
        self.file.header.records
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The manifests whose chunks this index holds.
    pub fn covered_manifests(&self) -> &[[u8; 32]] {
        &self.file.manifests
    }

    /// Bytes of process memory the lookup tables use.
    pub fn memory_bytes(&self) -> usize {
        self.tables.filter.memory_bytes()
            + self.tables.fanout.len() * 4
            + self.tables.pack_sizes.len() * 4
            + self.file.manifests.len() * 32
    }

    /// Where chunk `id` is stored, if it is indexed and its pack is in the
    /// store and long enough. Blocks on file I/O for ids the filter passes.
    pub fn lookup(&self, id: &[u8; 32]) -> Result<Option<IndexHit>, IndexError> {
        let t = &self.tables;
        if !t.filter.may_contain(id) {
            return Ok(None);
        }
        let bucket = bucket_of(id, t.bucket_bits);
        let (Some(&first), Some(&end)) = (t.fanout.get(bucket), t.fanout.get(bucket + 1)) else {
            return Ok(None);
        };
        if first >= end {
            return Ok(None);
        }
        let count = (end - first) as usize;
        let mut buf = vec![0u8; count * RECORD_LEN];
        let at = self.file.layout.records_at + u64::from(first) * RECORD_LEN as u64;
        self.file.file.read_exact_at(&mut buf, at)?;
        let record_at = |i: usize| -> Record {
            let mut r = [0u8; RECORD_LEN];
            r.copy_from_slice(&buf[i * RECORD_LEN..(i + 1) * RECORD_LEN]);
            Record::decode(&r)
        };
        let (mut lo, mut hi) = (0usize, count);
        let found = loop {
            if lo >= hi {
                break None;
            }
            let mid = lo + (hi - lo) / 2;
            let r = record_at(mid);
            match r.id.cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => break Some(r),
            }
        };
        let Some(r) = found else { return Ok(None) };
        let stored = t.pack_sizes.get(r.pack as usize).copied().unwrap_or(0);
        if u64::from(stored) < r.end() {
            return Ok(None);
        }
        let mut pack = [0u8; 32];
        self.file.file.read_exact_at(
            &mut pack,
            self.file.layout.packs_at + u64::from(r.pack) * HASH_LEN,
        )?;
        Ok(Some(IndexHit {
            pack,
            offset: r.offset,
            length: r.length,
            size: r.size,
        }))
    }
}

/// The verifying pass: checks the checksum, that manifests, packs and ids are
/// strictly increasing, that pack numbers and blob bounds are valid, and
/// (with `packs`) builds the lookup tables on the way.
fn scan(
    file: File,
    key_id: &[u8; 16],
    packs: Option<&PackSizes>,
) -> Result<(IndexFile, Option<LookupTables>), IndexError> {
    let actual_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(SCAN_BUFFER, PositionedReader::new(&file, 0));
    let mut head = [0u8; HEADER_LEN as usize];
    read_or_truncated(&mut reader, &mut head)?;
    let header = Header::decode(&head)?;
    if &header.key_id != key_id {
        return Err(IndexError::corrupt(
            "the index was written under another key",
        ));
    }
    let layout = header
        .layout()
        .ok_or_else(|| IndexError::corrupt("section sizes overflow"))?;
    if layout.file_len != actual_len {
        return Err(IndexError::corrupt(format!(
            "file is {actual_len} bytes, its header says {}",
            layout.file_len
        )));
    }
    let mut body = Sha256::new();

    let mut manifests = Vec::with_capacity(header.manifests.min(1 << 20) as usize);
    for _ in 0..header.manifests {
        let mut h = [0u8; 32];
        read_or_truncated(&mut reader, &mut h)?;
        body.update(h);
        if manifests.last().is_some_and(|last| *last >= h) {
            return Err(IndexError::corrupt("manifest list is not sorted"));
        }
        manifests.push(h);
    }

    let mut tables = packs.map(|_| LookupTables {
        filter: BlockFilter::for_keys(header.records),
        bucket_bits: bucket_bits(header.records),
        fanout: Vec::new(),
        pack_sizes: Vec::with_capacity(header.packs as usize),
    });
    let mut previous: Option<[u8; 32]> = None;
    for _ in 0..header.packs {
        let mut h = [0u8; 32];
        read_or_truncated(&mut reader, &mut h)?;
        body.update(h);
        if previous.is_some_and(|p| p >= h) {
            return Err(IndexError::corrupt("pack table is not sorted"));
        }
        previous = Some(h);
        if let (Some(t), Some(listed)) = (tables.as_mut(), packs) {
            // Packs never exceed 32 MiB; a larger listed size is clamped,
            // which only makes the length check stricter.
            let size = listed.get(&h).unwrap_or(0).min(u64::from(u32::MAX));
            t.pack_sizes.push(size as u32);
        }
    }

    let mut counts: Vec<u32> = match &tables {
        Some(t) => vec![0; 1usize << t.bucket_bits],
        None => Vec::new(),
    };
    let mut previous: Option<[u8; 32]> = None;
    for _ in 0..header.records {
        let mut bytes = [0u8; RECORD_LEN];
        read_or_truncated(&mut reader, &mut bytes)?;
        body.update(bytes);
        let r = Record::decode(&bytes);
        if previous.is_some_and(|p| p >= r.id) {
            return Err(IndexError::corrupt("records are not sorted by id"));
        }
        previous = Some(r.id);
        if u64::from(r.pack) >= header.packs || !r.plausible() {
            return Err(IndexError::corrupt(
                "a record's pack or blob range is invalid",
            ));
        }
        if let Some(t) = tables.as_mut() {
            t.filter.insert(&r.id);
            if let Some(c) = counts.get_mut(bucket_of(&r.id, t.bucket_bits)) {
                *c += 1;
            }
        }
    }
    let mut trailer = [0u8; TRAILER_LEN as usize];
    read_or_truncated(&mut reader, &mut trailer)?;
    if trailer != checksum(&header, &body.finalize().into()) {
        return Err(IndexError::corrupt("checksum mismatch"));
    }
    drop(reader);
    if let Some(t) = tables.as_mut() {
        t.fanout.reserve_exact(counts.len() + 1);
        let mut total = 0u32;
        t.fanout.push(0);
        for c in counts {
            total += c;
            t.fanout.push(total);
        }
    }
    Ok((
        IndexFile {
            file,
            header,
            layout,
            manifests,
        },
        tables,
    ))
}

/// The trailer: binds the header to the sections' digest.
pub(crate) fn checksum(header: &Header, body: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(header.encode());
    h.update(body);
    h.finalize().into()
}

fn read_or_truncated(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), IndexError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => IndexError::corrupt("file is truncated"),
        _ => IndexError::Io(e),
    })
}

/// `Read` over a file from an offset, by positioned reads (the file's cursor
/// is left alone, so several readers can share one handle).
pub(crate) struct PositionedReader<'a> {
    file: &'a File,
    at: u64,
}

impl<'a> PositionedReader<'a> {
    pub fn new(file: &'a File, at: u64) -> Self {
        PositionedReader { file, at }
    }
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Sequential, buffered reader of an index file's records.
pub(crate) struct RecordReader<'a> {
    file: &'a File,
    next: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl<'a> RecordReader<'a> {
    /// Reads the records in `start..end` of `file`.
    pub fn new(file: &'a File, start: u64, end: u64) -> Self {
        RecordReader {
            file,
            next: start,
            end,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub fn next_record(&mut self) -> Result<Option<Record>, IndexError> {
        if self.pos >= self.buf.len() {
            if self.next >= self.end {
                return Ok(None);
            }
            let want = (self.end - self.next)
                .min(SCAN_BUFFER as u64 / RECORD_LEN as u64 * RECORD_LEN as u64);
            self.buf.resize(want as usize, 0);
            self.file.read_exact_at(&mut self.buf, self.next)?;
            self.next += want;
            self.pos = 0;
        }
        let mut r = [0u8; RECORD_LEN];
        r.copy_from_slice(&self.buf[self.pos..self.pos + RECORD_LEN]);
        self.pos += RECORD_LEN;
        Ok(Some(Record::decode(&r)))
    }
}
