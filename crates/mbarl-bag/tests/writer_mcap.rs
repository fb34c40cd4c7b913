//! The MCAP files BagWriter writes, checked with the `mcap` crate's reader (independent of
//! mbarl's): every message in order, chunk CRCs, message indexes, chunk indexes, statistics,
//! the metadata record and the summary CRC, for each chunk compression, written directly and
//! from the writer's own thread.

mod common;

use mbarl_bag::{BagWriter, Compression, WriterOptions};
use mbarl_msgs::sensor_msgs::{Image, JointState};

#[test]
fn written_files_read_back_with_the_mcap_crate() {
    let cases = [Compression::None, Compression::Zstd, Compression::Lz4]
        .into_iter()
        .flat_map(|c| [(c, false), (c, true)]);
    for (compression, io_thread) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bag");
        let mut w = BagWriter::create(
            &dir,
            WriterOptions {
                compression,
                chunk_size: 64 * 1024,
                io_thread,
                ..Default::default()
            },
        )
        .unwrap();
        let img = w.add_topic::<Image>("/camera/image_raw", &[]).unwrap();
        let js = w.add_topic::<JointState>("/joint_states", &[]).unwrap();
        let mut want = Vec::new();
        for i in 0..60u64 {
            let image = common::rgb8(32, i as u8);
            w.write(img, 1000 + i * 10, &image).unwrap();
            want.push((
                "/camera/image_raw",
                1000 + i * 10,
                mbarl_msgs::cdr::encode(&image),
            ));
            let state = JointState {
                position: vec![i as f64; 3],
                ..Default::default()
            };
            let bytes = mbarl_msgs::cdr::encode(&state);
            w.write_raw(js, 1005 + i * 10, 7, &bytes).unwrap();
            want.push(("/joint_states", 1005 + i * 10, bytes));
            if i == 30 {
                w.flush().unwrap();
            }
        }
        // A topic added after messages were written.
        let late = w.add_topic::<JointState>("/late", &[]).unwrap();
        w.write(late, 5000, &JointState::default()).unwrap();
        want.push((
            "/late",
            5000,
            mbarl_msgs::cdr::encode(&JointState::default()),
        ));
        w.finish().unwrap();

        let file = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "mcap"))
            .unwrap();
        let bytes = std::fs::read(&file).unwrap();

        // Every message, in order (chunk CRCs checked by the stream).
        let got: Vec<_> = mcap::MessageStream::new(&bytes)
            .unwrap()
            .map(|m| {
                let m = m.unwrap();
                (m.channel.topic.clone(), m.log_time, m.data.to_vec())
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{compression:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (g.0.as_str(), g.1, &g.2),
                (w.0, w.1, &w.2),
                "{compression:?}"
            );
        }

        // The summary: statistics, chunk indexes and through them the message indexes.
        let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
        let stats = summary.stats.as_ref().unwrap();
        assert_eq!(stats.message_count, want.len() as u64);
        assert_eq!((stats.channel_count, stats.schema_count), (3, 2));
        assert_eq!(
            (stats.message_start_time, stats.message_end_time),
            (1000, 5000)
        );
        assert_eq!(stats.metadata_count, 1);
        assert_eq!(stats.chunk_count as usize, summary.chunk_indexes.len());
        assert!(summary.chunk_indexes.len() > 3, "{compression:?}");
        let counts: Vec<u64> = stats.channel_message_counts.values().copied().collect();
        assert_eq!(counts, vec![60, 60, 1]);
        let mut indexed = Vec::new();
        for ci in &summary.chunk_indexes {
            let indexes = summary.read_message_indexes(&bytes, ci).unwrap();
            for (channel, entries) in indexes {
                for e in entries {
                    let m = summary.seek_message(&bytes, ci, &e).unwrap();
                    assert_eq!(m.channel.topic, channel.topic);
                    assert_eq!(m.log_time, e.log_time);
                    indexed.push((m.log_time, m.data.to_vec()));
                }
            }
        }
        indexed.sort();
        let mut all: Vec<_> = want.iter().map(|w| (w.1, w.2.clone())).collect();
        all.sort();
        assert_eq!(indexed, all, "{compression:?}");
        let md = mcap::read::metadata(&bytes, &summary.metadata_indexes[0]).unwrap();
        assert_eq!(md.name, "rosbag2");
        assert!(md.metadata["serialized_metadata"].contains("message_count: 121"));

        // The footer's summary CRC covers the summary and the footer up to the CRC.
        let footer = mcap::read::footer(&bytes).unwrap();
        let crc_end = bytes.len() - 8 - 4;
        assert_eq!(
            crc32fast::hash(&bytes[footer.summary_start as usize..crc_end]),
            footer.summary_crc
        );
    }
}
