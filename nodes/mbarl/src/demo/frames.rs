//! Frames of a demo import: where a step's preprocessed pixels are, and transitions serialized
//! with their frames taken from there (copied once, straight into the dataset's chunk).

use std::ops::Range;

use mbarl_bag::Payload;
use mbarl_msgs::msg::{Observation, Transition};
use serde::ser::{Serialize, SerializeStruct, Serializer};

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

struct ObservationWithFrame<'a>(&'a Observation, &'a [u8]);

/// `uint8[]` as the generated types serialize it (`serde_bytes`).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for WithFrames<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
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
        let mut st = s.serialize_struct("Transition", 12)?;
        st.serialize_field("header", header)?;
        st.serialize_field("step", step)?;
        st.serialize_field("phase", phase)?;
        st.serialize_field("cycle", cycle)?;
        st.serialize_field(
            "observation",
            &ObservationWithFrame(observation, self.observation),
        )?;
        st.serialize_field("action", action)?;
        st.serialize_field("commanded_position", commanded_position)?;
        st.serialize_field("clamped", clamped)?;
        st.serialize_field("task_reward", task_reward)?;
        st.serialize_field("has_task_reward", has_task_reward)?;
        st.serialize_field(
            "next_observation",
            &ObservationWithFrame(next_observation, self.next_observation),
        )?;
        st.serialize_field("phase_end", phase_end)?;
        st.end()
    }
}

impl Serialize for ObservationWithFrame<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Observation {
            header,
            seq,
            latent,
            encoder_version,
            joint_names,
            joint_position,
            joint_velocity,
            state,
            frame_width,
            frame_height,
            frame: _,
        } = self.0;
        let mut st = s.serialize_struct("Observation", 11)?;
        st.serialize_field("header", header)?;
        st.serialize_field("seq", seq)?;
        st.serialize_field("latent", latent)?;
        st.serialize_field("encoder_version", encoder_version)?;
        st.serialize_field("joint_names", joint_names)?;
        st.serialize_field("joint_position", joint_position)?;
        st.serialize_field("joint_velocity", joint_velocity)?;
        st.serialize_field("state", state)?;
        st.serialize_field("frame_width", frame_width)?;
        st.serialize_field("frame_height", frame_height)?;
        st.serialize_field("frame", &Bytes(self.1))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mbarl_msgs::builtin_interfaces::Time;
    use mbarl_msgs::std_msgs::Header;

    fn observation(seed: u8) -> Observation {
        Observation {
            header: Header {
                stamp: Time::new(3, 5 + seed as u32),
                frame_id: "cam".into(),
            },
            seq: 7 + seed as u64,
            latent: vec![0.5; seed as usize % 3],
            encoder_version: 2,
            joint_names: vec!["a".into(), "bb".into()],
            joint_position: vec![0.1, -0.2],
            joint_velocity: vec![1.5],
            state: vec![3.0; 3],
            frame_width: 2,
            frame_height: 1,
            frame: Vec::new(),
        }
    }

    #[test]
    fn with_frames_is_the_transition_with_its_frames() {
        for (obs, next) in [
            (&[1u8, 2, 3, 4, 5, 6][..], &[][..]),
            (&[9u8; 7][..], &[8u8; 5][..]),
            (&[][..], &[][..]),
        ] {
            let tr = Transition {
                header: Header {
                    stamp: Time::new(1, 2),
                    frame_id: "x".into(),
                },
                step: 11,
                phase: 2,
                cycle: 3,
                observation: observation(1),
                action: vec![0.25, -1.0, 1.0],
                commanded_position: vec![0.3, 0.4],
                clamped: true,
                task_reward: 0.75,
                has_task_reward: true,
                next_observation: observation(2),
                phase_end: true,
            };
            let mut full = tr.clone();
            full.observation.frame = obs.to_vec();
            full.next_observation.frame = next.to_vec();
            let got = mbarl_msgs::cdr::encode(&WithFrames {
                transition: &tr,
                observation: obs,
                next_observation: next,
            });
            assert_eq!(got, mbarl_msgs::cdr::encode(&full));
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
