//! Replay: reload after restart, torn tails and corrupt records, sequence sampling that never
//! crosses a phase switch or a gap, and the memory bound for 100k 64×64 frames.
mod common;

use mbarl_learn::config::{FsyncPolicy, ReplayConfig};
use mbarl_learn::replay::chunk::{HEADER_LEN, chunk_file_name};
use mbarl_learn::replay::{BufferKind, Observation, Phase, ReplayBuffer, ReplaySpec, Transition};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Instant;

const SPEC: ReplaySpec = ReplaySpec {
    frame: Some((8, 8)),
    proprio_dim: 3,
    state_dim: 2,
    action_dim: 2,
};

/// Transition i of segment `seg`: proprio = [segment, step, phase], frames filled with a
/// step-dependent byte so consecutive steps share frames (obs of step s+1 = next obs of s).
fn transition(seg: u64, step: u32, phase: Phase, done: bool, phase_end: bool) -> Transition {
    let o = |s: u32| Observation {
        frame: Some(vec![(s.wrapping_mul(7) % 251) as u8; 8 * 8 * 3]),
        proprio: vec![seg as f32, s as f32, phase as u8 as f32],
        state: Some(vec![s as f32 * 0.5, -(s as f32)]),
    };
    Transition {
        obs: o(step),
        action: vec![step as f32 * 0.1, seg as f32],
        reward: -(step as f32),
        next_obs: o(step + 1),
        phase,
        segment: seg,
        step,
        done,
        phase_end,
    }
}

fn cfg(chunk_records: usize) -> ReplayConfig {
    ReplayConfig {
        capacity: 100_000,
        chunk_records,
        fsync: FsyncPolicy::EveryN(10),
        disk_budget_mb: 0.0,
    }
}

#[test]
fn the_disk_budget_deletes_the_oldest_chunks_and_keeps_what_a_restart_reloads() {
    let run = tempfile::tempdir().unwrap();
    let dir = BufferKind::Backward.dir(run.path());
    let rec = 8 + SPEC.payload_len() as u64;
    // chunks of 10 records; room for about 4 chunks; 25 records in memory (3 chunks + 1)
    let budget = ReplayConfig {
        capacity: 25,
        chunk_records: 10,
        fsync: FsyncPolicy::Never,
        disk_budget_mb: (4 * (HEADER_LEN as u64 + 10 * rec)) as f64 / 1e6,
    };
    let chunks = |dir: &Path| {
        let mut v: Vec<u64> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                mbarl_learn::replay::chunk::chunk_index_of(
                    &e.unwrap().file_name().to_string_lossy(),
                )
            })
            .collect();
        v.sort();
        v
    };
    {
        let (mut buf, _) = ReplayBuffer::open(&dir, SPEC, &budget).unwrap();
        for s in 0..200 {
            buf.append(&transition(1, s, Phase::Forward, false, false))
                .unwrap();
        }
        // 20 chunks written; the oldest deleted as new ones started
        assert_eq!(chunks(&dir), vec![15, 16, 17, 18, 19]);
        assert_eq!(buf.pruned_chunks(), 15);
        assert_eq!(buf.total(), 200);
    }
    // a restart reloads the newest records, at least `capacity` of them
    let (buf, report) = ReplayBuffer::open(&dir, SPEC, &budget).unwrap();
    assert_eq!(report.records, 50);
    assert_eq!(buf.len(), 25);
    assert_eq!(
        buf.get(24).unwrap(),
        transition(1, 199, Phase::Forward, false, false)
    );
    drop(buf);

    // a budget smaller than the in-memory window keeps the window's chunks (and warns)
    let tiny = ReplayConfig {
        disk_budget_mb: 1e-6,
        ..budget.clone()
    };
    let dir = BufferKind::Forward.dir(run.path());
    let (mut buf, _) = ReplayBuffer::open(&dir, SPEC, &tiny).unwrap();
    for s in 0..100 {
        buf.append(&transition(2, s, Phase::Forward, false, false))
            .unwrap();
    }
    assert_eq!(
        chunks(&dir),
        vec![6, 7, 8, 9],
        "3 chunks hold the newest 25 records, + the open one"
    );
    drop(buf);
    let (_, report) = ReplayBuffer::open(&dir, SPEC, &tiny).unwrap();
    assert!(report.records >= 25, "{report:?}");
}

fn chunk(dir: &Path, i: u64) -> std::path::PathBuf {
    dir.join(chunk_file_name(i))
}

