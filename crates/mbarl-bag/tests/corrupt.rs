//! Bad input: truncated and corrupt bags give errors naming the file, the offset and the topic;
//! `skip_corrupt` reads everything else and reports what it skipped; a missing topic lists the
//! bag's topics; an unknown type is named. Never a panic.

mod common;

use std::path::{Path, PathBuf};

use common::make_bag;
use mbarl_bag::{
    Bag, BagError, BagWriter, Compression, Location, QosProfile, ReadOptions, WriterOptions,
};
use mbarl_msgs::sensor_msgs::{Image, JointState};

fn mcap_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mcap"))
        .expect("an .mcap file")
}

/// (opcode, offset, length) of the top-level records of an MCAP file.
fn records(bytes: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 9 <= bytes.len() {
        let len = u64::from_le_bytes(bytes[pos + 1..pos + 9].try_into().unwrap()) as usize;
        out.push((bytes[pos], pos, len));
        pos += 9 + len;
    }
    out
}

fn read_all(dir: &Path, skip_corrupt: bool) -> (usize, Option<BagError>, Vec<String>) {
    let bag = Bag::open(dir).expect("open");
    let mut msgs = bag.messages(ReadOptions {
        skip_corrupt,
        ..Default::default()
    });
    let mut n = 0;
    let mut err = None;
    for m in msgs.by_ref() {
        match m {
            Ok(_) => n += 1,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let skipped = msgs.skipped().iter().map(|s| s.error.to_string()).collect();
    (n, err, skipped)
}

#[test]
fn truncated_mcap_names_file_offset_and_topics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    make_bag(
        &dir,
        &[
            "--storage",
            "mcap",
            "--compression",
            "storage",
            "--steps",
            "100",
        ],
    );
    let (total, err, _) = read_all(&dir, false);
    assert!(err.is_none(), "{err:?}");
    let file = mcap_file(&dir);
    let bytes = std::fs::read(&file).unwrap();
    let chunks: Vec<_> = records(&bytes)
        .into_iter()
        .filter(|r| r.0 == 0x06)
        .collect();
    assert!(chunks.len() >= 3, "{chunks:?}");
    // Cut in the middle of the second chunk.
    let (_, second, len) = chunks[1];
    std::fs::write(&file, &bytes[..second + len / 2]).unwrap();

    let (n, err, _) = read_all(&dir, false);
    let err = err.expect("an error");
    let text = err.to_string();
    assert!(
        matches!(err, BagError::Truncated { offset, .. } if offset == second as u64),
        "{text}"
    );
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains(&format!("offset {second}")), "{text}");
    assert!(
        text.contains("/camera/image_raw") && text.contains("/joint_states"),
        "{text}"
    );
    assert!(n > 0 && n < total, "{n} of {total}");

    let (m, err, skipped) = read_all(&dir, true);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(m, n, "skip_corrupt reads the complete chunks");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].contains("truncated"), "{skipped:?}");
}

#[test]
fn corrupt_chunk_is_named_and_skippable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    make_bag(
        &dir,
        &[
            "--storage",
            "mcap",
            "--compression",
            "storage",
            "--steps",
            "100",
        ],
    );
    let (total, _, _) = read_all(&dir, false);
    let file = mcap_file(&dir);
    let mut bytes = std::fs::read(&file).unwrap();
    let chunks: Vec<_> = records(&bytes)
        .into_iter()
        .filter(|r| r.0 == 0x06)
        .collect();
    let (_, second, len) = chunks[1];
    for b in &mut bytes[second + len / 2..second + len / 2 + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();

    let (n, err, _) = read_all(&dir, false);
    let err = err.expect("an error");
    let text = err.to_string();
    assert!(
        matches!(err, BagError::Corrupt { location: Location::Byte(o), .. } if o == second as u64),
        "{text}"
    );
    assert!(
        text.starts_with(&format!(
            "corrupt bag file {} at offset {second}",
            file.display()
        )),
        "{text}"
    );
    assert!(text.contains("/camera/image_raw"), "{text}");
    assert!(n < total);

    let (m, err, skipped) = read_all(&dir, true);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        m > n && m < total,
        "{m} of {total} after skipping one chunk (stopped at {n})"
    );
}

