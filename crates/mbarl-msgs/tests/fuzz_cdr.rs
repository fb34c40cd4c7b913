//! Property-based fuzzing of CDR decoding for every generated message and service type
//! (issue 8, fuzzing): `cdr::decode` never panics and never allocates wildly, whatever the bytes,
//! and every valid value round-trips.
//!
//! For each type, with proptest (`PROPTEST_CASES` scales the number of cases, default below):
//! - random values (every number, NaN and ±inf included, strings of any Unicode, sequences of
//!   0 to 5 elements) encode, decode and re-encode to the same bytes (little- and big-endian);
//! - mutations of valid encodings (byte overwrites, inserted and deleted runs, truncations,
//!   4-byte words replaced by huge or boundary lengths, splices of two encodings) decode to a
//!   value or an error, and a decoded value re-encodes without a panic;
//! - random bytes behind a valid or a random header decode to a value or an error.
//!
//! Run more cases locally: `PROPTEST_CASES=20000 cargo test -p mbarl-msgs --test fuzz_cdr --release`.

use byteorder::BigEndian;
use mbarl_msgs::{MessageVisitor, RosMessage, cdr, visit_all_messages};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

mod random_value {
    //! A serde `Deserializer` that invents a random value of any generated message type.
    use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

    pub struct RandomValue {
        state: u64,
    }

    impl RandomValue {
        pub fn new(seed: u64) -> Self {
            Self {
                state: seed ^ 0x9E37_79B9_7F4A_7C15,
            }
        }
        fn next(&mut self) -> u64 {
            // splitmix64
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn float(&mut self) -> f64 {
            match self.next() % 8 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => f64::from_bits(self.next()),
                4 => 0.0,
                _ => (self.next() as i64 as f64) / (1u64 << 40) as f64,
            }
        }
        fn string(&mut self) -> String {
            let len = self.next() % 12;
            (0..len)
                .map(|_| match self.next() % 4 {
                    // ROS strings are NUL-terminated in CDR: no interior NUL.
                    0 => char::from_u32((self.next() % 0x10FFFF) as u32)
                        .filter(|c| *c != '\0')
                        .unwrap_or('?'),
                    _ => (b' ' + (self.next() % 95) as u8) as char,
                })
                .collect()
        }
    }

    #[derive(Debug)]
    pub struct Unsupported(String);

    impl std::fmt::Display for Unsupported {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Unsupported {}
    impl de::Error for Unsupported {
        fn custom<T: std::fmt::Display>(msg: T) -> Self {
            Unsupported(msg.to_string())
        }
    }

    struct Elements<'a> {
        rng: &'a mut RandomValue,
        left: usize,
    }

    impl<'de> SeqAccess<'de> for Elements<'_> {
        type Error = Unsupported;
        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, Unsupported> {
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            seed.deserialize(&mut *self.rng).map(Some)
        }
        fn size_hint(&self) -> Option<usize> {
            Some(self.left)
        }
    }

    macro_rules! int {
        ($method:ident, $visit:ident, $t:ty) => {
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
                let n = self.next();
                v.$visit(n as $t)
            }
        };
    }

    impl<'de> de::Deserializer<'de> for &mut RandomValue {
        type Error = Unsupported;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Unsupported> {
            Err(Unsupported("deserialize_any".into()))
        }
        fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let b = self.next().is_multiple_of(2);
            v.visit_bool(b)
        }
        int!(deserialize_i8, visit_i8, i8);
        int!(deserialize_i16, visit_i16, i16);
        int!(deserialize_i32, visit_i32, i32);
        int!(deserialize_i64, visit_i64, i64);
        int!(deserialize_u8, visit_u8, u8);
        int!(deserialize_u16, visit_u16, u16);
        int!(deserialize_u32, visit_u32, u32);
        int!(deserialize_u64, visit_u64, u64);
        fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let f = self.float() as f32;
            v.visit_f32(f)
        }
        fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let f = self.float();
            v.visit_f64(f)
        }
        fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let c = (b' ' + (self.next() % 95) as u8) as char;
            v.visit_char(c)
        }
        fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let s = self.string();
            v.visit_string(s)
        }
        fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            self.deserialize_str(v)
        }
        fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let len = self.next() % 40;
            let bytes: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
            v.visit_byte_buf(bytes)
        }
        fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            self.deserialize_bytes(v)
        }
        fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            v.visit_some(self)
        }
        fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            v.visit_unit()
        }
        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            v: V,
        ) -> Result<V::Value, Unsupported> {
            v.visit_unit()
        }
        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            v: V,
        ) -> Result<V::Value, Unsupported> {
            v.visit_newtype_struct(self)
        }
        fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let left = (self.next() % 6) as usize;
            v.visit_seq(Elements { rng: self, left })
        }
        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            len: usize,
            v: V,
        ) -> Result<V::Value, Unsupported> {
            v.visit_seq(Elements {
                rng: self,
                left: len,
            })
        }
        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            len: usize,
            v: V,
        ) -> Result<V::Value, Unsupported> {
            self.deserialize_tuple(len, v)
        }
        fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Unsupported> {
            Err(Unsupported("maps".into()))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, Unsupported> {
            self.deserialize_tuple(fields.len(), v)
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Unsupported> {
            Err(Unsupported("enums".into()))
        }
        fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            v.visit_u64(0)
        }
        fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            v.visit_unit()
        }
    }
}

