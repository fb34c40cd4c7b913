//! Writing MCAP files, streaming: messages are serialized straight into the current chunk's
//! buffer, and each chunk is written whole with its message indexes in one `write` (no copy
//! through an intermediate buffered writer). The summary (schemas, channels, statistics, chunk
//! and metadata indexes, summary offsets) and the footer are written by [`McapWriter::finish`].
//! Schema and channel records go into the chunk being written, as the `mcap` crate does.
//!
//! Layouts follow the MCAP specification (all integers little-endian; strings and byte arrays
//! with a u32 length prefix; maps with a u32 byte-length prefix).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;

use crate::file_sink::FileSink;
use crate::mcap_format::{
    MAGIC, OP_CHANNEL, OP_CHUNK, OP_CHUNK_INDEX, OP_DATA_END, OP_FOOTER, OP_HEADER, OP_MESSAGE,
    OP_MESSAGE_INDEX, OP_METADATA, OP_METADATA_INDEX, OP_SCHEMA, OP_STATISTICS, OP_SUMMARY_OFFSET,
};

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkCompression {
    None,
    Zstd,
    Lz4,
}

impl ChunkCompression {
    fn name(self) -> &'static str {
        match self {
            ChunkCompression::None => "",
            ChunkCompression::Zstd => "zstd",
            ChunkCompression::Lz4 => "lz4",
        }
    }
}

/// An error writing: an I/O error, or a value MCAP cannot hold (e.g. a string over 4 GiB).
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

type Result<T, E = WriteError> = std::result::Result<T, E>;

fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn len_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| WriteError::Invalid(format!("{n} bytes do not fit an MCAP field")))
}

fn put_bytes(b: &mut Vec<u8>, v: &[u8]) -> Result<()> {
    put_u32(b, len_u32(v.len())?);
    b.extend_from_slice(v);
    Ok(())
}

fn put_str(b: &mut Vec<u8>, v: &str) -> Result<()> {
    put_bytes(b, v.as_bytes())
}

fn put_string_map(b: &mut Vec<u8>, m: &BTreeMap<String, String>) -> Result<()> {
    let at = b.len();
    put_u32(b, 0);
    for (k, v) in m {
        put_str(b, k)?;
        put_str(b, v)?;
    }
    let n = len_u32(b.len() - at - 4)?;
    b[at..at + 4].copy_from_slice(&n.to_le_bytes());
    Ok(())
}

fn put_id_map(b: &mut Vec<u8>, m: &BTreeMap<u16, u64>) {
    put_u32(b, (m.len() * 10) as u32);
    for (k, v) in m {
        put_u16(b, *k);
        put_u64(b, *v);
    }
}

