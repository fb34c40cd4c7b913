//! Property-based fuzzing of the bag reader (issue 8, fuzzing): mutated MCAP files, mutated
//! metadata.yaml, and sqlite3 bags with arbitrary rows give messages or errors, never a panic,
//! and reading always ends.
//!
//! Every case opens the bag, lists its topics, reads every message (stopping at the first
//! error, and again with `skip_corrupt`), and decodes each message to JSON. Bags are written
//! in-process (BagWriter, rusqlite): no Python needed. `PROPTEST_CASES` scales the cases:
//! `PROPTEST_CASES=5000 cargo test -p mbarl-bag --test fuzz_bag --release`.

use std::path::{Path, PathBuf};

use mbarl_bag::{Bag, BagWriter, Compression, QosProfile, ReadOptions, WriterOptions};
use mbarl_msgs::sensor_msgs::{Image, JointState};
use mbarl_msgs::std_msgs::{Header, String as RosString};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A small MCAP bag directory: joint states, images and strings, several chunks.
fn write_bag(dir: &Path, compression: Compression) -> PathBuf {
    let mut w = BagWriter::create(
        dir,
        WriterOptions {
            compression,
            chunk_size: 2048,
            ..Default::default()
        },
    )
    .unwrap();
    let js = w
        .add_topic::<JointState>("/joint_states", &[QosProfile::new(false, false, 10)])
        .unwrap();
    let img = w
        .add_topic::<Image>("/camera/image_raw", &[QosProfile::new(true, true, 1)])
        .unwrap();
    let text = w.add_topic::<RosString>("/note", &[]).unwrap();
    for i in 0..24u64 {
        w.write(
            js,
            i * 1000,
            &JointState {
                header: Header {
                    frame_id: "base".into(),
                    ..Default::default()
                },
                name: vec!["joint1".into(), "joint2".into()],
                position: vec![i as f64 * 0.1, -0.5],
                ..Default::default()
            },
        )
        .unwrap();
        if i % 4 == 0 {
            w.write(
                img,
                i * 1000 + 1,
                &Image {
                    width: 8,
                    height: 8,
                    step: 24,
                    encoding: "rgb8".into(),
                    data: vec![i as u8; 8 * 8 * 3],
                    ..Default::default()
                },
            )
            .unwrap();
        }
        if i % 6 == 0 {
            w.write(
                text,
                i * 1000 + 2,
                &RosString {
                    data: format!("step {i}"),
                },
            )
            .unwrap();
        }
    }
    w.finish().unwrap();
    dir.to_path_buf()
}

fn mcap_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mcap"))
        .expect("an .mcap file")
}

/// Opens and reads everything; Ok(number of messages) or the first error, as text. Panics
/// propagate (they fail the case). Reading must end: more items than bytes means a loop.
fn read_everything(path: &Path) -> Result<usize, TestCaseError> {
    let Ok(bag) = Bag::open(path) else {
        return Ok(0);
    };
    let _ = bag.topics().len();
    let _ = bag.topic("/joint_states");
    let limit = 100_000;
    let mut total = 0;
    for skip_corrupt in [false, true] {
        let mut n = 0;
        let mut messages = bag.messages(ReadOptions {
            skip_corrupt,
            ..Default::default()
        });
        for m in messages.by_ref() {
            n += 1;
            prop_assert!(n < limit, "reading does not end");
            match m {
                Ok(m) => {
                    let _ = m.to_json();
                    let _ = m.header_stamp();
                    let _ = m.decode::<JointState>();
                }
                Err(e) => {
                    let _ = e.to_string();
                    if !skip_corrupt {
                        break;
                    }
                }
            }
        }
        let _ = messages.skipped().len();
        total += n;
    }
    Ok(total)
}

