//! Replay chunk files: append-only, one transition per record, torn tails and corruption
//! detected on reload.
//!
//! # File format (version 1, all integers and floats little-endian)
//!
//! A buffer directory holds `chunk-NNNNNNNN.mbrc` files, numbered from 0; a writer never appends
//! to an existing file (a restarted node starts the next number), so only the newest file can
//! end in a torn record.
//!
//! **Header**, 64 bytes:
//!
//! | offset | type      | field                                           |
//! |-------:|-----------|-------------------------------------------------|
//! | 0      | `[u8; 8]` | magic `b"MBARLRC\0"`                            |
//! | 8      | u16       | format version = 1                              |
//! | 10     | u16       | header length = 64                              |
//! | 12     | u16       | frame height H (0: no frames)                   |
//! | 14     | u16       | frame width W                                   |
//! | 16     | u16       | frame channels C (3, or 0 without frames)       |
//! | 18     | u16       | proprio_dim P                                   |
//! | 20     | u16       | state_dim S (0: no state vector)                |
//! | 22     | u16       | action_dim A                                    |
//! | 24     | u64       | chunk index                                     |
//! | 32     | [u8; 28]  | reserved, zero                                  |
//! | 60     | u32       | CRC-32 (IEEE) of bytes 0..60                    |
//!
//! **Records**, back to back after the header:
//!
//! | type       | field                                               |
//! |------------|-----------------------------------------------------|
//! | u32        | payload length L                                    |
//! | u32        | CRC-32 (IEEE) of the L payload bytes                |
//! | `[u8; L]`  | payload                                             |
//!
//! **Payload** (L is fixed by the header: 20 + 4·(A + 2P + 2S) + 2·H·W·C):
//!
//! | type             | field                                                   |
//! |------------------|---------------------------------------------------------|
//! | u8               | phase: 0 forward, 1 backward, 2 demo, 3 eval            |
//! | u8               | flags: bit 0 done, bit 1 phase_end                      |
//! | u16              | reserved, zero                                          |
//! | u32              | step index within the segment                           |
//! | u64              | episode / phase-segment id                              |
//! | f32              | reward                                                  |
//! | f32 × A          | action                                                  |
//! | f32 × P, f32 × S | observation: proprio, state                             |
//! | f32 × P, f32 × S | next observation: proprio, state                        |
//! | u8 × H·W·C       | observation frame (row-major H×W×C RGB)                 |
//! | u8 × H·W·C       | next observation frame                                  |
//!
//! On reload, a record whose 8-byte prefix or payload runs past the end of the file is a **torn
//! tail** (the process died mid-write): it is discarded (and cut off the file when the buffer is
//! reopened for writing). A record with the right length but a bad CRC or an unknown phase is
//! **corrupt**: it is skipped and reading goes on. A length that differs from L means the
//! framing itself is damaged: the rest of that file is discarded. Every complete record is kept.
//!
//! Each record is written with one `write_all` of prefix + payload; `fsync` follows the
//! configured [`FsyncPolicy`] (and always when a chunk is closed).
use super::{Observation, Phase, Transition};
use crate::config::FsyncPolicy;
use crate::error::{LearnError, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MAGIC: [u8; 8] = *b"MBARLRC\0";
pub const FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 64;
const PREFIX_LEN: usize = 8;
const FIXED_LEN: usize = 20;

/// The layout of the records of one buffer (fixed per buffer, written in every chunk header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySpec {
    /// Frame (height, width) with 3 channels, or `None` without frames.
    pub frame: Option<(usize, usize)>,
    pub proprio_dim: usize,
    /// 0: no state vector.
    pub state_dim: usize,
    pub action_dim: usize,
}

impl ReplaySpec {
    /// Bytes of one frame (0 without frames).
    pub fn frame_bytes(&self) -> usize {
        self.frame.map(|(h, w)| h * w * 3).unwrap_or(0)
    }

    /// Payload length L of every record.
    pub fn payload_len(&self) -> usize {
        FIXED_LEN
            + 4 * (self.action_dim + 2 * self.proprio_dim + 2 * self.state_dim)
            + 2 * self.frame_bytes()
    }

