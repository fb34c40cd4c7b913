//! Streaming MCAP reading, one record at a time: memory holds one record (or one decompressed
//! chunk), never the file. Records are framed here (so every error knows its byte offset) and
//! parsed with the `mcap` crate's record parser; chunks are decompressed with zstd or lz4 and
//! their CRC is checked.
//!
//! In a plain (not whole-file compressed) file, large records (chunks) are not copied: each is
//! mapped read-only where it lies in the page cache, and unmapped when the last message that
//! refers to it is dropped. Like every reader of memory-mapped files, this assumes the file is
//! not truncated while it is read (a bag still being recorded is appended to, which is fine).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use mcap::records::Record;

use crate::error::{BagError, Location, Topics};
use crate::mcap_format::{
    MAGIC, OP_CHANNEL, OP_CHUNK, OP_DATA_END, OP_FOOTER, OP_HEADER, OP_MESSAGE, OP_MESSAGE_INDEX,
    OP_SCHEMA,
};
use crate::payload::{Buf, Payload, reusable};
use crate::reader::{RawMessage, TopicInfo, TopicTable};

/// Largest record or decompressed chunk accepted (a corrupt length must not allocate wildly).
const MAX_RECORD: u64 = 1 << 31;
/// Records at least this large are mapped in place rather than read.
const MAP_MIN: usize = 256 * 1024;

struct SchemaInfo {
    name: String,
    encoding: String,
    data: String,
}

/// A channel listed in an MCAP file's summary section.
pub(crate) struct SummaryChannel {
    pub id: u16,
    pub topic: String,
    pub type_name: String,
    pub message_encoding: String,
    pub definition: String,
    pub qos: String,
}

/// The schemas and channels in an MCAP file's summary section, if it has one.
#[derive(Default)]
pub(crate) struct Summary {
    pub channels: Vec<SummaryChannel>,
    pub counts: HashMap<u16, u64>,
}

/// Reads the summary section through the footer (seekable, uncompressed files only).
pub(crate) fn read_summary(path: &Path) -> Option<Summary> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len < 8 + 37 {
        return None;
    }
    f.seek(SeekFrom::Start(len - 37)).ok()?;
    let mut tail = [0u8; 37];
    f.read_exact(&mut tail).ok()?;
    if &tail[29..] != MAGIC || tail[0] != OP_FOOTER {
        return None;
    }
    let summary_start = u64::from_le_bytes(tail[9..17].try_into().ok()?);
    let footer_start = len - 37;
    if summary_start == 0
        || summary_start >= footer_start
        || footer_start - summary_start > MAX_RECORD
    {
        return None;
    }
    f.seek(SeekFrom::Start(summary_start)).ok()?;
    let mut buf = vec![0u8; (footer_start - summary_start) as usize];
    f.read_exact(&mut buf).ok()?;
    let mut schemas: HashMap<u16, SchemaInfo> = HashMap::new();
    let mut out = Summary::default();
    let mut pos = 0usize;
    while pos + 9 <= buf.len() {
        let op = buf[pos];
        let n = u64::from_le_bytes(buf[pos + 1..pos + 9].try_into().ok()?);
        // A corrupt length must not overflow (it did: found by tests/fuzz_bag.rs).
        let end = usize::try_from(n).ok()?.checked_add(pos + 9)?;
        let body = buf.get(pos + 9..end)?;
        pos = end;
        match mcap::parse_record(op, body).ok()? {
            Record::Schema { header, data } => {
                schemas.insert(
                    header.id,
                    SchemaInfo {
                        name: header.name,
                        encoding: header.encoding,
                        data: String::from_utf8_lossy(&data).into_owned(),
                    },
                );
            }
            Record::Channel(c) => {
                let (ty, def) = schemas
                    .get(&c.schema_id)
                    .map(|s| (s.name.clone(), s.data.clone()))
                    .unwrap_or_default();
                let qos = c
                    .metadata
                    .get("offered_qos_profiles")
                    .cloned()
                    .unwrap_or_default();
                out.channels.push(SummaryChannel {
                    id: c.id,
                    topic: c.topic,
                    type_name: ty,
                    message_encoding: c.message_encoding,
                    definition: def,
                    qos,
                });
            }
            Record::Statistics(s) => out.counts = s.channel_message_counts.into_iter().collect(),
            _ => {}
        }
    }
    Some(out)
}