#[derive(Debug, Clone)]
enum Mutation {
    Overwrite {
        at: usize,
        bytes: Vec<u8>,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    /// A record's 8-byte length (MCAP frames records as opcode, u64 length, body).
    RecordLength {
        record: usize,
        value: u64,
    },
    /// A record's opcode.
    Opcode {
        record: usize,
        value: u8,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        4 => (at.clone(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, bytes)| Mutation::Overwrite { at: i.index(1 << 30), bytes }),
        1 => (at.clone(), prop::collection::vec(any::<u8>(), 1..32)).prop_map(|(i, bytes)| Mutation::Insert { at: i.index(1 << 30), bytes }),
        1 => (at.clone(), 1usize..64).prop_map(|(i, len)| Mutation::Delete { at: i.index(1 << 30), len }),
        1 => at.clone().prop_map(|i| Mutation::Truncate { at: i.index(1 << 30) }),
        3 => (at.clone(), prop_oneof![
                Just(u64::MAX), Just(u64::MAX / 2), Just(1u64 << 31), Just((1u64 << 31) - 1),
                Just(0u64), Just(1u64), 0u64..4096, any::<u64>(),
            ]).prop_map(|(i, value)| Mutation::RecordLength { record: i.index(1 << 30), value }),
        1 => (at, any::<u8>()).prop_map(|(i, value)| Mutation::Opcode { record: i.index(1 << 30), value }),
    ]
}

/// Offsets of the top-level records of an MCAP file.
fn records(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 9 <= bytes.len() {
        out.push(pos);
        let len = u64::from_le_bytes(bytes[pos + 1..pos + 9].try_into().unwrap_or([0xff; 8]));
        match usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(pos + 9))
        {
            Some(next) => pos = next,
            None => break,
        }
    }
    out
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match m {
        Mutation::Overwrite { at, bytes: b } => {
            let at = at % n;
            for (i, v) in b.iter().enumerate() {
                if let Some(x) = bytes.get_mut(at + i) {
                    *x = *v;
                }
            }
        }
        Mutation::Insert { at, bytes: b } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let at = at % n;
            let end = (at + len).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % n),
        Mutation::RecordLength { record, value } => {
            let recs = records(bytes);
            if !recs.is_empty() {
                let at = recs[record % recs.len()] + 1;
                bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
        }
        Mutation::Opcode { record, value } => {
            let recs = records(bytes);
            if !recs.is_empty() {
                bytes[recs[record % recs.len()]] = *value;
            }
        }
    }
}

