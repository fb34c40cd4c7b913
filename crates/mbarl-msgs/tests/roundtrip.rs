//! CDR round trip of every generated message with non-default values, decoding that never
//! panics, and checks of the generated tables.
//!
//! Coverage is automatic: `visit_all_messages` is generated from the same files as the types,
//! and `every_interface_file_is_generated` counts the files on disk, so a new .msg or .srv file
//! is round-tripped without touching this test.

use std::collections::BTreeSet;
use std::path::Path;

use byteorder::BigEndian;
use mbarl_msgs::{
    ALL_MESSAGE_TYPES, ALL_SERVICE_TYPES, CdrError, MessageVisitor, RosMessage, RosService,
    ServiceVisitor, cdr, message_definition, visit_all_messages, visit_all_services,
};

mod filler {
    //! A serde `Deserializer` that invents a value for any type: every number non-zero,
    //! every bool true, every string and sequence non-empty, each value different.
    use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

    pub struct Filler {
        pub counter: u64,
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

    impl Filler {
        fn next(&mut self) -> u64 {
            self.counter += 1;
            self.counter
        }
    }

    struct Elements<'a> {
        filler: &'a mut Filler,
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
            seed.deserialize(&mut *self.filler).map(Some)
        }
        fn size_hint(&self) -> Option<usize> {
            Some(self.left)
        }
    }

    macro_rules! int {
        ($method:ident, $visit:ident, $t:ty, $modulus:expr, $signed:expr) => {
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
                let n = self.next();
                let magnitude = (n % $modulus + 1) as $t;
                let value = if $signed && n % 2 == 0 {
                    magnitude.wrapping_neg()
                } else {
                    magnitude
                };
                v.$visit(value)
            }
        };
    }

    impl<'de> de::Deserializer<'de> for &mut Filler {
        type Error = Unsupported;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Unsupported> {
            Err(Unsupported("deserialize_any".into()))
        }
        fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            self.next();
            v.visit_bool(true)
        }
        int!(deserialize_i8, visit_i8, i8, 100, true);
        int!(deserialize_i16, visit_i16, i16, 30_000, true);
        int!(deserialize_i32, visit_i32, i32, 2_000_000_000, true);
        int!(deserialize_i64, visit_i64, i64, 1 << 40, true);
        int!(deserialize_u8, visit_u8, u8, 250, false);
        int!(deserialize_u16, visit_u16, u16, 60_000, false);
        int!(deserialize_u32, visit_u32, u32, 4_000_000_000, false);
        int!(deserialize_u64, visit_u64, u64, 1 << 50, false);
        fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let n = self.next();
            v.visit_f32(n as f32 * 0.5 + 0.25)
        }
        fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let n = self.next();
            v.visit_f64(-(n as f64) * 1.25 - 0.125)
        }
        fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            self.next();
            v.visit_char('x')
        }
        fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let n = self.next();
            v.visit_string(format!("s{n}-\u{e9}\u{2713}"))
        }
        fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            self.deserialize_str(v)
        }
        fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Unsupported> {
            let n = self.next();
            v.visit_byte_buf((0..(n % 5 + 1)).map(|i| (n + i) as u8 | 1).collect())
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
            // 1 to 3 elements: never empty, lengths vary.
            let left = (self.next() % 3 + 1) as usize;
            v.visit_seq(Elements { filler: self, left })
        }
        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            len: usize,
            v: V,
        ) -> Result<V::Value, Unsupported> {
            v.visit_seq(Elements {
                filler: self,
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

/// A message of type `M` whose every field has a non-default value.
fn sample<M: RosMessage>(seed: u64) -> M {
    let mut f = filler::Filler { counter: seed };
    M::deserialize(&mut f).unwrap_or_else(|e| panic!("sample {}: {e}", M::type_name()))
}

/// A small deterministic PRNG (xorshift64*), so the fuzz inputs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

struct RoundTrip {
    visited: Vec<String>,
}

impl MessageVisitor for RoundTrip {
    fn visit<M: RosMessage>(&mut self) {
        let name = M::type_name();
        for seed in [0, 7, 1000] {
            let msg: M = sample(seed);
            assert_ne!(
                msg,
                M::default(),
                "{name}: sample should differ from the default"
            );

            let bytes = cdr::encode(&msg);
            assert_eq!(bytes[..4], cdr::HEADER_CDR_LE, "{name}: header");
            let back: M = cdr::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back, msg, "{name}: little-endian round trip");
            assert_eq!(cdr::encode(&back), bytes, "{name}: re-encoding");

            let mut be = cdr::HEADER_CDR_BE.to_vec();
            be.extend(cdr_encoding::to_vec::<M, BigEndian>(&msg).expect("big-endian encoding"));
            let back: M = cdr::decode(&be).unwrap_or_else(|e| panic!("{name} (BE): {e}"));
            assert_eq!(back, msg, "{name}: big-endian round trip");
        }
        let default_bytes = cdr::encode(&M::default());
        assert_eq!(
            cdr::decode::<M>(&default_bytes).ok(),
            Some(M::default()),
            "{name}: default"
        );
        self.visited.push(name);
    }
}

#[test]
fn every_message_round_trips_with_non_default_values() {
    let mut v = RoundTrip {
        visited: Vec::new(),
    };
    visit_all_messages(&mut v);
    assert_eq!(
        v.visited, ALL_MESSAGE_TYPES,
        "visit_all_messages must visit ALL_MESSAGE_TYPES in order"
    );
}

struct NeverPanics;

impl MessageVisitor for NeverPanics {
    fn visit<M: RosMessage>(&mut self) {
        let name = M::type_name();
        let valid = cdr::encode(&sample::<M>(3));
        // Every truncation: an error or (only when cutting trailing padding) the message.
        for len in 0..valid.len() {
            match cdr::decode::<M>(&valid[..len]) {
                Err(CdrError::TooShort { .. }) => assert!(len < 4, "{name}: TooShort at {len}"),
                Err(CdrError::Body { offset, len: l, .. }) => {
                    assert_eq!(l, len);
                    assert!(offset <= len, "{name}: offset {offset} beyond input {len}");
                }
                Err(e) => panic!("{name}: unexpected error for a truncated message: {e}"),
                Ok(_) => assert!(valid.len() - len < 4, "{name}: decoded a truncated message"),
            }
        }
        // Random corruptions of a valid message and random bytes behind a valid header.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        for _ in 0..300 {
            let mut bytes = valid.clone();
            for _ in 0..(rng.next() % 4 + 1) {
                let i = (rng.next() as usize) % bytes.len();
                bytes[i] = rng.next() as u8;
            }
            let _ = cdr::decode::<M>(&bytes);
            let len = (rng.next() % 64) as usize;
            let mut noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if noise.len() >= 2 {
                noise[0] = 0;
                noise[1] = (rng.next() % 2) as u8;
            }
            let _ = cdr::decode::<M>(&noise);
        }
        // Huge lengths must fail cleanly, not allocate or panic.
        let mut huge = cdr::HEADER_CDR_LE.to_vec();
        huge.extend(std::iter::repeat_n(0xFF, 64));
        let _ = cdr::decode::<M>(&huge);
    }
}

#[test]
fn decoding_bad_input_never_panics() {
    visit_all_messages(&mut NeverPanics);
}

#[test]
fn every_interface_file_is_generated() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut expected = BTreeSet::new();
    let mut services = BTreeSet::new();
    let mut roots: Vec<(String, std::path::PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(manifest.join("interfaces")).unwrap() {
        let dir = entry.unwrap().path();
        roots.push((dir.file_name().unwrap().to_str().unwrap().to_string(), dir));
    }
    roots.push(("mbarl_msgs".to_string(), manifest.join("../../msg")));
    for (package, dir) in roots {
        for (sub, ext) in [("msg", "msg"), ("srv", "srv")] {
            let Ok(files) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for f in files {
                let path = f.unwrap().path();
                if path.extension().and_then(|e| e.to_str()) != Some(ext) {
                    continue;
                }
                let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
                if ext == "msg" {
                    expected.insert(format!("{package}/msg/{stem}"));
                } else {
                    expected.insert(format!("{package}/srv/{stem}_Request"));
                    expected.insert(format!("{package}/srv/{stem}_Response"));
                    services.insert(format!("{package}/srv/{stem}"));
                }
            }
        }
    }
    let generated: BTreeSet<String> = ALL_MESSAGE_TYPES.iter().map(|s| s.to_string()).collect();
    assert_eq!(generated, expected);
    let generated: BTreeSet<String> = ALL_SERVICE_TYPES.iter().map(|s| s.to_string()).collect();
    assert_eq!(generated, services);
    for required in [
        "builtin_interfaces/msg/Time",
        "builtin_interfaces/msg/Duration",
        "std_msgs/msg/Header",
        "std_msgs/msg/Empty",
        "sensor_msgs/msg/CameraInfo",
        "trajectory_msgs/msg/JointTrajectoryPoint",
        "rosgraph_msgs/msg/Clock",
        "mbarl_msgs/msg/Transition",
        "mbarl_msgs/srv/SetPhase_Request",
    ] {
        assert!(expected.contains(required), "{required}");
    }
}

struct ServiceNames(Vec<String>);

impl ServiceVisitor for ServiceNames {
    fn visit<S: RosService>(&mut self) {
        let name = S::type_name();
        assert_eq!(S::Request::PACKAGE, S::PACKAGE);
        assert_eq!(S::Request::NAME, format!("{}_Request", S::NAME));
        assert_eq!(S::Response::NAME, format!("{}_Response", S::NAME));
        assert_eq!(S::Request::type_name(), format!("{name}_Request"));
        assert_eq!(S::Response::type_name(), format!("{name}_Response"));
        self.0.push(name);
    }
}

#[test]
fn services_pair_request_and_response() {
    let mut v = ServiceNames(Vec::new());
    visit_all_services(&mut v);
    assert_eq!(v.0, ALL_SERVICE_TYPES);
    assert_eq!(
        mbarl_msgs::std_srvs::Trigger::type_name(),
        "std_srvs/srv/Trigger"
    );
    assert_eq!(
        mbarl_msgs::srv::SetPhase::type_name(),
        "mbarl_msgs/srv/SetPhase"
    );
}

#[test]
fn definitions_follow_rosbag2() {
    let sep = "=".repeat(80);
    let interfaces = Path::new(env!("CARGO_MANIFEST_DIR")).join("interfaces");
    let read = |p: &str| std::fs::read_to_string(interfaces.join(p)).unwrap();
    let header = read("std_msgs/msg/Header.msg");
    let time = read("builtin_interfaces/msg/Time.msg");
    assert_eq!(
        mbarl_msgs::std_msgs::Header::DEFINITION,
        format!("{header}\n{sep}\nMSG: builtin_interfaces/Time\n{time}")
    );
    assert_eq!(mbarl_msgs::builtin_interfaces::Time::DEFINITION, time);
    assert_eq!(
        message_definition("std_msgs/msg/Header"),
        Some(mbarl_msgs::std_msgs::Header::DEFINITION)
    );
    assert_eq!(message_definition("std_msgs/msg/Nope"), None);

    // Every dependency once; the own text first.
    for name in ALL_MESSAGE_TYPES {
        let def = message_definition(name).unwrap();
        let deps: Vec<&str> = def
            .lines()
            .filter_map(|l| l.strip_prefix("MSG: "))
            .collect();
        let unique: BTreeSet<&&str> = deps.iter().collect();
        assert_eq!(unique.len(), deps.len(), "{name}: a dependency twice");
        assert_eq!(def.matches(&sep).count(), deps.len(), "{name}");
    }
    let transition = mbarl_msgs::msg::Transition::DEFINITION;
    let order: Vec<&str> = transition
        .lines()
        .filter_map(|l| l.strip_prefix("MSG: "))
        .collect();
    assert_eq!(
        order,
        [
            "mbarl_msgs/Observation",
            "std_msgs/Header",
            "builtin_interfaces/Time"
        ]
    );
    assert!(transition.starts_with("# One executed control step"));
}

#[test]
fn constants_and_special_fields() {
    use mbarl_msgs::msg::{Phase, PolicyAction};
    assert_eq!(
        [
            Phase::FORWARD,
            Phase::BACKWARD,
            Phase::EVAL,
            Phase::PAUSED,
            Phase::NEEDS_HELP
        ],
        [0, 1, 2, 3, 4]
    );
    assert_eq!(PolicyAction::POLICY_BACKWARD, 1);
    // An empty message is one octet 0, as ROS 2 writes it.
    assert_eq!(
        cdr::encode(&mbarl_msgs::std_msgs::Empty::default()),
        [0, 1, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        mbarl_msgs::std_srvs::TriggerRequest::type_name(),
        "std_srvs/srv/Trigger_Request"
    );
}
