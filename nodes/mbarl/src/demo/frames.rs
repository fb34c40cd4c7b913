//! Frames of a demo import: where a step's preprocessed pixels are, and transitions serialized
//! with their frames taken from there (copied once, straight into the dataset's chunk).

use std::ops::Range;

use mbarl_bag::Payload;
use mbarl_msgs::msg::{Observation, Transition};
use mbarl_msgs::std_msgs::Header;

/// A step's preprocessed frame (rgb8, `width × height × 3` bytes).
#[derive(Debug)]
pub struct StepFrame {
    pub width: u32,
    pub height: u32,
    pixels: Pixels,
}

#[derive(Debug)]
enum Pixels {
    /// Preprocessing left the pixels as they are: they are read from the bag's buffer.
    Bag(Payload, Range<usize>),
    /// A buffer of the frame's own.
    Owned(Vec<u8>),
}

impl StepFrame {
    /// The frame `data[range]` of a message's bytes, in place.
    pub fn in_bag(width: u32, height: u32, data: &Payload, range: Range<usize>) -> Self {
        let range = range.start.min(data.len())..range.end.min(data.len());
        Self {
            width,
            height,
            pixels: Pixels::Bag(data.clone(), range),
        }
    }

    /// A frame in a buffer of its own.
    pub fn owned(frame: mbarl_vision::Frame) -> Self {
        Self {
            width: frame.width,
            height: frame.height,
            pixels: Pixels::Owned(frame.data),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.pixels {
            Pixels::Bag(p, r) => &p[r.clone()],
            Pixels::Owned(v) => v,
        }
    }

    /// The buffer of an owned frame, to reuse.
    pub fn into_buffer(self) -> Option<Vec<u8>> {
        match self.pixels {
            Pixels::Owned(v) => Some(v),
            Pixels::Bag(..) => None,
        }
    }
}

/// Where `inner` (a slice borrowed from `outer`) starts in `outer`.
pub fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

/// A transition serialized with the given frames as `observation.frame` and
/// `next_observation.frame` (the transition's own frame fields are not used): the same bytes
/// as `cdr::encode` of the transition with those frames set.
pub struct WithFrames<'a> {
    pub transition: &'a Transition,
    pub observation: &'a [u8],
    pub next_observation: &'a [u8],
}

impl WithFrames<'_> {
    /// Appends the serialized message (encapsulation header + little-endian CDR) to `buf`.
    /// Written field by field (this runs for every transition of an import); the test checks
    /// it against the serde encoder.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&mbarl_msgs::cdr::HEADER_CDR_LE);
        let mut w = Cdr {
            base: buf.len(),
            buf,
        };
        // Exhaustive, in the message's field order: a field added to Transition breaks this.
        let Transition {
            header,
            step,
            phase,
            cycle,
            observation,
            action,
            commanded_position,
            clamped,
            task_reward,
            has_task_reward,
            next_observation,
            phase_end,
        } = self.transition;
        w.header(header);
        w.u64(*step);
        w.u8(*phase);
        w.u32(*cycle);
        w.observation(observation, self.observation);
        w.f32s(action);
        w.f64s(commanded_position);
        w.u8(u8::from(*clamped));
        w.f32(*task_reward);
        w.u8(u8::from(*has_task_reward));
        w.observation(next_observation, self.next_observation);
        w.u8(u8::from(*phase_end));
    }
}

/// Little-endian CDR (XCDR1) into a buffer: each value aligned to its size from `base` (the
/// body's start), padding written as zeros.
struct Cdr<'a> {
    buf: &'a mut Vec<u8>,
    base: usize,
}

