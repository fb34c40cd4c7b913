//! Messages are windows into the chunk they were read from (mapped in place, or decompressed):
//! kept after the reader has moved on, they still hold their own bytes.

use mbarl_bag::{Bag, BagWriter, Compression, ReadOptions, WriterOptions};
use mbarl_msgs::sensor_msgs::Image;
use mbarl_msgs::view::ImageView;

fn image(i: u64) -> Image {
    Image {
        width: 96,
        height: 96,
        step: 288,
        encoding: "rgb8".into(),
        data: (0..96 * 96 * 3)
            .map(|j| (j as u64 * 13 + i * 7) as u8)
            .collect(),
        ..Default::default()
    }
}

#[test]
fn kept_messages_hold_their_bytes() {
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bag");
        let mut w = BagWriter::create(
            &dir,
            WriterOptions {
                compression,
                chunk_size: 512 * 1024,
                ..Default::default()
            },
        )
        .unwrap();
        let t = w.add_topic::<Image>("/camera/image_raw", &[]).unwrap();
        for i in 0..120u64 {
            w.write(t, i, &image(i)).unwrap();
        }
        w.finish().unwrap();
        let bag = Bag::open(&dir).unwrap();
        // Every message kept: several chunks' buffers stay alive at once.
        let kept: Vec<_> = bag
            .messages(ReadOptions::default())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kept.len(), 120, "{compression:?}");
        for (i, m) in kept.iter().enumerate() {
            let want = image(i as u64);
            assert_eq!(m.decode::<Image>().unwrap(), want, "{compression:?} {i}");
            let view: ImageView = m.decode_view().unwrap();
            assert_eq!(view.data, &want.data[..], "{compression:?} {i}");
            assert_eq!(&*m.data, &mbarl_msgs::cdr::encode(&want)[..]);
        }
        // A view of the wrong type is refused like a typed decode.
        assert!(
            kept[0]
                .decode_view::<mbarl_msgs::view::CompressedImageView>()
                .is_err()
        );
    }
}
