//! In-memory replay buffer backed by chunk files.
//!
//! Frames are stored once as uint8 in pages; a record's observation frame shares the previous
//! record's next-observation frame when their bytes are equal (consecutive steps), so N
//! transitions of a run cost about N frames: 100k 64×64×3 frames take ~1.2 GB. Vectors are
//! f32 in flat row stores. The oldest records are evicted beyond `capacity` (files stay on disk).
//!
//! Sequences of length K are drawn only from runs of K records linked step by step: same
//! segment id and phase, step index + 1, no `done`/`phase_end` before the last — so a sequence
//! never crosses a phase switch, an episode end or a gap (a missing or discarded record).
use super::chunk::{ChunkScan, ChunkWriter, ReplaySpec, Retention, chunk_index_of, read_chunk};
use super::{Observation, Phase, Transition};
use crate::alm::{SequenceBatch, TransitionBatch};
use crate::config::ReplayConfig;
use crate::error::{LearnError, Result};
use crate::nets::ObsBatch;
use rand::Rng;
use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The buffers of a run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    Forward,
    Backward,
    Demo,
    /// Every transition (what the world model trains on).
    All,
}

impl BufferKind {
    pub fn dir_name(self) -> &'static str {
        match self {
            BufferKind::Forward => "forward",
            BufferKind::Backward => "backward",
            BufferKind::Demo => "demo",
            BufferKind::All => "all",
        }
    }

    /// `<run_dir>/replay/<kind>`.
    pub fn dir(self, run_dir: &Path) -> PathBuf {
        run_dir.join("replay").join(self.dir_name())
    }
}

/// What reopening a buffer directory found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub chunks: usize,
    pub records: usize,
    pub corrupt_records: usize,
    pub discarded_bytes: u64,
    /// Chunks skipped whole for a damaged header.
    pub unreadable_chunks: usize,
}

const PAGE_FRAMES: usize = 256;

/// uint8 frames in fixed-size pages, addressed by a monotonically increasing frame id.
struct FrameStore {
    frame_bytes: usize,
    pages: VecDeque<Vec<u8>>,
    first_id: u64,
    next_id: u64,
}

impl FrameStore {
    fn new(frame_bytes: usize) -> Self {
        Self {
            frame_bytes,
            pages: VecDeque::new(),
            first_id: 0,
            next_id: 0,
        }
    }