#[test]
fn crc_mismatch_in_an_mbarl_bag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    let mut w = BagWriter::create(
        &dir,
        WriterOptions {
            compression: Compression::None,
            chunk_size: 64 * 1024,
            ..Default::default()
        },
    )
    .unwrap();
    let t = w
        .add_topic::<Image>("/camera/image_raw", &[QosProfile::new(false, false, 5)])
        .unwrap();
    for i in 0..40u64 {
        let img = common::rgb8(64, i as u8);
        w.write(t, i * 1000, &img).unwrap();
    }
    w.finish().unwrap();
    let file = mcap_file(&dir);
    let mut bytes = std::fs::read(&file).unwrap();
    let chunks: Vec<_> = records(&bytes)
        .into_iter()
        .filter(|r| r.0 == 0x06)
        .collect();
    let (_, at, len) = chunks[2];
    bytes[at + len - 100] ^= 0xff; // inside an image's pixels
    std::fs::write(&file, &bytes).unwrap();
    let (_, err, _) = read_all(&dir, false);
    let text = err.expect("an error").to_string();
    assert!(
        text.contains("CRC mismatch")
            && text.contains(&format!("offset {at}"))
            && text.contains("topic /camera/image_raw"),
        "{text}"
    );
    let (m, err, skipped) = read_all(&dir, true);
    assert!(err.is_none() && skipped.len() == 1);
    assert!((30..40).contains(&m), "{m}");
}

#[test]
fn killed_writer_leaves_a_readable_bag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    let mut w = BagWriter::create(
        &dir,
        WriterOptions {
            chunk_size: 32 * 1024,
            ..Default::default()
        },
    )
    .unwrap();
    let t = w.add_topic::<JointState>("/joint_states", &[]).unwrap();
    for i in 0..500u64 {
        w.write(
            t,
            i,
            &JointState {
                position: vec![i as f64; 4],
                ..Default::default()
            },
        )
        .unwrap();
        if i == 299 {
            w.flush().unwrap();
        }
    }
    // No finish, no drop: as if the process was killed.
    std::mem::forget(w);
    let (n, err, _) = read_all(&dir, false);
    let text = err.expect("truncation reported").to_string();
    assert!(
        text.contains("truncated") && text.contains("--skip-corrupt"),
        "{text}"
    );
    assert!(n >= 300, "{n}");
    let (m, err, skipped) = read_all(&dir, true);
    assert!(err.is_none());
    assert_eq!((m, skipped.len()), (n, 1));
    let bag = Bag::open(&dir).unwrap();
    assert_eq!(
        bag.topic("/joint_states").unwrap().type_name,
        "sensor_msgs/msg/JointState"
    );
}

#[test]
fn sqlite_corrupt_rows_bad_data_and_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    make_bag(&dir, &["--storage", "sqlite3"]);
    let db = dir.join("bag.db3");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("UPDATE messages SET data = x'000100000900000061' WHERE id = 10 AND topic_id IN (SELECT id FROM topics WHERE name = '/joint_states')", []).unwrap();
        let js_row: i64 = conn.query_row("SELECT min(id) FROM messages WHERE topic_id = (SELECT id FROM topics WHERE name = '/joint_states') AND id > 20", [], |r| r.get(0)).unwrap();
        conn.execute(
            "UPDATE messages SET data = x'0001000009000000' WHERE id = ?1",
            [js_row],
        )
        .unwrap();
        conn.execute("UPDATE messages SET topic_id = 99 WHERE id = 30", [])
            .unwrap();
        let bag = Bag::open(&dir).unwrap();
        let mut decode_errors = Vec::new();
        let mut msgs = bag.messages(ReadOptions {
            skip_corrupt: true,
            topics: None,
        });
        let mut n = 0;
        for m in msgs.by_ref() {
            let m = m.unwrap();
            n += 1;
            if m.topic.name == "/joint_states"
                && let Err(e) = m.decode::<JointState>()
            {
                decode_errors.push((js_row, e.to_string()));
            }
        }
        assert_eq!(msgs.skipped().len(), 1);
        let skipped = msgs.skipped()[0].error.to_string();
        assert!(
            skipped.contains("row 30") && skipped.contains("topic id Some(99)"),
            "{skipped}"
        );
        assert_eq!(decode_errors.len(), 1, "{decode_errors:?}");
        let e = &decode_errors[0].1;
        assert!(
            e.contains("/joint_states")
                && e.contains(&format!("row {js_row}"))
                && e.contains("bag.db3"),
            "{e}"
        );
        assert_eq!(n, 40 * 5 + 2 - 1);
        let (_, err, _) = read_all(&dir, false);
        assert!(err.expect("row 30").to_string().contains("row 30"));
    }
    // A cut-off database: an error naming the file, never a panic.
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..bytes.len() / 3]).unwrap();
    let text = match Bag::open(&dir) {
        Err(e) => e.to_string(),
        Ok(bag) => {
            let (_, err, _) = read_all(bag.path(), false);
            err.expect("an error").to_string()
        }
    };
    assert!(text.contains("bag.db3"), "{text}");
}