    /// Checks that a transition fits this layout.
    pub fn check(&self, t: &Transition) -> Result<()> {
        let bad = |what: &str| {
            Err(LearnError::Input(format!(
                "transition does not fit the replay spec: {what}"
            )))
        };
        if t.action.len() != self.action_dim {
            return bad("action length");
        }
        for (o, name) in [(&t.obs, "obs"), (&t.next_obs, "next_obs")] {
            if o.proprio.len() != self.proprio_dim {
                return bad(&format!("{name}.proprio length"));
            }
            match (&o.state, self.state_dim) {
                (None, 0) => {}
                (Some(s), d) if s.len() == d && d > 0 => {}
                _ => return bad(&format!("{name}.state")),
            }
            match (&o.frame, self.frame_bytes()) {
                (None, 0) => {}
                (Some(f), n) if f.len() == n && n > 0 => {}
                _ => return bad(&format!("{name}.frame")),
            }
        }
        Ok(())
    }

    fn header(&self, chunk_index: u64) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        let (fh, fw, c) = self.frame.map(|(h, w)| (h, w, 3)).unwrap_or((0, 0, 0));
        for (i, v) in [fh, fw, c, self.proprio_dim, self.state_dim, self.action_dim]
            .into_iter()
            .enumerate()
        {
            h[12 + 2 * i..14 + 2 * i].copy_from_slice(&(v as u16).to_le_bytes());
        }
        h[24..32].copy_from_slice(&chunk_index.to_le_bytes());
        let crc = crc32fast::hash(&h[0..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Parses a chunk header: (spec, chunk index).
    pub fn parse_header(h: &[u8]) -> std::result::Result<(ReplaySpec, u64), String> {
        if h.len() < HEADER_LEN {
            return Err(format!(
                "header truncated ({} of {HEADER_LEN} bytes)",
                h.len()
            ));
        }
        if h[0..8] != MAGIC {
            return Err("not an mbarl replay chunk (bad magic)".into());
        }
        let crc = u32::from_le_bytes([h[60], h[61], h[62], h[63]]);
        if crc32fast::hash(&h[0..60]) != crc {
            return Err("header checksum mismatch".into());
        }
        let u16_at = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]) as usize;
        let version = u16_at(8) as u16;
        if version != FORMAT_VERSION {
            return Err(format!(
                "format version {version}, this build reads {FORMAT_VERSION}"
            ));
        }
        if u16_at(10) != HEADER_LEN {
            return Err(format!("header length {}", u16_at(10)));
        }
        let (fh, fw, c) = (u16_at(12), u16_at(14), u16_at(16));
        let frame = match (fh, fw, c) {
            (0, 0, 0) => None,
            (h, w, 3) if h > 0 && w > 0 => Some((h, w)),
            _ => return Err(format!("bad frame shape {fh}x{fw}x{c}")),
        };
        let mut idx = [0u8; 8];
        idx.copy_from_slice(&h[24..32]);
        Ok((
            ReplaySpec {
                frame,
                proprio_dim: u16_at(18),
                state_dim: u16_at(20),
                action_dim: u16_at(22),
            },
            u64::from_le_bytes(idx),
        ))
    }

    /// Appends the record (prefix + payload) of `t` to `out`.
    pub fn encode(&self, t: &Transition, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; PREFIX_LEN]);
        out.push(t.phase as u8);
        out.push((t.done as u8) | ((t.phase_end as u8) << 1));
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&t.step.to_le_bytes());
        out.extend_from_slice(&t.segment.to_le_bytes());
        out.extend_from_slice(&t.reward.to_le_bytes());
        let put = |out: &mut Vec<u8>, v: &[f32]| {
            for x in v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
        put(out, &t.action);
        for o in [&t.obs, &t.next_obs] {
            put(out, &o.proprio);
            if let Some(s) = &o.state {
                put(out, s);
            }
        }
        for o in [&t.obs, &t.next_obs] {
            if let Some(f) = &o.frame {
                out.extend_from_slice(f);
            }
        }
        let len = (out.len() - start - PREFIX_LEN) as u32;
        let crc = crc32fast::hash(&out[start + PREFIX_LEN..]);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes a payload whose length and CRC were checked; `None` for an unknown phase.
    pub fn decode(&self, p: &[u8]) -> Option<Transition> {
        if p.len() != self.payload_len() {
            return None;
        }
        let phase = Phase::from_u8(p[0])?;
        let flags = p[1];
        let step = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
        let mut seg = [0u8; 8];
        seg.copy_from_slice(&p[8..16]);
        let reward = f32::from_le_bytes([p[16], p[17], p[18], p[19]]);
        let mut off = FIXED_LEN;
        let mut floats = |n: usize| -> Vec<f32> {
            let v = p[off..off + 4 * n]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            off += 4 * n;
            v
        };
        let action = floats(self.action_dim);
        let mut obs = [Observation::default(), Observation::default()];
        for o in obs.iter_mut() {
            o.proprio = floats(self.proprio_dim);
            o.state = (self.state_dim > 0).then(|| floats(self.state_dim));
        }
        let fb = self.frame_bytes();
        if fb > 0 {
            let base = p.len() - 2 * fb;
            obs[0].frame = Some(p[base..base + fb].to_vec());
            obs[1].frame = Some(p[base + fb..].to_vec());
        }
        let [obs, next_obs] = obs;
        Some(Transition {
            obs,
            action,
            reward,
            next_obs,
            phase,
            segment: u64::from_le_bytes(seg),
            step,
            done: flags & 1 != 0,
            phase_end: flags & 2 != 0,
        })
    }
}