    fn push(&mut self, frame: &[u8]) -> u64 {
        let slot = (self.next_id - self.first_id) as usize;
        if slot / PAGE_FRAMES >= self.pages.len() {
            self.pages
                .push_back(Vec::with_capacity(PAGE_FRAMES * self.frame_bytes));
        }
        if let Some(page) = self.pages.back_mut() {
            page.extend_from_slice(frame);
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn get(&self, id: u64) -> &[u8] {
        let slot = (id - self.first_id) as usize;
        let off = (slot % PAGE_FRAMES) * self.frame_bytes;
        &self.pages[slot / PAGE_FRAMES][off..off + self.frame_bytes]
    }

    /// Drops whole pages whose frames all have ids below `id`.
    fn evict_before(&mut self, id: u64) {
        while self.pages.len() > 1 && self.first_id + PAGE_FRAMES as u64 <= id {
            self.pages.pop_front();
            self.first_id += PAGE_FRAMES as u64;
        }
    }

    fn bytes(&self) -> usize {
        self.pages.iter().map(|p| p.capacity()).sum()
    }
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    phase: Phase,
    done: bool,
    phase_end: bool,
    step: u32,
    segment: u64,
    reward: f32,
    obs_frame: u64,
    next_frame: u64,
    /// Length of the linked run of records ending here.
    chain: u32,
}

/// Fixed-width f32 rows.
struct Rows {
    width: usize,
    data: VecDeque<f32>,
}

impl Rows {
    fn new(width: usize) -> Self {
        Self {
            width,
            data: VecDeque::new(),
        }
    }
    fn push(&mut self, v: &[f32]) {
        self.data.extend(v.iter().copied());
    }
    fn pop_front(&mut self) {
        self.data.drain(..self.width);
    }
    fn copy_row(&self, i: usize, out: &mut Vec<f32>) {
        out.extend(self.data.range(i * self.width..(i + 1) * self.width));
    }
}

/// A replay buffer: in memory, optionally persisted to a directory of chunk files.
pub struct ReplayBuffer {
    spec: ReplaySpec,
    capacity: usize,
    writer: Option<ChunkWriter>,
    dir: Option<PathBuf>,
    meta: VecDeque<Meta>,
    action: Rows,
    proprio: Rows,
    next_proprio: Rows,
    state: Rows,
    next_state: Rows,
    frames: FrameStore,
    total_appended: u64,
}

impl ReplayBuffer {
    /// A buffer that lives only in memory.
    pub fn in_memory(spec: ReplaySpec, capacity: usize) -> Self {
        Self {
            spec,
            capacity: capacity.max(1),
            writer: None,
            dir: None,
            meta: VecDeque::new(),
            action: Rows::new(spec.action_dim),
            proprio: Rows::new(spec.proprio_dim),
            next_proprio: Rows::new(spec.proprio_dim),
            state: Rows::new(spec.state_dim),
            next_state: Rows::new(spec.state_dim),
            frames: FrameStore::new(spec.frame_bytes()),
            total_appended: 0,
        }
    }

    /// Opens (creating if needed) a buffer directory: reloads every complete record of its
    /// chunk files (oldest first), discards torn tails (cutting them off the newest file), and
    /// appends further records to a new chunk.
    pub fn open(
        dir: impl AsRef<Path>,
        spec: ReplaySpec,
        cfg: &ReplayConfig,
    ) -> Result<(Self, LoadReport)> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| LearnError::io(dir, e))?;
        let mut chunks: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .map_err(|e| LearnError::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                chunk_index_of(&name).map(|i| (i, e.path()))
            })
            .collect();
        chunks.sort();
        let mut buf = Self::in_memory(spec, cfg.capacity);
        let mut report = LoadReport::default();
        let last = chunks.len().saturating_sub(1);
        for (n, (_, path)) in chunks.iter().enumerate() {
            let scan: ChunkScan = match read_chunk(path, &spec, |t| buf.push_memory(&t)) {
                Ok(s) => s,
                // A newest chunk whose header never made it to disk holds no records.
                Err(LearnError::Replay { reason, .. })
                    if n == last && reason.starts_with("header truncated") =>
                {
                    tracing::warn!(path = %path.display(), "replay: empty chunk with a torn header removed");
                    let _ = std::fs::remove_file(path);
                    continue;
                }
                // Another record layout: the config changed; refuse rather than mix layouts.
                Err(LearnError::Replay { reason, .. }) if reason.starts_with("record layout") => {
                    return Err(LearnError::Replay {
                        path: path.clone(),
                        reason,
                    });
                }
                // A damaged header elsewhere: the chunk's layout can't be trusted; skip it.
                Err(LearnError::Replay { reason, .. }) => {
                    tracing::warn!(path = %path.display(), %reason, "replay: unreadable chunk skipped");
                    report.unreadable_chunks += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.chunks += 1;
            report.records += scan.records;
            report.corrupt_records += scan.corrupt;
            report.discarded_bytes += scan.discarded_bytes;
            if scan.discarded_bytes > 0 && n == last {
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| LearnError::io(path, e))?;
                f.set_len(scan.valid_len)
                    .map_err(|e| LearnError::io(path, e))?;
                f.sync_all().map_err(|e| LearnError::io(path, e))?;
            }
        }
        let next_index = chunks.last().map(|(i, _)| i + 1).unwrap_or(0);
        buf.writer = Some(ChunkWriter::new(
            dir,
            spec,
            cfg.fsync,
            cfg.chunk_records,
            next_index,
            Retention::new(cfg.disk_budget_bytes(), cfg.min_chunks()),
        ));
        buf.dir = Some(dir.to_path_buf());
        tracing::info!(dir = %dir.display(), records = report.records, chunks = report.chunks, "replay loaded");
        Ok((buf, report))
    }

    /// Opens `<run_dir>/replay/<kind>`.
    pub fn open_kind(
        run_dir: impl AsRef<Path>,
        kind: BufferKind,
        spec: ReplaySpec,
        cfg: &ReplayConfig,
    ) -> Result<(Self, LoadReport)> {
        Self::open(kind.dir(run_dir.as_ref()), spec, cfg)
    }

