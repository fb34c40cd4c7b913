//! Borrowing views of the messages that carry large byte buffers: decoded with
//! [`crate::cdr::decode_view`], their `data` is a slice of the serialized bytes, not a copy.
//! Field for field they are the generated types ([`Image`], [`CompressedImage`]).

use serde::Deserialize;

use crate::RosMessage;
use crate::sensor_msgs::{CompressedImage, Image};
use crate::std_msgs::Header;

/// A message type that decodes borrowing from the serialized bytes.
pub trait MessageView<'a>: Deserialize<'a> {
    /// The generated type this is a view of (its type name and layout).
    type Owned: RosMessage;
}

/// `sensor_msgs/msg/Image` with the pixel buffer borrowed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageView<'a> {
    pub header: Header,
    pub height: u32,
    pub width: u32,
    pub encoding: String,
    pub is_bigendian: u8,
    pub step: u32,
    pub data: &'a [u8],
}

impl<'a> MessageView<'a> for ImageView<'a> {
    type Owned = Image;
}

/// `sensor_msgs/msg/CompressedImage` with the compressed bytes borrowed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompressedImageView<'a> {
    pub header: Header,
    pub format: String,
    pub data: &'a [u8],
}

impl<'a> MessageView<'a> for CompressedImageView<'a> {
    type Owned = CompressedImage;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin_interfaces::Time;
    use crate::cdr;

    fn image() -> Image {
        Image {
            header: Header {
                stamp: Time::new(12, 345),
                frame_id: "camera".into(),
            },
            height: 2,
            width: 3,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step: 9,
            data: (0..18).collect(),
        }
    }

    #[test]
    fn views_decode_the_same_fields_without_copying() {
        let m = image();
        let bytes = cdr::encode(&m);
        let v: ImageView = cdr::decode_view(&bytes).unwrap();
        assert_eq!(
            (
                v.header,
                v.height,
                v.width,
                v.encoding,
                v.is_bigendian,
                v.step
            ),
            (
                m.header,
                m.height,
                m.width,
                m.encoding,
                m.is_bigendian,
                m.step
            )
        );
        assert_eq!(v.data, &m.data[..]);
        let range = bytes.as_ptr_range();
        assert!(range.contains(&v.data.as_ptr()), "data is borrowed");

        let c = CompressedImage {
            format: "png".into(),
            data: vec![1, 2, 3, 4, 5],
            ..Default::default()
        };
        let bytes = cdr::encode(&c);
        let v: CompressedImageView = cdr::decode_view(&bytes).unwrap();
        assert_eq!((v.format.as_str(), v.data), ("png", &c.data[..]));
    }

    #[test]
    fn views_reject_what_the_owned_decode_rejects() {
        let bytes = cdr::encode(&image());
        for cut in [0, 3, 4, 20, bytes.len() - 1] {
            let owned = cdr::decode::<Image>(&bytes[..cut]).is_err();
            let view = cdr::decode_view::<ImageView>(&bytes[..cut]).is_err();
            assert_eq!(owned, view, "cut at {cut}");
            assert!(view, "cut at {cut}");
        }
    }
}
