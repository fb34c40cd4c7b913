//! ROS 2 serialized messages: a 4-byte encapsulation header and a CDR (XCDR1) body.
//!
//! [`encode`] writes exactly what `rclpy.serialization.serialize_message` (rmw_fastrtps, the
//! ROS 2 default) produces, which is also what rosbag2 stores: header `00 01 00 00`
//! (little-endian CDR), the body with alignment relative to its start, and, for messages of
//! fixed size (no strings or sequences anywhere), zero padding up to a multiple of 4 bytes as
//! Fast DDS adds it. Alignment padding is written as zeros (Fast CDR leaves those bytes
//! unspecified; readers ignore them).
//!
//! [`decode`] reads little- and big-endian CDR and never panics: bad input is a [`CdrError`].
//! Bytes after the message (padding) are ignored.

use byteorder::{BigEndian, ByteOrder, LittleEndian};
use cdr_encoding::{CdrDeserializer, CdrSerializer};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, ser};

/// The encapsulation header of little-endian plain CDR, as ROS 2 writes it.
pub const HEADER_CDR_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];
/// The encapsulation header of big-endian plain CDR.
pub const HEADER_CDR_BE: [u8; 4] = [0x00, 0x00, 0x00, 0x00];

/// What was wrong with a serialized message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    #[error(
        "serialized message too short: {len} bytes, a ROS 2 message has at least the 4-byte encapsulation header"
    )]
    TooShort { len: usize },
    #[error(
        "unknown encapsulation {0:02x} {1:02x}: expected 00 01 (little-endian CDR) or 00 00 (big-endian CDR)"
    )]
    UnknownEncapsulation(u8, u8),
    /// The body did not match the type; `offset` counts from the start of the serialized
    /// message (header included) and is where the decoder stopped.
    #[error("invalid CDR data for {type_name} at byte {offset} of {len}: {message}")]
    Body {
        type_name: &'static str,
        offset: usize,
        len: usize,
        message: String,
    },
    /// The value cannot be written as CDR (only possible for hand-written types, e.g. a
    /// sequence of unknown length).
    #[error("cannot encode {type_name} as CDR: {message}")]
    Encode {
        type_name: &'static str,
        message: String,
    },
}

/// Serializes a message as ROS 2 stores it: header `00 01 00 00`, then the little-endian body.
///
/// # Panics
/// Only for values CDR cannot represent (see [`try_encode`]); never for generated messages.
pub fn encode<T: Serialize + ?Sized>(msg: &T) -> Vec<u8> {
    try_encode(msg).unwrap_or_else(|e| panic!("{e}"))
}

/// [`encode`] that reports values CDR cannot represent instead of panicking.
pub fn try_encode<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, CdrError> {
    let mut buf = Vec::with_capacity(64);
    encode_into(msg, &mut buf)?;
    Ok(buf)
}

/// Appends the serialized message to `buf` (to reuse one buffer for many messages).
pub fn encode_into<T: Serialize + ?Sized>(msg: &T, buf: &mut Vec<u8>) -> Result<(), CdrError> {
    let start = buf.len();
    buf.extend_from_slice(&HEADER_CDR_LE);
    let mut serializer = CdrSerializer::<_, LittleEndian>::new(&mut *buf);
    if let Err(e) = msg.serialize(&mut serializer) {
        buf.truncate(start);
        return Err(CdrError::Encode {
            type_name: std::any::type_name::<T>(),
            message: e.to_string(),
        });
    }
    if is_fixed_size(msg) {
        // rmw_fastrtps sizes "plain" (fixed-size) messages as header + body rounded up to 4.
        let padding = (4 - (buf.len() - start) % 4) % 4;
        buf.resize(buf.len() + padding, 0);
    }
    Ok(())
}

/// Deserializes a message serialized by ROS 2 (little- or big-endian CDR).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CdrError> {
    if bytes.len() < 4 {
        return Err(CdrError::TooShort { len: bytes.len() });
    }
    let body = &bytes[4..];
    match (bytes[0], bytes[1]) {
        (0x00, 0x01) => decode_body::<T, LittleEndian>(body, bytes.len()),
        (0x00, 0x00) => decode_body::<T, BigEndian>(body, bytes.len()),
        (a, b) => Err(CdrError::UnknownEncapsulation(a, b)),
    }
}

/// Deserializes a message borrowing from `bytes` (a [`crate::view`] type: large byte buffers
/// are slices of `bytes`). Same checks and errors as [`decode`].
pub fn decode_view<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CdrError> {
    if bytes.len() < 4 {
        return Err(CdrError::TooShort { len: bytes.len() });
    }
    let body = &bytes[4..];
    match (bytes[0], bytes[1]) {
        (0x00, 0x01) => decode_body::<T, LittleEndian>(body, bytes.len()),
        (0x00, 0x00) => decode_body::<T, BigEndian>(body, bytes.len()),
        (a, b) => Err(CdrError::UnknownEncapsulation(a, b)),
    }
}