#[test]
fn reload_keeps_every_record_and_discards_a_torn_tail() {
    let t0 = Instant::now();
    let run = tempfile::tempdir().unwrap();
    let dir = BufferKind::Forward.dir(run.path());
    let originals: Vec<Transition> = (0..50)
        .map(|s| transition(1, s, Phase::Forward, false, s == 49))
        .collect();
    {
        let (mut buf, report) = ReplayBuffer::open(&dir, SPEC, &cfg(1000)).unwrap();
        assert_eq!(report.records, 0);
        for t in &originals {
            buf.append(t).unwrap();
        }
    } // dropped: like a node shutting down
    // Restart: every record comes back, identical.
    let (buf, report) = ReplayBuffer::open(&dir, SPEC, &cfg(1000)).unwrap();
    assert_eq!((report.records, report.discarded_bytes), (50, 0));
    for (i, t) in originals.iter().enumerate() {
        assert_eq!(&buf.get(i).unwrap(), t, "record {i}");
    }
    drop(buf);

    // The process died mid-write of record 50: cut the file inside the last record's payload,
    // then inside its 8-byte length/CRC prefix. Both times the 49 complete records reload.
    let path = chunk(&dir, 0);
    let full = std::fs::metadata(&path).unwrap().len();
    let rec = 8 + SPEC.payload_len() as u64;
    assert_eq!(full, HEADER_LEN as u64 + 50 * rec);
    for cut in [full - rec / 2, full - rec + 3] {
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let (buf, report) = ReplayBuffer::open(&dir, SPEC, &cfg(1000)).unwrap();
        assert_eq!(report.records, 49, "cut at {cut}");
        assert!(report.discarded_bytes > 0);
        for (i, t) in originals[..49].iter().enumerate() {
            assert_eq!(&buf.get(i).unwrap(), t, "record {i}");
        }
        // Reopening cut the torn tail off the file.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full - rec);
        // Restore for the next cut.
        drop(buf);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - rec).unwrap();
    }

    // Appending after a restart goes to a new chunk; everything reloads in order.
    {
        let (mut buf, _) = ReplayBuffer::open(&dir, SPEC, &cfg(1000)).unwrap();
        for s in 0..5 {
            buf.append(&transition(2, s, Phase::Backward, false, false))
                .unwrap();
        }
    }
    assert!(chunk(&dir, 1).exists());
    let (buf, report) = ReplayBuffer::open(&dir, SPEC, &cfg(1000)).unwrap();
    assert_eq!((report.records, report.chunks), (54, 2));
    assert_eq!(
        buf.get(53).unwrap(),
        transition(2, 4, Phase::Backward, false, false)
    );
    common::elapsed("replay_reload", t0);
}

#[test]
fn corrupt_records_are_skipped_and_the_rest_kept() {
    let run = tempfile::tempdir().unwrap();
    let dir = run.path().join("b");
    {
        // 10 records per chunk: 25 records make chunks 0, 1, 2.
        let (mut buf, _) = ReplayBuffer::open(&dir, SPEC, &cfg(10)).unwrap();
        for s in 0..25 {
            buf.append(&transition(3, s, Phase::Forward, false, false))
                .unwrap();
        }
    }
    // Flip one payload byte of record 4 of chunk 1 (record 14 overall).
    let path = chunk(&dir, 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let rec = 8 + SPEC.payload_len();
    bytes[HEADER_LEN + 4 * rec + 8 + 30] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (buf, report) = ReplayBuffer::open(&dir, SPEC, &cfg(10)).unwrap();
    assert_eq!((report.records, report.corrupt_records), (24, 1));
    let steps: Vec<u32> = (0..buf.len()).map(|i| buf.get(i).unwrap().step).collect();
    assert_eq!(steps, (0..25).filter(|&s| s != 14).collect::<Vec<_>>());
    // The gap left by the corrupt record breaks sequences: none of length 2 spans steps 13..15.
    for i in 0..buf.len() - 1 {
        if buf.get(i).unwrap().step == 13 {
            assert!(!buf.is_valid_sequence_start(i, 2));
        }
    }
    // A chunk whose header is damaged is skipped whole (its layout can't be trusted); the
    // others load.
    let mut h = std::fs::read(chunk(&dir, 0)).unwrap();
    h[9] ^= 0x10;
    std::fs::write(chunk(&dir, 0), &h).unwrap();
    let (buf, report) = ReplayBuffer::open(&dir, SPEC, &cfg(10)).unwrap();
    assert_eq!(
        (report.unreadable_chunks, report.records, buf.len()),
        (1, 14, 14)
    );
    // A chunk from another layout is refused with a clear error.
    let other = ReplaySpec {
        action_dim: 3,
        ..SPEC
    };
    let err = ReplayBuffer::open(&dir, other, &cfg(10))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("layout"), "{err}");
}

