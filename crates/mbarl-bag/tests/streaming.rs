//! Reading streams: peak memory does not grow with the bag's size. (Its own test binary, so no
//! other test shares the process's peak-RSS counter.)

use mbarl_bag::{Bag, BagWriter, Compression, ReadOptions, WriterOptions};
use mbarl_msgs::sensor_msgs::Image;

fn status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn reading_a_large_bag_uses_bounded_memory() {
    // lz4 chunks are decompressed into a buffer; uncompressed ones are mapped in place.
    for compression in [Compression::Lz4, Compression::None] {
        read_large_bag(compression);
    }
}

fn read_large_bag(compression: Compression) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    let mut w = BagWriter::create(
        &dir,
        WriterOptions {
            compression,
            ..Default::default()
        },
    )
    .unwrap();
    let t = w.add_topic::<Image>("/camera/image_raw", &[]).unwrap();
    // 4000 × 48 KiB (128×128 rgb8) ≈ 190 MiB of messages.
    let mut img = Image {
        width: 128,
        height: 128,
        step: 384,
        encoding: "rgb8".into(),
        data: vec![0; 128 * 128 * 3],
        ..Default::default()
    };
    for i in 0..4000u64 {
        for (j, b) in img.data.iter_mut().enumerate() {
            *b = ((j as u64 * 31 + i * 7) % 251) as u8;
        }
        w.write(t, i, &img).unwrap();
    }
    w.finish().unwrap();
    // Reset the peak-RSS counter (Linux: write 5 to clear_refs), then read everything.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kb("VmRSS:");
    let bag = Bag::open(&dir).unwrap();
    let mut n = 0u64;
    let mut bytes = 0u64;
    for m in bag.messages(ReadOptions::default()) {
        let m = m.unwrap();
        n += 1;
        bytes += m.data.len() as u64;
    }
    let peak = status_kb("VmHWM:");
    assert_eq!(n, 4000);
    assert!(bytes > 180 << 20);
    let grew_mb = peak.saturating_sub(before) / 1024;
    assert!(
        grew_mb < 24,
        "reading {} MiB ({compression:?}) grew the peak RSS by {grew_mb} MiB",
        bytes >> 20
    );
}