/// Checks a chunk's records against the CRC its header stores (0: none stored).
fn check_crc(records: &[u8], stored: u32) -> Result<(), String> {
    if stored != 0 {
        let crc = crc32fast::hash(records);
        if crc != stored {
            return Err(format!(
                "chunk CRC mismatch (stored {stored:08x}, computed {crc:08x})"
            ));
        }
    }
    Ok(())
}

/// The records of the chunk being read, parsed one at a time as messages are asked for (a
/// message's record is read just before it is used, while it is in the cache).
struct ChunkCursor {
    buf: Arc<Buf>,
    /// The chunk's records are `buf[base..end]`.
    base: usize,
    end: usize,
    /// The next record, from `base`.
    pos: usize,
    /// The chunk record's file offset.
    offset: u64,
}

/// Bytes after a record fetched into the cache while it is handled (the small records that
/// follow a large one: their headers are read next).
const PREFETCH: usize = 1024;

/// Asks the CPU to fetch `bytes` into its cache: a hint, with no effect on what is read (and
/// none at all elsewhere than on x86_64).
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch only hints the cache and never faults; SSE is part of x86_64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Where an MCAP file's bytes come from.
enum Source {
    /// A whole-file zstd stream, read in order.
    Stream(Box<dyn Read + Send>),
    /// A plain file: small records are read at their offset, large ones mapped in place.
    File(File),
}

/// A message-yielding reader over one MCAP file.
pub(crate) struct McapFile {
    path: Arc<Path>,
    src: Source,
    file_len: Option<u64>,
    /// Offset of the next unread byte.
    pos: u64,
    /// The last record read. Messages of an uncompressed chunk are windows into it.
    body: Arc<Buf>,
    /// The last decompressed chunk's records. Its messages are windows into it.
    chunk: Arc<Buf>,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    schemas: HashMap<u16, SchemaInfo>,
    /// Each channel's topic, and whether its messages are wanted (the topic filter).
    channels: HashMap<u16, (Arc<TopicInfo>, bool)>,
    /// Topic names from the summary, for errors about chunks whose channels were never read.
    summary_names: HashMap<u16, String>,
    table: Arc<TopicTable>,
    filter: Option<Arc<HashSet<String>>>,
    /// Messages of records outside chunks.
    pending: VecDeque<RawMessage>,
    cursor: Option<ChunkCursor>,
    /// A record read while looking past a corrupt chunk for its message indexes.
    lookahead: Option<(u8, u64, Arc<Buf>)>,
    /// An error to report once the messages read before it are out; true if reading stops.
    deferred: Option<(BagError, bool)>,
    started: bool,
    done: bool,
    /// Message-mode compression: every message's data is a zstd frame.
    message_zstd: bool,
}

impl McapFile {
    pub(crate) fn open(
        path: &Path,
        file_zstd: bool,
        message_zstd: bool,
        table: Arc<TopicTable>,
        filter: Option<Arc<HashSet<String>>>,
    ) -> Result<Self, BagError> {
        let file = File::open(path).map_err(|e| BagError::io(path, e))?;
        let (src, file_len) = if file_zstd {
            let dec = zstd::stream::read::Decoder::new(file).map_err(|e| BagError::io(path, e))?;
            (Source::Stream(Box::new(dec)), None)
        } else {
            let len = file.metadata().map_err(|e| BagError::io(path, e))?.len();
            (Source::File(file), Some(len))
        };
        let summary_names = if file_zstd {
            HashMap::new()
        } else {
            read_summary(path)
                .map(|s| s.channels.into_iter().map(|c| (c.id, c.topic)).collect())
                .unwrap_or_default()
        };
        Ok(Self {
            path: Arc::from(path),
            src,
            file_len,
            pos: 0,
            body: Arc::default(),
            chunk: Arc::default(),
            zstd: None,
            schemas: HashMap::new(),
            channels: HashMap::new(),
            summary_names,
            table,
            filter,
            pending: VecDeque::new(),
            cursor: None,
            lookahead: None,
            deferred: None,
            started: false,
            done: false,
            message_zstd,
        })
    }