fn decode_body<'a, T: Deserialize<'a>, BO: ByteOrder>(
    body: &'a [u8],
    len: usize,
) -> Result<T, CdrError> {
    let mut de = CdrDeserializer::<BO>::new(body);
    T::deserialize(&mut de).map_err(|e| CdrError::Body {
        type_name: std::any::type_name::<T>(),
        offset: 4 + de.bytes_consumed(),
        len,
        message: e.to_string(),
    })
}

/// Whether a value has the same CDR size for every value of its type: no strings, sequences,
/// options or enums anywhere inside. Stops at the first variable-size field, so it is cheap.
pub fn is_fixed_size<T: Serialize + ?Sized>(value: &T) -> bool {
    value.serialize(FixedSizeProbe).is_ok()
}

/// A serializer that succeeds only for fixed-size data and writes nothing.
#[derive(Clone, Copy)]
struct FixedSizeProbe;

#[derive(Debug)]
struct VariableSize;

impl std::fmt::Display for VariableSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("variable-size data")
    }
}

impl std::error::Error for VariableSize {}

impl ser::Error for VariableSize {
    fn custom<M: std::fmt::Display>(_msg: M) -> Self {
        VariableSize
    }
}

type Probe = Result<(), VariableSize>;

impl ser::Serializer for FixedSizeProbe {
    type Ok = ();
    type Error = VariableSize;
    type SerializeSeq = ser::Impossible<(), VariableSize>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = ser::Impossible<(), VariableSize>;
    type SerializeMap = ser::Impossible<(), VariableSize>;
    type SerializeStruct = Self;
    type SerializeStructVariant = ser::Impossible<(), VariableSize>;

    fn serialize_bool(self, _: bool) -> Probe {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Probe {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Probe {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Probe {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Probe {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Probe {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Probe {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Probe {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Probe {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Probe {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Probe {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Probe {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Probe {
        Err(VariableSize)
    }
    fn serialize_bytes(self, _: &[u8]) -> Probe {
        Err(VariableSize)
    }
    fn serialize_none(self) -> Probe {
        Err(VariableSize)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Probe {
        Err(VariableSize)
    }
    fn serialize_unit(self) -> Probe {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Probe {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Probe {
        Err(VariableSize)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Probe {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Probe {
        Err(VariableSize)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, VariableSize> {
        Err(VariableSize)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, VariableSize> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, VariableSize> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, VariableSize> {
        Err(VariableSize)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, VariableSize> {
        Err(VariableSize)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, VariableSize> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, VariableSize> {
        Err(VariableSize)
    }
}

impl ser::SerializeTuple for FixedSizeProbe {
    type Ok = ();
    type Error = VariableSize;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Probe {
        v.serialize(*self)
    }
    fn end(self) -> Probe {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for FixedSizeProbe {
    type Ok = ();
    type Error = VariableSize;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Probe {
        v.serialize(*self)
    }
    fn end(self) -> Probe {
        Ok(())
    }
}

impl ser::SerializeStruct for FixedSizeProbe {
    type Ok = ();
    type Error = VariableSize;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, v: &T) -> Probe {
        v.serialize(*self)
    }
    fn end(self) -> Probe {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::std_msgs;

    #[test]
    fn header_and_padding() {
        let b = encode(&std_msgs::Bool { data: true });
        assert_eq!(b, [0, 1, 0, 0, 1, 0, 0, 0]);
        let s = encode(&std_msgs::String {
            data: "hello".into(),
        });
        assert_eq!(s, [0, 1, 0, 0, 6, 0, 0, 0, b'h', b'e', b'l', b'l', b'o', 0]);
        assert!(is_fixed_size(&std_msgs::Float64::default()));
        assert!(!is_fixed_size(&std_msgs::String::default()));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            decode::<std_msgs::Bool>(&[0, 1]),
            Err(CdrError::TooShort { len: 2 })
        );
        assert_eq!(
            decode::<std_msgs::Bool>(&[0, 7, 0, 0, 1]),
            Err(CdrError::UnknownEncapsulation(0, 7))
        );
        let e = decode::<std_msgs::String>(&[0, 1, 0, 0, 9, 0, 0, 0, b'a']).unwrap_err();
        assert!(
            matches!(
                e,
                CdrError::Body {
                    offset: 8,
                    len: 9,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("at byte 8 of 9"), "{e}");
    }

    #[test]
    fn big_endian() {
        let bytes = [0, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', 0];
        let s: std_msgs::String = decode(&bytes).unwrap();
        assert_eq!(s.data, "ab");
    }
}