impl Cdr<'_> {
    fn align(&mut self, n: usize) {
        let pad = (n - (self.buf.len() - self.base) % n) % n;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.align(2);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }

    /// A sequence's length (CDR lengths are u32: longer sequences cannot be messages).
    fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }

    fn string(&mut self, s: &str) {
        self.len(s.len() + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }

    fn f32s(&mut self, v: &[f32]) {
        self.len(v.len());
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn f64s(&mut self, v: &[f64]) {
        self.len(v.len());
        if !v.is_empty() {
            self.align(8);
        }
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn header(&mut self, h: &Header) {
        self.u32(h.stamp.sec as u32);
        self.u32(h.stamp.nanosec);
        self.string(&h.frame_id);
    }

    fn observation(&mut self, o: &Observation, frame: &[u8]) {
        let Observation {
            header,
            seq,
            latent,
            encoder_version,
            joint_names,
            joint_position,
            joint_velocity,
            joint_command,
            state,
            frame_width,
            frame_height,
            frame: _,
        } = o;
        self.header(header);
        self.u64(*seq);
        self.f32s(latent);
        self.u32(*encoder_version);
        self.len(joint_names.len());
        for n in joint_names {
            self.string(n);
        }
        self.f64s(joint_position);
        self.f64s(joint_velocity);
        self.f64s(joint_command);
        self.f32s(state);
        self.u16(*frame_width);
        self.u16(*frame_height);
        self.bytes(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mbarl_msgs::builtin_interfaces::Time;
    use mbarl_msgs::std_msgs::Header;

    fn observation(seed: usize) -> Observation {
        Observation {
            header: Header {
                stamp: Time::new(3 - seed as i32, 5 + seed as u32),
                frame_id: "c".repeat(seed % 5),
            },
            seq: 7 + seed as u64,
            latent: vec![0.5; seed % 3],
            encoder_version: seed as u32,
            joint_names: (0..seed % 4).map(|j| "j".repeat(j + seed % 3)).collect(),
            joint_position: vec![0.1; seed % 3],
            joint_velocity: vec![1.5; seed % 2],
            joint_command: vec![0.25; seed % 3 / 2],
            state: vec![3.0; seed % 4],
            frame_width: seed as u16,
            frame_height: 1,
            frame: Vec::new(),
        }
    }

    #[test]
    fn with_frames_is_the_transition_with_its_frames() {
        // Lengths that put every field at every alignment.
        for seed in 0..96usize {
            let obs: Vec<u8> = (0..seed % 7).map(|i| i as u8).collect();
            let next = vec![8u8; seed % 5];
            let tr = Transition {
                header: Header {
                    stamp: Time::new(1, 2),
                    frame_id: "x".repeat(seed % 3),
                },
                step: seed as u64,
                phase: 2,
                cycle: 3,
                observation: observation(seed),
                action: vec![0.25; seed % 5],
                commanded_position: vec![0.3; (seed / 2) % 3],
                clamped: seed % 2 == 0,
                task_reward: 0.75,
                has_task_reward: seed % 3 == 0,
                next_observation: observation(seed / 3),
                phase_end: seed % 4 == 0,
            };
            let mut full = tr.clone();
            full.observation.frame = obs.clone();
            full.next_observation.frame = next.clone();
            let mut got = vec![0xEE; 3]; // appends after what the buffer holds
            WithFrames {
                transition: &tr,
                observation: &obs,
                next_observation: &next,
            }
            .encode_into(&mut got);
            let got = got.split_off(3);
            assert_eq!(got, mbarl_msgs::cdr::encode(&full), "seed {seed}");
            assert_eq!(mbarl_msgs::cdr::decode::<Transition>(&got).unwrap(), full);
        }
    }

    #[test]
    fn frames_in_the_bag_or_owned() {
        let data = Payload::from((0..20u8).collect::<Vec<_>>());
        let f = StepFrame::in_bag(2, 1, &data, 4..10);
        assert_eq!(f.bytes(), &[4, 5, 6, 7, 8, 9]);
        assert!(f.into_buffer().is_none());
        let f = StepFrame::owned(mbarl_vision::Frame {
            width: 1,
            height: 1,
            data: vec![1, 2, 3],
        });
        assert_eq!((f.width, f.bytes()), (1, &[1u8, 2, 3][..]));
        assert_eq!(f.into_buffer(), Some(vec![1, 2, 3]));
        assert_eq!(offset_in(&data, &data[3..8]), Some(3));
        assert_eq!(offset_in(&data[5..], &data[3..8]), None);
        assert_eq!(offset_in(&data[..6], &data[3..8]), None);
    }
}