#[test]
fn mutated_mcap_files_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let originals: Vec<Vec<u8>> = [Compression::None, Compression::Zstd, Compression::Lz4]
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let dir = write_bag(&tmp.path().join(format!("bag{i}")), c);
            let file = mcap_file(&dir);
            // The unmutated bag reads completely.
            assert!(read_everything(&dir).unwrap() > 0);
            std::fs::read(file).unwrap()
        })
        .collect();
    let case_dir = tmp.path().join("case");
    std::fs::create_dir(&case_dir).unwrap();
    let target = case_dir.join("fuzz.mcap");
    runner(300)
        .run(
            &(0..originals.len(), prop::collection::vec(mutation(), 1..6)),
            |(which, mutations)| {
                let mut bytes = originals[which].clone();
                for m in &mutations {
                    apply(&mut bytes, m);
                }
                std::fs::write(&target, &bytes).unwrap();
                read_everything(&target).map(|_| ())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn mutated_metadata_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_bag(&tmp.path().join("bag"), Compression::Zstd);
    let original = std::fs::read_to_string(dir.join("metadata.yaml")).unwrap();
    let lines: Vec<String> = original.lines().map(String::from).collect();
    // Line-level edits keep the YAML mostly well-formed, so they reach the metadata checks;
    // byte-level edits exercise the YAML parser.
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), "[ -~]{0,30}").prop_map(|(i, s)| (0u8, i, s)),
        (any::<prop::sample::Index>(), Just(String::new())).prop_map(|(i, s)| (1u8, i, s)),
        (any::<prop::sample::Index>(), "[0-9a-z:_ ./\\[\\]{}-]{0,12}")
            .prop_map(|(i, s)| (2u8, i, s)),
        (
            any::<prop::sample::Index>(),
            prop_oneof![
                Just("-1".to_string()),
                Just("18446744073709551616".to_string()),
                Just("9".to_string()),
                Just("null".to_string()),
                Just("[]".to_string()),
                Just("*anchor".to_string()),
                Just("mcap".to_string()),
                Just("sqlite3".to_string()),
                Just("../../etc/passwd".to_string()),
                Just("message".to_string()),
            ]
        )
            .prop_map(|(i, s)| (3u8, i, s)),
    ];
    runner(300)
        .run(&prop::collection::vec(edit, 1..6), |edits| {
            let mut lines = lines.clone();
            for (kind, at, text) in edits {
                let i = at.index(lines.len());
                match kind {
                    0 => lines[i] = text,
                    1 => {
                        lines.remove(i);
                        if lines.is_empty() {
                            lines.push(String::new());
                        }
                    }
                    2 => {
                        let line = &lines[i];
                        let cut = line
                            .char_indices()
                            .map(|(c, _)| c)
                            .nth(at.index(line.len() + 1))
                            .unwrap_or(line.len());
                        lines[i] = format!("{}{text}", &line[..cut]);
                    }
                    _ => {
                        // Replace the value after the key on this line.
                        let line = &lines[i];
                        lines[i] = match line.find(": ") {
                            Some(p) => format!("{}: {text}", &line[..p]),
                            None => format!("{line} {text}"),
                        };
                    }
                }
            }
            std::fs::write(dir.join("metadata.yaml"), lines.join("\n")).unwrap();
            read_everything(&dir).map(|_| ())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// One row of a fuzzed sqlite3 bag: (topic id, timestamp, data or NULL).
type Row = (i64, i64, Option<Vec<u8>>);

fn write_sqlite(path: &Path, topics: &[(i64, String, String, Option<String>)], rows: &[Row]) {
    let _ = std::fs::remove_file(path);
    let mut conn = rusqlite::Connection::open(path).unwrap();
    // No fsync per row: hundreds of cases must not wait for the disk.
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY;")
        .unwrap();
    let conn = conn.transaction().unwrap();
    conn.execute_batch(
        "CREATE TABLE topics (id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, \
         serialization_format TEXT NOT NULL, offered_qos_profiles TEXT);
         CREATE TABLE messages (id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, \
         timestamp INTEGER NOT NULL, data BLOB);
         CREATE INDEX timestamp_idx ON messages (timestamp ASC);",
    )
    .unwrap();
    for (id, name, ty, qos) in topics {
        conn.execute(
            "INSERT OR REPLACE INTO topics VALUES (?1, ?2, ?3, 'cdr', ?4)",
            rusqlite::params![id, name, ty, qos],
        )
        .unwrap();
    }
    for (topic, stamp, data) in rows {
        conn.execute(
            "INSERT INTO messages (topic_id, timestamp, data) VALUES (?1, ?2, ?3)",
            rusqlite::params![topic, stamp, data],
        )
        .unwrap();
    }
    conn.commit().unwrap();
}

#[test]
fn sqlite_bags_with_arbitrary_rows_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("fuzz.db3");
    let valid_js = mbarl_msgs::cdr::encode(&JointState {
        name: vec!["a".into()],
        position: vec![1.0],
        ..Default::default()
    });
    let type_name = prop_oneof![
        Just("sensor_msgs/msg/JointState".to_string()),
        Just("sensor_msgs/JointState".to_string()),
        Just("std_msgs/msg/String".to_string()),
        Just("sensor_msgs/msg/Image".to_string()),
        Just("mbarl_msgs/msg/Transition".to_string()),
        "[a-z_/]{0,30}",
    ];
    let qos = prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some(
            "- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2\n".to_string()
        )),
        "[ -~\n]{0,80}".prop_map(Some),
    ];
    let topic = (0i64..4, "/[a-z_]{0,10}", type_name, qos);
    let data = prop_oneof![
        Just(None),
        Just(Some(valid_js.clone())),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Some),
        (
            prop::collection::vec(any::<u8>(), 1..4),
            any::<prop::sample::Index>()
        )
            .prop_map(move |(noise, at)| {
                let mut d = valid_js.clone();
                let i = at.index(d.len());
                d[i] = noise[0];
                Some(d)
            }),
    ];
    let row = (-1i64..5, any::<i64>(), data);
    runner(200)
        .run(
            &(
                prop::collection::vec(topic, 0..4),
                prop::collection::vec(row, 0..30),
            ),
            |(topics, rows)| {
                write_sqlite(&db, &topics, &rows);
                read_everything(&db).map(|_| ())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
}