#[test]
fn sequences_never_cross_phase_switches_or_gaps() {
    let mut buf = ReplayBuffer::in_memory(SPEC, 10_000);
    let mut seg = 0;
    // Segments alternating forward/backward with varying lengths; some end in done, some in
    // phase_end; one has a gap (a missing step); one switches phase without a flag.
    for (len, phase, end_done) in [
        (12, Phase::Forward, false),
        (7, Phase::Backward, true),
        (3, Phase::Forward, false),
        (20, Phase::Backward, false),
    ] {
        seg += 1;
        for s in 0..len {
            if seg == 4 && s == 9 {
                continue; // gap
            }
            let last = s + 1 == len;
            buf.append(&transition(
                seg,
                s,
                phase,
                last && end_done,
                last && !end_done,
            ))
            .unwrap();
        }
    }
    // Same segment id continues with a different phase: a phase switch without a flag.
    for s in 20..26 {
        buf.append(&transition(seg, s, Phase::Forward, false, false))
            .unwrap();
    }
    // records per phase: 12 + 3 + 6 forward, 7 + 19 backward (one step of the gap missing)
    assert_eq!(buf.count_phase(Phase::Forward), 21);
    assert_eq!(buf.count_phase(Phase::Backward), 26);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let k = 4;
    let batch = buf.sample_sequences(3000, k, &mut rng).unwrap();
    let proprio = batch.obs.proprio.as_ref().unwrap(); // (k+1, B, 3) = [segment, step, phase]
    let p: Vec<f32> = Vec::try_from(proprio.flatten(0, -1)).unwrap();
    let dones: Vec<f32> = Vec::try_from(batch.dones.flatten(0, -1)).unwrap();
    let b = 3000;
    let at = |t: usize, i: usize, f: usize| p[(t * b + i) * 3 + f];
    for i in 0..b {
        for t in 1..=k {
            assert_eq!(at(t, i, 0), at(0, i, 0), "sequence {i} crosses segments");
            assert_eq!(
                at(t, i, 2),
                at(0, i, 2),
                "sequence {i} crosses a phase switch"
            );
            assert_eq!(
                at(t, i, 1),
                at(t - 1, i, 1) + 1.0,
                "sequence {i} crosses a gap"
            );
        }
        for t in 0..k - 1 {
            assert_eq!(dones[t * b + i], 0.0, "sequence {i} continues past done");
        }
    }
    // Every valid start gets drawn, and only those: runs of 12 and 7 give 9 and 4 starts, the
    // run of 3 none, the gap splits the 20 steps into runs of 9 (steps 0-8) and 10 (10-19),
    // 6 + 7, and the 6 steps after the unflagged phase switch give 3: 29 distinct starts.
    let mut starts: Vec<(i64, i64, i64)> = (0..b)
        .map(|i| (at(0, i, 0) as i64, at(0, i, 1) as i64, at(0, i, 2) as i64))
        .collect();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 29);
    // Uniform transitions come from anywhere, frames as uint8.
    let tb = buf.sample(64, &mut rng).unwrap();
    assert_eq!(tb.obs.frames.as_ref().unwrap().kind(), tch::Kind::Uint8);
    assert_eq!(tb.obs.frames.as_ref().unwrap().size(), [64, 8, 8, 3]);
    assert_eq!(
        batch.obs.frames.as_ref().unwrap().size(),
        [k as i64 + 1, 3000, 8, 8, 3]
    );
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|x| x.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

#[test]
fn hundred_thousand_64x64_frames_fit_in_under_2_gb() {
    let t0 = Instant::now();
    let spec = ReplaySpec {
        frame: Some((64, 64)),
        proprio_dim: 14,
        state_dim: 0,
        action_dim: 7,
    };
    let rss0 = rss_bytes();
    let mut buf = ReplayBuffer::in_memory(spec, 100_000);
    let frame = |i: u32| -> Vec<u8> {
        let mut f = vec![0u8; 64 * 64 * 3];
        f[..4].copy_from_slice(&i.to_le_bytes());
        f
    };
    // 100k transitions in episodes of 300 steps: each record has its own obs frame (100k
    // frames), the next frames are shared with the following record except at episode ends.
    let mut next = frame(0);
    for i in 0..100_000u32 {
        let step = i % 300;
        let obs = if step == 0 { frame(i) } else { next.clone() };
        next = frame(i + 1);
        buf.append(&Transition {
            obs: Observation {
                frame: Some(obs),
                proprio: vec![0.5; 14],
                state: None,
            },
            action: vec![0.1; 7],
            reward: 0.0,
            next_obs: Observation {
                frame: Some(next.clone()),
                proprio: vec![0.5; 14],
                state: None,
            },
            phase: Phase::Forward,
            segment: (i / 300) as u64,
            step,
            done: false,
            phase_end: step == 299,
        })
        .unwrap();
    }
    let accounted = buf.memory_bytes() as f64 / 1e9;
    let rss = (rss_bytes().saturating_sub(rss0)) as f64 / 1e9;
    eprintln!("100k 64x64 transitions: {accounted:.2} GB accounted, RSS +{rss:.2} GB");
    // Bound: under 2 GB, both as accounted by the buffer and as resident memory growth.
    // (1.23 GB is the raw size of 100k frames; f32 proprio/actions add ~0.014 GB.)
    assert!(accounted < 2.0, "{accounted} GB");
    assert!(rss < 2.0, "RSS grew {rss} GB");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s = buf.sample_sequences(128, 3, &mut rng).unwrap();
    assert_eq!(s.obs.frames.unwrap().size(), [4, 128, 64, 64, 3]);
    common::elapsed("replay_memory", t0);
}