/// The file name of chunk `index`.
pub fn chunk_file_name(index: u64) -> String {
    format!("chunk-{index:08}.mbrc")
}

/// Parses a chunk file name back to its index.
pub fn chunk_index_of(name: &str) -> Option<u64> {
    name.strip_prefix("chunk-")?
        .strip_suffix(".mbrc")?
        .parse()
        .ok()
}

/// What reading one chunk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkScan {
    pub records: usize,
    /// Records skipped for a bad checksum or content.
    pub corrupt: usize,
    /// Bytes after the last complete record (a torn tail or damaged framing).
    pub discarded_bytes: u64,
    /// Byte length of the valid prefix of the file (header + complete records).
    pub valid_len: u64,
}

/// Reads every complete record of a chunk file in order, calling `f` for each decoded one.
pub fn read_chunk(
    path: &Path,
    spec: &ReplaySpec,
    mut f: impl FnMut(Transition) -> Result<()>,
) -> Result<ChunkScan> {
    let data = std::fs::read(path).map_err(|e| LearnError::io(path, e))?;
    let replay_err = |reason: String| LearnError::Replay {
        path: path.to_path_buf(),
        reason,
    };
    let (file_spec, _) = ReplaySpec::parse_header(&data).map_err(replay_err)?;
    if file_spec != *spec {
        return Err(replay_err(format!(
            "record layout {file_spec:?} differs from the buffer's {spec:?}"
        )));
    }
    let want = spec.payload_len();
    let mut scan = ChunkScan::default();
    let mut off = HEADER_LEN;
    loop {
        if off == data.len() {
            break;
        }
        if data.len() - off < PREFIX_LEN {
            break; // torn prefix
        }
        let len =
            u32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
        let crc = u32::from_le_bytes([data[off + 4], data[off + 5], data[off + 6], data[off + 7]]);
        if len != want {
            tracing::warn!(path = %path.display(), offset = off, len, want, "replay: damaged record framing, discarding the rest of the chunk");
            break;
        }
        if data.len() - off - PREFIX_LEN < len {
            break; // torn payload
        }
        let payload = &data[off + PREFIX_LEN..off + PREFIX_LEN + len];
        off += PREFIX_LEN + len;
        scan.valid_len = off as u64;
        match (crc32fast::hash(payload) == crc)
            .then(|| spec.decode(payload))
            .flatten()
        {
            Some(t) => {
                scan.records += 1;
                f(t)?;
            }
            None => {
                scan.corrupt += 1;
                tracing::warn!(path = %path.display(), offset = off, "replay: corrupt record skipped");
            }
        }
    }
    scan.valid_len = scan.valid_len.max(HEADER_LEN as u64);
    scan.discarded_bytes = data.len() as u64 - scan.valid_len;
    if scan.discarded_bytes > 0 {
        tracing::warn!(path = %path.display(), bytes = scan.discarded_bytes, "replay: torn tail discarded");
    }
    Ok(scan)
}

/// Appends records to chunk files of one directory, starting a new file every
/// `chunk_records` records.
/// How much of a buffer's chunk files is kept (see `ReplayConfig::disk_budget_mb`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Retention {
    /// `None`: keep every chunk.
    pub budget_bytes: Option<u64>,
    /// Chunk files always kept, the one being written included.
    pub min_chunks: usize,
    warned: bool,
}

impl Retention {
    pub fn new(budget_bytes: Option<u64>, min_chunks: usize) -> Self {
        Self {
            budget_bytes,
            min_chunks,
            warned: false,
        }
    }
}

pub struct ChunkWriter {
    dir: PathBuf,
    spec: ReplaySpec,
    fsync: FsyncPolicy,
    chunk_records: usize,
    retention: Retention,
    pruned: u64,
    next_index: u64,
    file: Option<(File, PathBuf)>,
    in_chunk: usize,
    since_sync: u32,
    buf: Vec<u8>,
}