#[test]
fn missing_topic_lists_topics_and_unknown_type_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    make_bag(&dir, &["--storage", "mcap"]);
    let bag = Bag::open(&dir).unwrap();
    let e = bag.topic("/camera/color/image_raw").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("/camera/color/image_raw")
            && text.contains("/camera/image_raw (sensor_msgs/msg/Image)")
            && text.contains("/joint_states"),
        "{text}"
    );
    let m = bag
        .messages(ReadOptions {
            topics: Some(vec!["/sim/reset_count".into()]),
            ..Default::default()
        })
        .next()
        .unwrap()
        .unwrap();
    let e = m.to_json().unwrap_err();
    assert!(
        matches!(&e, BagError::UnknownType { type_name, .. } if type_name == "std_msgs/msg/UInt64"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("unknown message type std_msgs/msg/UInt64 on topic /sim/reset_count"),
        "{e}"
    );
}

#[test]
fn not_a_bag() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("x.mcap");
    std::fs::write(&f, b"this is not an mcap file at all").unwrap();
    let (_, err, _) = read_all(&f, false);
    let text = err.unwrap().to_string();
    assert!(text.contains("x.mcap") && text.contains("magic"), "{text}");
    let e = Bag::open(tmp.path().join("nope")).unwrap_err();
    assert!(e.to_string().contains("nope"));
    std::fs::write(tmp.path().join("y.txt"), b"").unwrap();
    assert!(Bag::open(tmp.path().join("y.txt")).is_err());
    let d = tmp.path().join("bad_meta");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(
        d.join("metadata.yaml"),
        "rosbag2_bagfile_information:\n  version: 12\n",
    )
    .unwrap();
    assert!(
        Bag::open(&d)
            .unwrap_err()
            .to_string()
            .contains("version 12")
    );
}

/// Chunks large enough to be mapped in place (not read) are checked and named the same way.
#[test]
fn large_mapped_chunks_corrupt_and_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bag");
    let mut w = BagWriter::create(
        &dir,
        WriterOptions {
            compression: Compression::None,
            chunk_size: 1 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    let t = w.add_topic::<Image>("/camera/image_raw", &[]).unwrap();
    for i in 0..100u64 {
        let img = common::rgb8(128, i as u8);
        w.write(t, i * 1000, &img).unwrap();
    }
    w.finish().unwrap();
    let file = mcap_file(&dir);
    let clean = std::fs::read(&file).unwrap();
    let chunks: Vec<_> = records(&clean)
        .into_iter()
        .filter(|r| r.0 == 0x06)
        .collect();
    assert!(chunks.len() >= 4 && chunks[1].2 > 512 * 1024, "{chunks:?}");

    // A flipped pixel: CRC mismatch at the chunk's offset, skippable.
    let (_, at, len) = chunks[1];
    let mut bytes = clean.clone();
    bytes[at + len / 2] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let (_, err, _) = read_all(&dir, false);
    let text = err.expect("an error").to_string();
    assert!(
        text.contains("CRC mismatch")
            && text.contains(&format!("offset {at}"))
            && text.contains("topic /camera/image_raw"),
        "{text}"
    );
    let (m, err, skipped) = read_all(&dir, true);
    assert!(err.is_none() && skipped.len() == 1, "{err:?} {skipped:?}");
    assert!((70..100).contains(&m), "{m}");

    // Cut in the middle of the third chunk: truncated there, the chunks before it readable.
    let (_, at, len) = chunks[2];
    std::fs::write(&file, &clean[..at + len / 2]).unwrap();
    let (n, err, _) = read_all(&dir, false);
    let err = err.expect("truncation reported");
    let text = err.to_string();
    assert!(
        matches!(err, BagError::Truncated { offset, .. } if offset == at as u64),
        "{text}"
    );
    assert!(text.contains("/camera/image_raw"), "{text}");
    let (m, err, skipped) = read_all(&dir, true);
    assert!(err.is_none() && skipped.len() == 1, "{err:?} {skipped:?}");
    assert_eq!(m, n);
    assert!(n > 0 && n < 100, "{n}");
}