/// Appends a record: opcode, length, then what `body` writes.
fn put_record(
    b: &mut Vec<u8>,
    op: u8,
    body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let at = b.len();
    b.push(op);
    put_u64(b, 0);
    if let Err(e) = body(b) {
        b.truncate(at);
        return Err(e);
    }
    let len = (b.len() - at - 9) as u64;
    b[at + 1..at + 9].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

struct Schema {
    id: u16,
    name: String,
    encoding: String,
    data: Vec<u8>,
}

struct Channel {
    id: u16,
    schema_id: u16,
    topic: String,
    message_encoding: String,
    metadata: BTreeMap<String, String>,
}

struct ChunkIndex {
    start_time: u64,
    end_time: u64,
    offset: u64,
    length: u64,
    message_index_offsets: BTreeMap<u16, u64>,
    message_index_length: u64,
    compressed_size: u64,
    uncompressed_size: u64,
}

/// A chunk record's fields before its records.
struct ChunkHeader {
    start_time: u64,
    end_time: u64,
    uncompressed_size: u64,
    crc: u32,
    compression: &'static str,
    /// Bytes of records as stored (compressed or not).
    stored: u64,
}

impl ChunkHeader {
    /// Opcode, record length and the fields (as many bytes as `McapWriter::prefix`).
    fn put(&self, b: &mut Vec<u8>) {
        b.push(OP_CHUNK);
        put_u64(
            b,
            24 + 4 + 4 + self.compression.len() as u64 + 8 + self.stored,
        );
        put_u64(b, self.start_time);
        put_u64(b, self.end_time);
        put_u64(b, self.uncompressed_size);
        put_u32(b, self.crc);
        put_u32(b, self.compression.len() as u32);
        b.extend_from_slice(self.compression.as_bytes());
        put_u64(b, self.stored);
    }
}

/// The chunk being filled.
#[derive(Default)]
struct OpenChunk {
    /// `prefix` bytes of room for the chunk record's header, then the records.
    buf: Vec<u8>,
    /// (log_time, offset in the records) of each message, per channel.
    index: BTreeMap<u16, Vec<(u64, u64)>>,
    times: Option<(u64, u64)>,
}

/// Writes one MCAP file.
pub(crate) struct McapWriter {
    sink: FileSink,
    /// Bytes written so far: the offset of the next record.
    pos: u64,
    compression: ChunkCompression,
    chunk_size: usize,
    /// Room for the chunk record's header before the records in `chunk.buf`.
    prefix: usize,
    chunk: OpenChunk,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    schemas: Vec<Schema>,
    channels: Vec<Channel>,
    chunk_indexes: Vec<ChunkIndex>,
    /// (offset, length, name) of each metadata record.
    metadata: Vec<(u64, u64, String)>,
    message_count: u64,
    channel_counts: BTreeMap<u16, u64>,
    times: Option<(u64, u64)>,
}

impl McapWriter {
    /// Starts a file: magic and header record.
    pub(crate) fn new(
        sink: FileSink,
        profile: &str,
        library: &str,
        compression: ChunkCompression,
        chunk_size: u64,
    ) -> Result<Self> {
        let mut w = Self {
            sink,
            pos: 0,
            compression,
            chunk_size: usize::try_from(chunk_size).unwrap_or(usize::MAX),
            // opcode, length, 3 × u64 times/size, u32 CRC, the compression name, u64 length.
            prefix: 9 + 24 + 4 + 4 + compression.name().len() + 8,
            chunk: OpenChunk::default(),
            zstd: None,
            schemas: Vec::new(),
            channels: Vec::new(),
            chunk_indexes: Vec::new(),
            metadata: Vec::new(),
            message_count: 0,
            channel_counts: BTreeMap::new(),
            times: None,
        };
        let mut b = MAGIC.to_vec();
        put_record(&mut b, OP_HEADER, |b| {
            put_str(b, profile)?;
            put_str(b, library)
        })?;
        w.write_out(&b)?;
        Ok(w)
    }

    fn write_out(&mut self, bytes: &[u8]) -> Result<()> {
        self.sink.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// The open chunk's records buffer (started if needed).
    fn records(&mut self) -> &mut Vec<u8> {
        if self.chunk.buf.is_empty() {
            self.chunk.buf.resize(self.prefix, 0);
        }
        &mut self.chunk.buf
    }

    /// Adds a schema (id from 1) and writes its record.
    pub(crate) fn add_schema(&mut self, name: &str, encoding: &str, data: &[u8]) -> Result<u16> {
        let id = u16::try_from(self.schemas.len() + 1)
            .map_err(|_| WriteError::Invalid("too many schemas".into()))?;
        let s = Schema {
            id,
            name: name.into(),
            encoding: encoding.into(),
            data: data.to_vec(),
        };
        put_record(self.records(), OP_SCHEMA, |b| schema_body(b, &s))?;
        self.schemas.push(s);
        Ok(id)
    }

    /// Adds a channel (id from 0) and writes its record.
    pub(crate) fn add_channel(
        &mut self,
        schema_id: u16,
        topic: &str,
        message_encoding: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<u16> {
        let id = u16::try_from(self.channels.len())
            .map_err(|_| WriteError::Invalid("too many channels".into()))?;
        let c = Channel {
            id,
            schema_id,
            topic: topic.into(),
            message_encoding: message_encoding.into(),
            metadata: metadata.clone(),
        };
        put_record(self.records(), OP_CHANNEL, |b| channel_body(b, &c))?;
        self.channels.push(c);
        Ok(id)
    }

    /// Writes a message whose data `data` appends to the buffer it is given (e.g. serializes
    /// straight into the chunk). On error nothing of the message is kept.
    pub(crate) fn write_message(
        &mut self,
        channel: u16,
        sequence: u32,
        log_time: u64,
        publish_time: u64,
        data: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        if usize::from(channel) >= self.channels.len() {
            return Err(WriteError::Invalid(format!("unknown channel {channel}")));
        }
        let prefix = self.prefix;
        let records = self.records();
        let offset = (records.len() - prefix) as u64;
        put_record(records, OP_MESSAGE, |b| {
            put_u16(b, channel);
            put_u32(b, sequence);
            put_u64(b, log_time);
            put_u64(b, publish_time);
            data(b)
        })?;
        let full = records.len() - prefix >= self.chunk_size;
        self.chunk
            .index
            .entry(channel)
            .or_default()
            .push((log_time, offset));
        let span = |t: Option<(u64, u64)>| {
            Some(t.map_or((log_time, log_time), |(a, b)| {
                (a.min(log_time), b.max(log_time))
            }))
        };
        self.chunk.times = span(self.chunk.times);
        self.times = span(self.times);
        self.message_count += 1;
        *self.channel_counts.entry(channel).or_insert(0) += 1;
        if full {
            self.finish_chunk()?;
        }
        Ok(())
    }

    /// Writes the open chunk (if it has anything) and its message indexes.
    pub(crate) fn finish_chunk(&mut self) -> Result<()> {
        if self.chunk.buf.is_empty() {
            return Ok(());
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        let r = self.write_chunk(&mut chunk);
        // Keep the buffers for the next chunk.
        chunk.buf.clear();
        chunk.index.values_mut().for_each(Vec::clear);
        chunk.times = None;
        self.chunk = chunk;
        r
    }

    fn write_chunk(&mut self, chunk: &mut OpenChunk) -> Result<()> {
        let prefix = self.prefix;
        let records = &chunk.buf[prefix..];
        let (start_time, end_time) = chunk.times.unwrap_or((0, 0));
        let mut header = ChunkHeader {
            start_time,
            end_time,
            uncompressed_size: records.len() as u64,
            crc: crc32fast::hash(records),
            compression: self.compression.name(),
            stored: records.len() as u64,
        };
        let compressed = match self.compression {
            ChunkCompression::None => None,
            ChunkCompression::Zstd => {
                if self.zstd.is_none() {
                    self.zstd = Some(zstd::bulk::Compressor::new(0)?);
                }
                match self.zstd.as_mut() {
                    Some(z) => Some(z.compress(records)?),
                    None => return Err(WriteError::Invalid("no zstd compressor".into())),
                }
            }
            ChunkCompression::Lz4 => {
                let mut enc = lz4::EncoderBuilder::new()
                    .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                    .build(Vec::with_capacity(records.len() / 2))?;
                enc.write_all(records)?;
                let (out, r) = enc.finish();
                r?;
                Some(out)
            }
        };
        if let Some(c) = &compressed {
            header.stored = c.len() as u64;
        }
        let offset = self.pos;
        let chunk_length = prefix as u64 + header.stored;
        // The message indexes follow the chunk.
        let mut tail = Vec::new();
        let mut message_index_offsets = BTreeMap::new();
        for (&channel, entries) in &chunk.index {
            if entries.is_empty() {
                continue;
            }
            message_index_offsets.insert(channel, offset + chunk_length + tail.len() as u64);
            put_record(&mut tail, OP_MESSAGE_INDEX, |b| {
                put_u16(b, channel);
                put_u32(b, len_u32(entries.len() * 16)?);
                for &(t, o) in entries {
                    put_u64(b, t);
                    put_u64(b, o);
                }
                Ok(())
            })?;
        }
        let mut h = Vec::with_capacity(prefix);
        header.put(&mut h);
        debug_assert_eq!(h.len(), prefix);
        match &compressed {
            None => {
                // The header goes into the room left for it: one write for chunk and indexes.
                chunk.buf[..prefix].copy_from_slice(&h);
                chunk.buf.extend_from_slice(&tail);
                self.pos += chunk.buf.len() as u64;
                chunk.buf = self.sink.write_vec(std::mem::take(&mut chunk.buf))?;
            }
            Some(c) => {
                h.extend_from_slice(c);
                h.extend_from_slice(&tail);
                self.write_out(&h)?;
            }
        }
        self.chunk_indexes.push(ChunkIndex {
            start_time,
            end_time,
            offset,
            length: chunk_length,
            message_index_offsets,
            message_index_length: tail.len() as u64,
            compressed_size: header.stored,
            uncompressed_size: header.uncompressed_size,
        });
        Ok(())
    }

    /// Ends the open chunk and flushes it to the file.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.finish_chunk()?;
        self.sink.flush()?;
        Ok(())
    }

    /// Writes a metadata record (outside chunks).
    pub(crate) fn write_metadata(
        &mut self,
        name: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.finish_chunk()?;
        let mut b = Vec::new();
        put_record(&mut b, OP_METADATA, |b| {
            put_str(b, name)?;
            put_string_map(b, metadata)
        })?;
        self.metadata
            .push((self.pos, b.len() as u64, name.to_string()));
        self.write_out(&b)
    }

    /// Ends the data section and writes the summary, the footer and the closing magic.
    pub(crate) fn finish(mut self) -> Result<File> {
        self.finish_chunk()?;
        let mut b = Vec::new();
        // No data section CRC (0): readers use the chunk CRCs.
        put_record(&mut b, OP_DATA_END, |b| {
            put_u32(b, 0);
            Ok(())
        })?;
        let summary_start = self.pos + b.len() as u64;
        let mut groups: Vec<(u8, u64, u64)> = Vec::new();
        let mut group =
            |b: &mut Vec<u8>, op: u8, write: &mut dyn FnMut(&mut Vec<u8>) -> Result<()>| {
                let start = b.len();
                write(b)?;
                if b.len() > start {
                    groups.push((op, self.pos + start as u64, (b.len() - start) as u64));
                }
                Ok::<(), WriteError>(())
            };
        group(&mut b, OP_SCHEMA, &mut |b| {
            for s in &self.schemas {
                put_record(b, OP_SCHEMA, |b| schema_body(b, s))?;
            }
            Ok(())
        })?;
        group(&mut b, OP_CHANNEL, &mut |b| {
            for c in &self.channels {
                put_record(b, OP_CHANNEL, |b| channel_body(b, c))?;
            }
            Ok(())
        })?;
        group(&mut b, OP_STATISTICS, &mut |b| {
            let (start, end) = self.times.unwrap_or((0, 0));
            put_record(b, OP_STATISTICS, |b| {
                put_u64(b, self.message_count);
                put_u16(b, self.schemas.len() as u16);
                put_u32(b, self.channels.len() as u32);
                put_u32(b, 0); // attachments
                put_u32(b, self.metadata.len() as u32);
                put_u32(b, self.chunk_indexes.len() as u32);
                put_u64(b, start);
                put_u64(b, end);
                put_id_map(b, &self.channel_counts);
                Ok(())
            })
        })?;
        group(&mut b, OP_CHUNK_INDEX, &mut |b| {
            for c in &self.chunk_indexes {
                put_record(b, OP_CHUNK_INDEX, |b| {
                    put_u64(b, c.start_time);
                    put_u64(b, c.end_time);
                    put_u64(b, c.offset);
                    put_u64(b, c.length);
                    put_id_map(b, &c.message_index_offsets);
                    put_u64(b, c.message_index_length);
                    put_str(b, self.compression.name())?;
                    put_u64(b, c.compressed_size);
                    put_u64(b, c.uncompressed_size);
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        group(&mut b, OP_METADATA_INDEX, &mut |b| {
            for (offset, length, name) in &self.metadata {
                put_record(b, OP_METADATA_INDEX, |b| {
                    put_u64(b, *offset);
                    put_u64(b, *length);
                    put_str(b, name)
                })?;
            }
            Ok(())
        })?;
        let summary_offset_start = self.pos + b.len() as u64;
        for (op, start, length) in groups {
            put_record(&mut b, OP_SUMMARY_OFFSET, |b| {
                b.push(op);
                put_u64(b, start);
                put_u64(b, length);
                Ok(())
            })?;
        }
        // Footer: its CRC covers the summary section and the footer up to the CRC itself.
        let summary_in_b = (summary_start - self.pos) as usize;
        b.push(OP_FOOTER);
        put_u64(&mut b, 8 + 8 + 4);
        put_u64(&mut b, summary_start);
        put_u64(&mut b, summary_offset_start);
        let crc = crc32fast::hash(&b[summary_in_b..]);
        put_u32(&mut b, crc);
        b.extend_from_slice(MAGIC);
        self.write_out(&b)?;
        Ok(self.sink.finish()?)
    }
}

fn schema_body(b: &mut Vec<u8>, s: &Schema) -> Result<()> {
    put_u16(b, s.id);
    put_str(b, &s.name)?;
    put_str(b, &s.encoding)?;
    put_bytes(b, &s.data)
}

fn channel_body(b: &mut Vec<u8>, c: &Channel) -> Result<()> {
    put_u16(b, c.id);
    put_u16(b, c.schema_id);
    put_str(b, &c.topic)?;
    put_str(b, &c.message_encoding)?;
    put_string_map(b, &c.metadata)
}
