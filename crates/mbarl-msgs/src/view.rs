//! Borrowing views of messages, decoded without copying what they carry: [`ImageView`] and
//! [`CompressedImageView`] (their `data` is a slice of the serialized bytes, decoded with
//! [`crate::cdr::decode_view`]), and [`JointStateView`] (names and arrays read where they are;
//! decoded by hand, as it is read at the rate of the joint states). Field for field they are
//! the generated types, and they accept and reject the same bytes.

use serde::Deserialize;

use crate::RosMessage;
use crate::builtin_interfaces::Time;
use crate::cdr::CdrError;
use crate::sensor_msgs::{CompressedImage, Image, JointState};
use crate::std_msgs::Header;

/// A message type that decodes borrowing from the serialized bytes.
pub trait MessageView<'a>: Sized {
    /// The generated type this is a view of (its type name and layout).
    type Owned: RosMessage;

    /// Decodes serialized bytes (encapsulation header + CDR), as [`crate::cdr::decode`] does.
    fn decode(bytes: &'a [u8]) -> Result<Self, CdrError>;
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

    fn decode(bytes: &'a [u8]) -> Result<Self, CdrError> {
        crate::cdr::decode_view(bytes)
    }
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

    fn decode(bytes: &'a [u8]) -> Result<Self, CdrError> {
        crate::cdr::decode_view(bytes)
    }
}

/// `sensor_msgs/msg/JointState` read in place: names and values are read from the serialized
/// bytes when asked for.
#[derive(Debug, Clone, Copy)]
pub struct JointStateView<'a> {
    pub stamp: Time,
    pub frame_id: &'a str,
    pub name: Strings<'a>,
    pub position: Doubles<'a>,
    pub velocity: Doubles<'a>,
    pub effort: Doubles<'a>,
}

/// A CDR `string[]`, checked when decoded (UTF-8, in bounds).
#[derive(Debug, Clone, Copy)]
pub struct Strings<'a> {
    /// The CDR body, and where the first string starts in it (alignment counts from its start).
    body: &'a [u8],
    start: usize,
    len: usize,
    big_endian: bool,
}

/// A CDR `float64[]`.
#[derive(Debug, Clone, Copy)]
pub struct Doubles<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl<'a> Strings<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut r = self.reader();
        // Checked when decoded: these reads succeed.
        (0..self.len).map_while(move |_| r.string().ok())
    }

    /// The strings' bytes (UTF-8, checked when decoded), for comparisons.
    pub fn iter_bytes(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut r = self.reader();
        (0..self.len).map_while(move |_| r.string_bytes().ok())
    }

    fn reader(&self) -> Reader<'a> {
        Reader {
            body: self.body,
            pos: self.start,
            big_endian: self.big_endian,
        }
    }
}

impl Doubles<'_> {
    pub fn len(&self) -> usize {
        self.bytes.len() / 8
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<f64> {
        let b: [u8; 8] = self.bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?;
        Some(if self.big_endian {
            f64::from_be_bytes(b)
        } else {
            f64::from_le_bytes(b)
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Reads CDR (XCDR1): primitives aligned to their size, counted from the body's start.
struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, align: usize) -> Result<&'a [u8], String> {
        let start = self.pos.next_multiple_of(align);
        let end = start
            .checked_add(n)
            .filter(|&e| e <= self.body.len())
            .ok_or_else(|| {
                format!(
                    "{n} bytes needed at byte {start} of a {} byte body",
                    self.body.len()
                )
            })?;
        self.pos = end;
        Ok(&self.body[start..end])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b: [u8; 4] = self.take(4, 4)?.try_into().map_err(|_| "u32".to_string())?;
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn string(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.string_bytes()?).map_err(|e| e.to_string())
    }

    /// A string's bytes, not checked for UTF-8.
    fn string_bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        let b = self.take(n, 1)?;
        // The length counts the terminating NUL: the last byte is dropped whatever it is (a
        // zero length is an empty string), as the serde decoder does.
        Ok(b.split_last().map_or(b, |(_, s)| s))
    }

    fn doubles(&mut self) -> Result<Doubles<'a>, String> {
        let n = self.u32()? as usize;
        // Elements align to 8; an empty sequence has none, so no padding either.
        let bytes = if n == 0 {
            &[][..]
        } else {
            self.take(n.checked_mul(8).ok_or("sequence too long")?, 8)?
        };
        Ok(Doubles {
            bytes,
            big_endian: self.big_endian,
        })
    }
}