    pub fn spec(&self) -> ReplaySpec {
        self.spec
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Records held in memory.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Records held in memory of phase `phase`.
    pub fn count_phase(&self, phase: Phase) -> usize {
        self.meta.iter().filter(|m| m.phase == phase).count()
    }

    /// Records appended or loaded over the buffer's life (including evicted ones).
    pub fn total(&self) -> u64 {
        self.total_appended
    }

    /// Appends one transition: to disk first (when persisted), then to memory.
    pub fn append(&mut self, t: &Transition) -> Result<()> {
        self.spec.check(t)?;
        if let Some(w) = self.writer.as_mut() {
            w.append(t)?;
        }
        self.push_memory(t)
    }

    /// Chunk files deleted by the disk budget since the buffer was opened.
    pub fn pruned_chunks(&self) -> u64 {
        self.writer.as_ref().map_or(0, ChunkWriter::pruned)
    }

    /// fsyncs the current chunk.
    pub fn sync(&mut self) -> Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.sync(),
            None => Ok(()),
        }
    }

    fn push_memory(&mut self, t: &Transition) -> Result<()> {
        self.spec.check(t)?;
        let prev = self.meta.back().copied();
        let (obs_frame, next_frame) = match (&t.obs.frame, &t.next_obs.frame) {
            (Some(f0), Some(f1)) => {
                let shared = prev.filter(|p| self.frames.get(p.next_frame) == f0.as_slice());
                let o = match shared {
                    Some(p) => p.next_frame,
                    None => self.frames.push(f0),
                };
                (o, self.frames.push(f1))
            }
            _ => (0, 0),
        };
        let linked = prev.is_some_and(|p| {
            p.segment == t.segment
                && p.phase == t.phase
                && p.step.checked_add(1) == Some(t.step)
                && !p.done
                && !p.phase_end
        });
        let chain = if linked {
            prev.map(|p| p.chain.saturating_add(1)).unwrap_or(1)
        } else {
            1
        };
        self.meta.push_back(Meta {
            phase: t.phase,
            done: t.done,
            phase_end: t.phase_end,
            step: t.step,
            segment: t.segment,
            reward: t.reward,
            obs_frame,
            next_frame,
            chain,
        });
        self.action.push(&t.action);
        self.proprio.push(&t.obs.proprio);
        self.next_proprio.push(&t.next_obs.proprio);
        if self.spec.state_dim > 0 {
            self.state.push(t.obs.state.as_deref().unwrap_or(&[]));
            self.next_state
                .push(t.next_obs.state.as_deref().unwrap_or(&[]));
        }
        self.total_appended += 1;
        while self.meta.len() > self.capacity {
            self.meta.pop_front();
            self.action.pop_front();
            self.proprio.pop_front();
            self.next_proprio.pop_front();
            if self.spec.state_dim > 0 {
                self.state.pop_front();
                self.next_state.pop_front();
            }
            if let Some(front) = self.meta.front() {
                self.frames.evict_before(front.obs_frame);
            }
        }
        Ok(())
    }

    /// A copy of record `i` (0 = oldest in memory).
    pub fn get(&self, i: usize) -> Option<Transition> {
        let m = *self.meta.get(i)?;
        let obs = self.observation(i, false);
        let next_obs = self.observation(i, true);
        let mut action = Vec::new();
        self.action.copy_row(i, &mut action);
        Some(Transition {
            obs,
            action,
            reward: m.reward,
            next_obs,
            phase: m.phase,
            segment: m.segment,
            step: m.step,
            done: m.done,
            phase_end: m.phase_end,
        })
    }

    fn observation(&self, i: usize, next: bool) -> Observation {
        let m = self.meta[i];
        let mut proprio = Vec::new();
        (if next {
            &self.next_proprio
        } else {
            &self.proprio
        })
        .copy_row(i, &mut proprio);
        let state = (self.spec.state_dim > 0).then(|| {
            let mut s = Vec::new();
            (if next { &self.next_state } else { &self.state }).copy_row(i, &mut s);
            s
        });
        let frame = self.spec.frame.map(|_| {
            self.frames
                .get(if next { m.next_frame } else { m.obs_frame })
                .to_vec()
        });
        Observation {
            frame,
            proprio,
            state,
        }
    }

    /// Approximate heap bytes held (frames + vectors + metadata).
    pub fn memory_bytes(&self) -> usize {
        let rows = [
            &self.action,
            &self.proprio,
            &self.next_proprio,
            &self.state,
            &self.next_state,
        ]
        .iter()
        .map(|r| r.data.capacity() * 4)
        .sum::<usize>();
        self.frames.bytes() + rows + self.meta.capacity() * std::mem::size_of::<Meta>()
    }

    /// `n` transitions sampled uniformly (with replacement).
    pub fn sample<R: Rng>(&self, n: usize, rng: &mut R) -> Result<TransitionBatch> {
        if self.meta.is_empty() {
            return Err(LearnError::NotEnoughData("replay buffer is empty".into()));
        }
        let idx: Vec<usize> = (0..n).map(|_| rng.gen_range(0..self.meta.len())).collect();
        let n = n as i64;
        let obs = self.gather_obs(&idx.iter().map(|&i| (i, false)).collect::<Vec<_>>(), &[n]);
        let next_obs = self.gather_obs(&idx.iter().map(|&i| (i, true)).collect::<Vec<_>>(), &[n]);
        let mut action = Vec::with_capacity(idx.len() * self.spec.action_dim);
        for &i in &idx {
            self.action.copy_row(i, &mut action);
        }
        let reward: Vec<f32> = idx.iter().map(|&i| self.meta[i].reward).collect();
        let done: Vec<f32> = idx
            .iter()
            .map(|&i| self.meta[i].done as u8 as f32)
            .collect();
        Ok(TransitionBatch {
            obs,
            action: Tensor::from_slice(&action).reshape([n, self.spec.action_dim as i64]),
            reward: Tensor::from_slice(&reward),
            next_obs,
            done: Tensor::from_slice(&done),
        })
    }

    /// Whether a length-`k` sequence starts at record `i` (never crossing a phase switch,
    /// an episode end or a gap).
    pub fn is_valid_sequence_start(&self, i: usize, k: usize) -> bool {
        k >= 1 && i + k <= self.meta.len() && self.meta[i + k - 1].chain as usize >= k
    }

    /// `n` length-`k` sequences (time-major, see [`SequenceBatch`]) with uniformly drawn valid
    /// starts.
    pub fn sample_sequences<R: Rng>(
        &self,
        n: usize,
        k: usize,
        rng: &mut R,
    ) -> Result<SequenceBatch> {
        let len = self.meta.len();
        if k == 0 || len < k {
            return Err(LearnError::NotEnoughData(format!(
                "{len} records, sequences of {k} asked"
            )));
        }
        let mut starts = Vec::with_capacity(n);
        let mut tries = 0usize;
        while starts.len() < n && tries < 64 * n.max(1) {
            let i = rng.gen_range(0..=len - k);
            if self.is_valid_sequence_start(i, k) {
                starts.push(i);
            }
            tries += 1;
        }
        if starts.len() < n {
            // Few valid starts: draw from the explicit list.
            let valid: Vec<usize> = (0..=len - k)
                .filter(|&i| self.is_valid_sequence_start(i, k))
                .collect();
            if valid.is_empty() {
                return Err(LearnError::NotEnoughData(format!(
                    "no run of {k} linked records"
                )));
            }
            while starts.len() < n {
                starts.push(valid[rng.gen_range(0..valid.len())]);
            }
        }
        let (k_, n_) = (k as i64, n as i64);
        // obs: (k+1, n): record start+t's obs for t < k, and the last record's next obs.
        let mut slots = Vec::with_capacity((k + 1) * n);
        for t in 0..=k {
            for &s in &starts {
                slots.push(if t < k {
                    (s + t, false)
                } else {
                    (s + k - 1, true)
                });
            }
        }
        let obs = self.gather_obs(&slots, &[k_ + 1, n_]);
        let mut action = Vec::with_capacity(k * n * self.spec.action_dim);
        let mut reward = Vec::with_capacity(k * n);
        let mut done = Vec::with_capacity(k * n);
        for t in 0..k {
            for &s in &starts {
                self.action.copy_row(s + t, &mut action);
                let m = &self.meta[s + t];
                reward.push(m.reward);
                done.push(m.done as u8 as f32);
            }
        }
        Ok(SequenceBatch {
            obs,
            actions: Tensor::from_slice(&action).reshape([k_, n_, self.spec.action_dim as i64]),
            rewards: Tensor::from_slice(&reward).reshape([k_, n_]),
            dones: Tensor::from_slice(&done).reshape([k_, n_]),
        })
    }

    /// Observations of (record, next?) slots as tensors with leading shape `lead`.
    fn gather_obs(&self, slots: &[(usize, bool)], lead: &[i64]) -> ObsBatch {
        let s = &self.spec;
        let shape = |tail: &[i64]| -> Vec<i64> { lead.iter().chain(tail).copied().collect() };
        let mut out = ObsBatch::default();
        if s.proprio_dim > 0 {
            let mut v = Vec::with_capacity(slots.len() * s.proprio_dim);
            for &(i, next) in slots {
                (if next {
                    &self.next_proprio
                } else {
                    &self.proprio
                })
                .copy_row(i, &mut v);
            }
            out.proprio = Some(Tensor::from_slice(&v).reshape(shape(&[s.proprio_dim as i64])));
        }
        if s.state_dim > 0 {
            let mut v = Vec::with_capacity(slots.len() * s.state_dim);
            for &(i, next) in slots {
                (if next { &self.next_state } else { &self.state }).copy_row(i, &mut v);
            }
            out.state = Some(Tensor::from_slice(&v).reshape(shape(&[s.state_dim as i64])));
        }
        if let Some((h, w)) = s.frame {
            let mut v = Vec::with_capacity(slots.len() * s.frame_bytes());
            for &(i, next) in slots {
                let m = &self.meta[i];
                v.extend_from_slice(
                    self.frames
                        .get(if next { m.next_frame } else { m.obs_frame }),
                );
            }
            out.frames = Some(
                Tensor::from_slice(&v)
                    .reshape(shape(&[h as i64, w as i64, 3]))
                    .to_kind(Kind::Uint8),
            );
        }
        out
    }
}