/// Cases per type and property; `PROPTEST_CASES` overrides it.
const DEFAULT_CASES: u32 = 64;

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn random_message<M: RosMessage>(seed: u64) -> M {
    let mut rng = random_value::RandomValue::new(seed);
    M::deserialize(&mut rng).unwrap_or_else(|e| panic!("random {}: {e}", M::type_name()))
}

/// One change to a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Overwrite {
        at: usize,
        byte: u8,
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
        len: usize,
    },
    /// A 4-byte word (a sequence or string length, in CDR) replaced by `value`.
    Word {
        at: usize,
        value: u32,
    },
    /// This encoding's head followed by another value's tail.
    Splice {
        at: usize,
        other_seed: u64,
        other_at: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<prop::sample::Index>();
    prop_oneof![
        4 => (index.clone(), any::<u8>()).prop_map(|(i, byte)| Mutation::Overwrite { at: i.index(1 << 20), byte }),
        1 => (index.clone(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, bytes)| Mutation::Insert { at: i.index(1 << 20), bytes }),
        1 => (index.clone(), 1usize..16).prop_map(|(i, len)| Mutation::Delete { at: i.index(1 << 20), len }),
        1 => index.clone().prop_map(|i| Mutation::Truncate { len: i.index(1 << 20) }),
        3 => (index.clone(), prop_oneof![
                Just(u32::MAX), Just(u32::MAX - 3), Just(0x8000_0000), Just(0x7FFF_FFFF),
                Just(0x0100_0000), Just(0), Just(1), any::<u32>(),
            ]).prop_map(|(i, value)| Mutation::Word { at: i.index(1 << 20), value }),
        1 => (index.clone(), any::<u64>(), index).prop_map(|(i, other_seed, j)| Mutation::Splice { at: i.index(1 << 20), other_seed, other_at: j.index(1 << 20) }),
    ]
}

fn apply<M: RosMessage>(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match m {
        Mutation::Overwrite { at, byte } => {
            if let Some(b) = bytes.get_mut(at % n) {
                *b = *byte;
            }
        }
        Mutation::Insert { at, bytes: ins } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, ins.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let at = at % n;
            let end = (at + len).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        Mutation::Truncate { len } => bytes.truncate(len % n),
        Mutation::Word { at, value } => {
            // Words are 4-aligned in the body (after the 4-byte header).
            let at = 4 + (at % n) / 4 * 4;
            if at + 4 <= bytes.len() {
                let le = bytes.get(1) == Some(&1);
                let word = if le {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                bytes[at..at + 4].copy_from_slice(&word);
            }
        }
        Mutation::Splice {
            at,
            other_seed,
            other_at,
        } => {
            let other = cdr::encode(&random_message::<M>(*other_seed));
            bytes.truncate(at % n);
            bytes.extend_from_slice(&other[other_at % other.len()..]);
        }
    }
}

/// Decodes `bytes` as `M`; a decoded value must re-encode (no panic) and decode again.
fn decode_checked<M: RosMessage>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(value) = cdr::decode::<M>(bytes) {
        let again = cdr::encode(&value);
        let back = cdr::decode::<M>(&again);
        prop_assert!(
            back.is_ok(),
            "{}: re-decoding failed: {:?}",
            M::type_name(),
            back
        );
    }
    Ok(())
}

struct Fuzz;

impl MessageVisitor for Fuzz {
    fn visit<M: RosMessage>(&mut self) {
        let name = M::type_name();

        // Round trip of random values, both byte orders.
        runner()
            .run(&any::<u64>(), |seed| {
                let value: M = random_message(seed);
                let le = cdr::encode(&value);
                let back: M =
                    cdr::decode(&le).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
                prop_assert_eq!(&cdr::encode(&back), &le, "{}: little-endian", name);
                let mut be = cdr::HEADER_CDR_BE.to_vec();
                be.extend(
                    cdr_encoding::to_vec::<M, BigEndian>(&value)
                        .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?,
                );
                let back: M = cdr::decode(&be)
                    .map_err(|e| TestCaseError::fail(format!("{name} (BE): {e}")))?;
                prop_assert_eq!(&cdr::encode(&back), &le, "{}: big-endian", name);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: round trip: {e}"));

        // Mutated valid encodings.
        runner()
            .run(
                &(
                    any::<u64>(),
                    any::<bool>(),
                    prop::collection::vec(mutation(), 1..5),
                ),
                |(seed, big_endian, mutations)| {
                    let value: M = random_message(seed);
                    let mut bytes = if big_endian {
                        let mut b = cdr::HEADER_CDR_BE.to_vec();
                        b.extend(cdr_encoding::to_vec::<M, BigEndian>(&value).unwrap_or_default());
                        b
                    } else {
                        cdr::encode(&value)
                    };
                    for m in &mutations {
                        apply::<M>(&mut bytes, m);
                    }
                    decode_checked::<M>(&bytes)
                },
            )
            .unwrap_or_else(|e| panic!("{name}: mutated encodings: {e}"));

        // Random bytes.
        runner()
            .run(
                &(
                    prop_oneof![
                        Just(cdr::HEADER_CDR_LE.to_vec()),
                        Just(cdr::HEADER_CDR_BE.to_vec()),
                        prop::collection::vec(any::<u8>(), 0..4),
                    ],
                    prop::collection::vec(any::<u8>(), 0..256),
                ),
                |(header, body)| {
                    let mut bytes = header;
                    bytes.extend(body);
                    decode_checked::<M>(&bytes)
                },
            )
            .unwrap_or_else(|e| panic!("{name}: random bytes: {e}"));
    }
}

#[test]
fn every_message_type_survives_fuzzed_cdr() {
    visit_all_messages(&mut Fuzz);
}