impl<'a> MessageView<'a> for JointStateView<'a> {
    type Owned = JointState;

    fn decode(bytes: &'a [u8]) -> Result<Self, CdrError> {
        if bytes.len() < 4 {
            return Err(CdrError::TooShort { len: bytes.len() });
        }
        let big_endian = match (bytes[0], bytes[1]) {
            (0x00, 0x01) => false,
            (0x00, 0x00) => true,
            (a, b) => return Err(CdrError::UnknownEncapsulation(a, b)),
        };
        let mut r = Reader {
            body: &bytes[4..],
            pos: 0,
            big_endian,
        };
        let mut read = || -> Result<JointStateView<'a>, String> {
            let sec = r.u32()? as i32;
            let nanosec = r.u32()?;
            let frame_id = r.string()?;
            let count = r.u32()? as usize;
            let start = r.pos;
            for _ in 0..count {
                r.string()?;
            }
            let name = Strings {
                body: r.body,
                start,
                len: count,
                big_endian,
            };
            Ok(JointStateView {
                stamp: Time { sec, nanosec },
                frame_id,
                name,
                position: r.doubles()?,
                velocity: r.doubles()?,
                effort: r.doubles()?,
            })
        };
        read().map_err(|message| CdrError::Body {
            type_name: std::any::type_name::<JointState>(),
            offset: 4 + r.pos,
            len: bytes.len(),
            message,
        })
    }
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

    fn joint_state(seed: u64) -> JointState {
        let n = (seed % 5) as usize;
        JointState {
            header: Header {
                stamp: Time::new(seed as i32 - 2, (seed * 7919 % 1_000_000_000) as u32),
                frame_id: "x".repeat(seed as usize % 6),
            },
            name: (0..n)
                .map(|j| format!("joint_{}", "é".repeat(j + seed as usize % 3)))
                .collect(),
            position: (0..n).map(|j| j as f64 * 0.5 - seed as f64).collect(),
            velocity: (0..(seed as usize % 3).min(n))
                .map(|j| j as f64 + 0.25)
                .collect(),
            effort: vec![f64::MAX; seed as usize % 2],
        }
    }

    fn big_endian(m: &JointState) -> Vec<u8> {
        let mut body = Vec::new();
        let mut s = cdr_encoding::CdrSerializer::<_, byteorder::BigEndian>::new(&mut body);
        serde::Serialize::serialize(m, &mut s).unwrap();
        [&crate::cdr::HEADER_CDR_BE[..], &body].concat()
    }

    #[test]
    fn joint_state_view_reads_what_decode_reads() {
        for seed in 0..40 {
            let m = joint_state(seed);
            for bytes in [cdr::encode(&m), big_endian(&m)] {
                let v = JointStateView::decode(&bytes).unwrap();
                assert_eq!(
                    (v.stamp, v.frame_id),
                    (m.header.stamp, m.header.frame_id.as_str())
                );
                assert_eq!(v.name.iter().collect::<Vec<_>>(), m.name);
                let bytes_of: Vec<&[u8]> = m.name.iter().map(|n| n.as_bytes()).collect();
                assert_eq!(v.name.iter_bytes().collect::<Vec<_>>(), bytes_of);
                assert_eq!(v.name.len(), m.name.len());
                assert_eq!(v.position.iter().collect::<Vec<_>>(), m.position);
                assert_eq!(v.velocity.iter().collect::<Vec<_>>(), m.velocity);
                assert_eq!(v.effort.iter().collect::<Vec<_>>(), m.effort);
                assert_eq!(v.position.get(m.position.len()), None);
                // Every cut, and bytes changed one at a time, are accepted or refused as the
                // serde decoder does.
                for cut in 0..bytes.len() {
                    assert_eq!(
                        JointStateView::decode(&bytes[..cut]).is_ok(),
                        cdr::decode::<JointState>(&bytes[..cut]).is_ok(),
                        "seed {seed} cut {cut}"
                    );
                }
                for i in 0..bytes.len() {
                    let mut b = bytes.clone();
                    b[i] ^= 0xA5;
                    assert_eq!(
                        JointStateView::decode(&b).is_ok(),
                        cdr::decode::<JointState>(&b).is_ok(),
                        "seed {seed} byte {i}"
                    );
                }
            }
        }
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