    /// Bytes consumed so far (of the uncompressed stream).
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    fn topic_names(&self, ids: &[u16]) -> Topics {
        let mut names: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                self.channels
                    .get(id)
                    .map(|(c, _)| c.name.clone())
                    .or_else(|| self.summary_names.get(id).cloned())
            })
            .collect();
        names.sort();
        names.dedup();
        Topics(names)
    }

    /// The topics of the messages in the readable part of a cut-off chunk (in `self.body`).
    fn partial_chunk_topics(&self) -> Topics {
        let b = &self.body;
        // message_start_time, message_end_time, uncompressed_size (u64 each), crc (u32), compression (string)
        let Some(len) = b
            .get(28..32)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
        else {
            return Topics::default();
        };
        let Some(compression) = b.get(32..32 + len) else {
            return Topics::default();
        };
        let Some(data) = b.get(32 + len + 8..) else {
            return Topics::default();
        };
        let mut records = Vec::new();
        let mut tmp = [0u8; 64 * 1024];
        match compression {
            b"" => records.extend_from_slice(data),
            b"zstd" | b"lz4" => {
                let mut reader: Box<dyn Read> = if compression == b"zstd" {
                    match zstd::stream::read::Decoder::new(data) {
                        Ok(d) => Box::new(d),
                        Err(_) => return Topics::default(),
                    }
                } else {
                    match lz4::Decoder::new(data) {
                        Ok(d) => Box::new(d),
                        Err(_) => return Topics::default(),
                    }
                };
                while let Ok(n) = reader.read(&mut tmp) {
                    if n == 0 || records.len() > MAX_RECORD as usize {
                        break;
                    }
                    records.extend_from_slice(&tmp[..n]);
                }
            }
            _ => return Topics::default(),
        }
        let mut local: HashMap<u16, String> = HashMap::new();
        let mut ids = Vec::new();
        let mut pos = 0usize;
        while pos + 9 <= records.len() {
            let op = records[pos];
            let n = u64::from_le_bytes(records[pos + 1..pos + 9].try_into().unwrap_or([0; 8]));
            let Some(end) = usize::try_from(n)
                .ok()
                .and_then(|n| (pos + 9).checked_add(n))
            else {
                break;
            };
            let body = &records[pos + 9..end.min(records.len())];
            match op {
                OP_MESSAGE if body.len() >= 2 => ids.push(u16::from_le_bytes([body[0], body[1]])),
                OP_CHANNEL if end <= records.len() => {
                    if let Ok(Record::Channel(c)) = mcap::parse_record(op, body) {
                        local.insert(c.id, c.topic);
                    }
                }
                _ => {}
            }
            pos = end;
        }
        let mut names: Vec<String> = ids.iter().filter_map(|id| local.get(id).cloned()).collect();
        names.extend(self.topic_names(&ids).0);
        if names.is_empty() {
            // Nothing of the cut chunk decodes (a compressed block is incomplete): the topics
            // recorded so far are the ones whose messages it held.
            names = self
                .channels
                .values()
                .map(|(c, _)| c.name.clone())
                .collect();
            names.extend(self.summary_names.values().cloned());
        }
        names.sort();
        names.dedup();
        Topics(names)
    }

    fn corrupt(&self, location: Location, topics: Topics, reason: String) -> BagError {
        BagError::Corrupt {
            path: self.path.to_path_buf(),
            location,
            topics,
            reason,
        }
    }

    fn truncated(&self, offset: u64, reason: String) -> BagError {
        BagError::Truncated {
            path: self.path.to_path_buf(),
            offset,
            topics: Topics::default(),
            reason,
        }
    }

    /// Reads the next `len` bytes into `self.body`; fewer only at the end of the file.
    fn read_full(&mut self, len: usize) -> Result<usize, BagError> {
        let (got, r) = match &mut self.src {
            Source::File(f) => {
                let rest = self.file_len.unwrap_or(0).saturating_sub(self.pos);
                let n = len.min(usize::try_from(rest).unwrap_or(usize::MAX));
                if n >= MAP_MIN {
                    // Pages are faulted in as the records are read, one after another (no
                    // populate: faster, each record is used right after its page arrives).
                    // SAFETY: a read-only mapping of a file that is not truncated while read
                    // (module doc); it is only read through `Buf`.
                    let map =
                        unsafe { memmap2::MmapOptions::new().offset(self.pos).len(n).map(&*f) };
                    match map {
                        Ok(m) => {
                            self.body = Arc::new(Buf::Map(m));
                            (n, Ok(()))
                        }
                        Err(e) => (0, Err(e)),
                    }
                } else {
                    // A buffer that messages handed out still share is left to them.
                    let buf = reusable(&mut self.body);
                    buf.clear();
                    buf.resize(n, 0);
                    let mut got = 0;
                    let mut r = Ok(());
                    while got < n {
                        match f.read_at(&mut buf[got..], self.pos + got as u64) {
                            Ok(0) => break,
                            Ok(k) => got += k,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                r = Err(e);
                                break;
                            }
                        }
                    }
                    buf.truncate(got);
                    (got, r)
                }
            }
            Source::Stream(src) => {
                // A buffer that messages handed out still share is left to them.
                let buf = reusable(&mut self.body);
                buf.clear();
                buf.reserve(len);
                // read_to_end on a `take` fills without zeroing first; it retries on Interrupted.
                let r = src.take(len as u64).read_to_end(buf).map(|_| ());
                (buf.len(), r)
            }
        };
        if let Err(e) = r {
            return Err(self.corrupt(
                Location::Byte(self.pos + got as u64),
                Topics::default(),
                format!("read error: {e}"),
            ));
        }
        self.pos += got as u64;
        Ok(got)
    }

    /// The next top-level record: (opcode, offset, body in `self.body`), or None at a clean end.
    fn next_record(&mut self) -> Result<Option<(u8, u64)>, BagError> {
        if let Some((op, offset, body)) = self.lookahead.take() {
            self.body = body;
            return Ok(Some((op, offset)));
        }
        let offset = self.pos;
        let got = self.read_full(9)?;
        if got == 0 {
            return Ok(None);
        }
        if got < 9 {
            return Err(self.truncated(
                offset,
                format!("the file ends {got} bytes into a record header"),
            ));
        }
        let op = self.body[0];
        let len = u64::from_le_bytes(self.body[1..9].try_into().unwrap_or([0; 8]));
        let remaining = self.file_len.map(|l| l.saturating_sub(offset + 9));
        if let Some(rem) = remaining
            && len > rem
        {
            let mut e = self.truncated(
                offset,
                format!("record (opcode 0x{op:02x}) declares {len} bytes, the file has {rem} more"),
            );
            if op == OP_CHUNK
                && rem <= MAX_RECORD
                && self.read_full(rem as usize).is_ok()
                && let BagError::Truncated { topics, .. } = &mut e
            {
                *topics = self.partial_chunk_topics();
            }
            return Err(e);
        }
        if len > MAX_RECORD {
            return Err(self.corrupt(
                Location::Byte(offset),
                Topics::default(),
                format!("record (opcode 0x{op:02x}) declares an implausible length {len}"),
            ));
        }
        let got = self.read_full(len as usize)?;
        if (got as u64) < len {
            let mut e = self.truncated(
                offset,
                format!(
                    "record (opcode 0x{op:02x}) declares {len} bytes, the file ends after {got}"
                ),
            );
            if op == OP_CHUNK
                && let BagError::Truncated { topics, .. } = &mut e
            {
                *topics = self.partial_chunk_topics();
            }
            return Err(e);
        }
        Ok(Some((op, offset)))
    }

    pub(crate) fn next_message(&mut self) -> Option<Result<RawMessage, BagError>> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Some(Ok(m));
            }
            if self.cursor.is_some() {
                match self.next_in_chunk() {
                    Ok(Some(m)) => return Some(Ok(m)),
                    Ok(None) => {}
                    // Reading goes on after the chunk.
                    Err(e) => self.deferred = Some((e, false)),
                }
                continue;
            }
            if let Some((e, fatal)) = self.deferred.take() {
                if fatal {
                    self.done = true;
                }
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.step() {
                self.deferred = Some(e);
            }
        }
    }

    /// Processes one top-level record. Errors say whether reading can go on after them.
    fn step(&mut self) -> Result<(), (BagError, bool)> {
        if !self.started {
            self.started = true;
            let got = self.read_full(8).map_err(|e| (e, true))?;
            if got < 8 || self.body[..] != MAGIC[..] {
                let reason = if got < 8 {
                    format!("only {got} bytes, not an MCAP file")
                } else {
                    "no MCAP magic at the start: not an MCAP file".to_string()
                };
                return Err((
                    self.corrupt(Location::Byte(0), Topics::default(), reason),
                    true,
                ));
            }
        }
        let Some((op, offset)) = self.next_record().map_err(|e| (e, true))? else {
            self.done = true;
            return Err((
                self.truncated(
                    self.pos,
                    "the file ends without the MCAP data-end and footer records (the recording was interrupted)".into(),
                ),
                true,
            ));
        };
        match op {
            OP_FOOTER | OP_DATA_END => {
                // The summary that follows only repeats what was read.
                self.done = true;
                Ok(())
            }
            OP_CHUNK => self.read_chunk(offset),
            OP_HEADER => {
                if let Ok(Record::Header(h)) = mcap::parse_record(op, &self.body)
                    && h.profile != "ros2"
                {
                    tracing::warn!(path = %self.path.display(), "MCAP profile is `{}`, not `ros2`", h.profile);
                }
                Ok(())
            }
            OP_SCHEMA | OP_CHANNEL | OP_MESSAGE => {
                let body = self.body.clone();
                let m = self
                    .handle_record(op, &body, 0..body.len(), Location::Byte(offset))
                    .map_err(|e| (e, false))?;
                self.pending.extend(m);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn read_chunk(&mut self, offset: u64) -> Result<(), (BagError, bool)> {
        let body = self.body.clone();
        let result = self.decompress_chunk(&body, offset);
        drop(body);
        if let Err(reason) = &result {
            let reason = reason.clone();
            // Name the chunk's topics from the message indexes that follow it.
            let mut ids = Vec::new();
            loop {
                match self.next_record() {
                    Ok(Some((OP_MESSAGE_INDEX, _))) => {
                        if self.body.len() >= 2 {
                            ids.push(u16::from_le_bytes([self.body[0], self.body[1]]));
                        }
                    }
                    Ok(Some((op, off))) => {
                        self.lookahead = Some((op, off, self.body.clone()));
                        break;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            let topics = self.topic_names(&ids);
            return Err((self.corrupt(Location::Byte(offset), topics, reason), false));
        }
        // An uncompressed chunk's records are read where they are, in the record body.
        let (buf, range) = match result {
            Ok(Some(r)) => (self.body.clone(), r),
            _ => (self.chunk.clone(), 0..self.chunk.len()),
        };
        self.cursor = Some(ChunkCursor {
            buf,
            base: range.start,
            end: range.end,
            pos: 0,
            offset,
        });
        Ok(())
    }

    /// The next wanted message of the chunk being read; None at its end. After an error the
    /// rest of the chunk is dropped.
    fn next_in_chunk(&mut self) -> Result<Option<RawMessage>, BagError> {
        let Some(mut c) = self.cursor.take() else {
            return Ok(None);
        };
        loop {
            let chunk = &c.buf[c.base..c.end];
            let pos = c.pos;
            if pos >= chunk.len() {
                return Ok(None);
            }
            let at = Location::InChunk {
                chunk: c.offset,
                offset: pos as u64,
            };
            if pos + 9 > chunk.len() {
                return Err(self.corrupt(
                    at,
                    Topics::default(),
                    "chunk ends inside a record header".into(),
                ));
            }
            let op = chunk[pos];
            let len = u64::from_le_bytes(chunk[pos + 1..pos + 9].try_into().unwrap_or([0; 8]));
            let end = (pos as u64 + 9).saturating_add(len);
            if end > chunk.len() as u64 {
                return Err(self.corrupt(
                    at,
                    Topics::default(),
                    format!("record in chunk declares {len} bytes, past the chunk's end"),
                ));
            }
            c.pos = end as usize;
            // The records after this one are read next: have the CPU fetch them meanwhile.
            let ahead = c.pos..(c.pos + PREFETCH).min(chunk.len());
            prefetch(&chunk[ahead]);
            let record = c.base + pos + 9..c.base + c.pos;
            if let Some(m) = self.handle_record(op, &c.buf, record, at)? {
                self.cursor = Some(c);
                return Ok(Some(m));
            }
        }
    }

    /// Decompresses a chunk into `self.chunk` and checks its CRC; an uncompressed chunk is
    /// only checked, and the range of its records in `body` is returned.
    fn decompress_chunk(
        &mut self,
        body: &[u8],
        _offset: u64,
    ) -> Result<Option<Range<usize>>, String> {
        let (header, data) = match mcap::parse_record(OP_CHUNK, body) {
            Ok(Record::Chunk { header, data }) => (header, data),
            Ok(_) => return Err("not a chunk".into()),
            Err(e) => return Err(format!("bad chunk record: {e}")),
        };
        if header.compression.is_empty() {
            // The records are the last `compressed_size` bytes of the chunk record.
            let size = data.len();
            if header.uncompressed_size != size as u64 {
                return Err(format!(
                    "chunk decompresses to {size} bytes, its header says {}",
                    header.uncompressed_size
                ));
            }
            check_crc(&data, header.uncompressed_crc)?;
            // Records start after the header: 3 u64, the u32 CRC, the compression string
            // (u32 length, empty here) and the u64 records length.
            let start = 8 * 3 + 4 + 4 + 8;
            if start + size == body.len() {
                return Ok(Some(start..body.len()));
            }
            let chunk = reusable(&mut self.chunk);
            chunk.clear();
            chunk.extend_from_slice(&data);
            return Ok(None);
        }
        if header.uncompressed_size > MAX_RECORD {
            return Err(format!(
                "chunk declares an implausible uncompressed size {}",
                header.uncompressed_size
            ));
        }
        let size = header.uncompressed_size as usize;
        let chunk = reusable(&mut self.chunk);
        chunk.clear();
        match header.compression.as_str() {
            "zstd" => {
                if self.zstd.is_none() {
                    self.zstd = Some(
                        zstd::bulk::Decompressor::new()
                            .map_err(|e| format!("zstd decompressor: {e}"))?,
                    );
                }
                let Some(dec) = self.zstd.as_mut() else {
                    return Err("zstd decompressor unavailable".into());
                };
                chunk.reserve(size);
                dec.decompress_to_buffer(&data[..], chunk)
                    .map_err(|e| format!("zstd decompression failed: {e}"))?;
            }
            "lz4" => {
                let mut dec =
                    lz4::Decoder::new(&data[..]).map_err(|e| format!("lz4 decoder: {e}"))?;
                chunk.reserve(size);
                (&mut dec)
                    .take(size as u64 + 1)
                    .read_to_end(chunk)
                    .map_err(|e| format!("lz4 decompression failed: {e}"))?;
            }
            other => return Err(format!("unsupported chunk compression `{other}`")),
        }
        if chunk.len() != size {
            return Err(format!(
                "chunk decompresses to {} bytes, its header says {size}",
                chunk.len()
            ));
        }
        check_crc(chunk, header.uncompressed_crc)?;
        Ok(None)
    }

    /// Handles the record whose body is `buf[range]`: a wanted message is returned (its
    /// payload shares `buf`), schemas and channels are taken note of.
    fn handle_record(
        &mut self,
        op: u8,
        buf: &Arc<Buf>,
        range: Range<usize>,
        at: Location,
    ) -> Result<Option<RawMessage>, BagError> {
        let body = &buf[range.clone()];
        match op {
            OP_MESSAGE => {
                if body.len() < 22 {
                    return Err(self.corrupt(
                        at,
                        Topics::default(),
                        format!("message record of {} bytes is too short", body.len()),
                    ));
                }
                let channel_id = u16::from_le_bytes([body[0], body[1]]);
                let topic = match self.channels.get(&channel_id) {
                    Some((_, false)) => return Ok(None),
                    Some((topic, true)) => topic.clone(),
                    None => {
                        return Err(self.corrupt(
                            at,
                            self.topic_names(&[channel_id]),
                            format!("message on channel {channel_id}, which was never defined"),
                        ));
                    }
                };
                let le64 =
                    |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().unwrap_or([0; 8]));
                let log_time = le64(6);
                let publish_time = le64(14);
                let data = if self.message_zstd {
                    Payload::from(zstd::stream::decode_all(&body[22..]).map_err(|e| {
                        self.corrupt(
                            at,
                            Topics(vec![topic.name.clone()]),
                            format!("zstd message decompression failed: {e}"),
                        )
                    })?)
                } else {
                    Payload::slice(buf, range.start + 22..range.end)
                };
                return Ok(Some(RawMessage {
                    topic,
                    log_time,
                    publish_time,
                    data,
                    file: self.path.clone(),
                    location: at,
                }));
            }
            OP_SCHEMA => match mcap::parse_record(op, body) {
                Ok(Record::Schema { header, data }) => {
                    self.schemas.insert(
                        header.id,
                        SchemaInfo {
                            name: header.name,
                            encoding: header.encoding,
                            data: String::from_utf8_lossy(&data).into_owned(),
                        },
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(self.corrupt(
                        at,
                        Topics::default(),
                        format!("bad schema record: {e}"),
                    ));
                }
            },
            OP_CHANNEL => match mcap::parse_record(op, body) {
                Ok(Record::Channel(c)) => {
                    let schema = self.schemas.get(&c.schema_id);
                    if c.schema_id != 0 && schema.is_none() {
                        return Err(self.corrupt(
                            at,
                            Topics(vec![c.topic.clone()]),
                            format!(
                                "channel {} uses schema {}, which was never defined",
                                c.id, c.schema_id
                            ),
                        ));
                    }
                    if schema.is_some_and(|s| s.encoding != "ros2msg" && s.encoding != "ros2idl") {
                        tracing::debug!(topic = %c.topic, "schema encoding is not ros2msg");
                    }
                    let info = self.table.topic_info(
                        &c.topic,
                        schema.map(|s| s.name.as_str()).unwrap_or(""),
                        &c.message_encoding,
                        schema.map(|s| s.data.as_str()),
                        c.metadata.get("offered_qos_profiles").map(String::as_str),
                    );
                    let wanted = self.filter.as_ref().is_none_or(|f| f.contains(&info.name));
                    self.channels.insert(c.id, (info, wanted));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(self.corrupt(
                        at,
                        Topics::default(),
                        format!("bad channel record: {e}"),
                    ));
                }
            },
            _ => {}
        }
        Ok(None)
    }
}