impl ChunkWriter {
    /// A writer whose first chunk is `next_index` (nothing is created before the first append).
    pub fn new(
        dir: &Path,
        spec: ReplaySpec,
        fsync: FsyncPolicy,
        chunk_records: usize,
        next_index: u64,
        retention: Retention,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            spec,
            fsync,
            chunk_records: chunk_records.max(1),
            retention,
            pruned: 0,
            next_index,
            file: None,
            in_chunk: 0,
            since_sync: 0,
            buf: Vec::with_capacity(spec.payload_len() + PREFIX_LEN),
        }
    }

    fn open_next(&mut self) -> Result<()> {
        self.close()?;
        self.prune();
        let path = self.dir.join(chunk_file_name(self.next_index));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| LearnError::io(&path, e))?;
        file.write_all(&self.spec.header(self.next_index))
            .map_err(|e| LearnError::io(&path, e))?;
        // Make the new file's directory entry durable too.
        if self.fsync != FsyncPolicy::Never {
            file.sync_all().map_err(|e| LearnError::io(&path, e))?;
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
        }
        self.next_index += 1;
        self.in_chunk = 0;
        self.file = Some((file, path));
        Ok(())
    }

    /// Appends one record (one `write_all`), then fsyncs according to the policy.
    pub fn append(&mut self, t: &Transition) -> Result<()> {
        self.spec.check(t)?;
        if self.file.is_none() || self.in_chunk >= self.chunk_records {
            self.open_next()?;
        }
        self.buf.clear();
        self.spec.encode(t, &mut self.buf);
        let Some((file, path)) = self.file.as_mut() else {
            return Err(LearnError::Input("replay writer has no open chunk".into()));
        };
        file.write_all(&self.buf)
            .map_err(|e| LearnError::io(&*path, e))?;
        self.in_chunk += 1;
        self.since_sync += 1;
        let sync = match self.fsync {
            FsyncPolicy::Never => false,
            FsyncPolicy::Always => true,
            FsyncPolicy::EveryN(n) => self.since_sync >= n.max(1),
        };
        if sync {
            file.sync_data().map_err(|e| LearnError::io(&*path, e))?;
            self.since_sync = 0;
        }
        Ok(())
    }

    /// Flushes to disk (fsync) without closing.
    pub fn sync(&mut self) -> Result<()> {
        if let Some((file, path)) = self.file.as_mut() {
            file.sync_data().map_err(|e| LearnError::io(&*path, e))?;
            self.since_sync = 0;
        }
        Ok(())
    }

    /// Syncs and closes the current chunk (the next append starts a new one).
    pub fn close(&mut self) -> Result<()> {
        if let Some((file, path)) = self.file.take()
            && self.fsync != FsyncPolicy::Never
        {
            file.sync_all().map_err(|e| LearnError::io(&path, e))?;
        }
        Ok(())
    }

    /// Chunk files deleted by the disk budget since this writer started.
    pub fn pruned(&self) -> u64 {
        self.pruned
    }

    /// Deletes the oldest chunk files while the directory's chunks take more than the disk
    /// budget, keeping at least `min_chunks` of them (before a new chunk is started).
    fn prune(&mut self) {
        let Some(budget) = self.retention.budget_bytes else {
            return;
        };
        let mut chunks: Vec<(u64, PathBuf, u64)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let index = chunk_index_of(&e.file_name().to_string_lossy())?;
                Some((index, e.path(), e.metadata().ok()?.len()))
            })
            .collect();
        chunks.sort();
        let mut total: u64 = chunks.iter().map(|(_, _, len)| len).sum();
        // the new chunk about to start counts towards the minimum
        let keep = self.retention.min_chunks.saturating_sub(1);
        let mut n = chunks.len();
        for (_, path, len) in chunks {
            if total <= budget || n <= keep {
                break;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    total -= len;
                    n -= 1;
                    self.pruned += 1;
                    tracing::info!(path = %path.display(), "replay: oldest chunk deleted (disk budget)");
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "replay: cannot delete an old chunk: {e}");
                    break;
                }
            }
        }
        if total > budget && n <= keep && !self.retention.warned {
            self.retention.warned = true;
            tracing::warn!(
                dir = %self.dir.display(),
                budget_mb = budget as f64 / 1e6,
                used_mb = total as f64 / 1e6,
                "replay: the disk budget is smaller than the in-memory capacity's chunks; they are kept"
            );
        }
    }

    /// The path of the chunk being written, if any.
    pub fn current_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(_, p)| p.as_path())
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
