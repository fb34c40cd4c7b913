//! Reading demo datasets (`mbarl demo import`): `mbarl_msgs/msg/Transition`s on
//! [`TRANSITIONS_TOPIC`], with shared next-observation frames restored.
//!
//! Within an episode, transition t's `next_observation` is transition t+1's `observation` (the
//! same step, the same `seq`). A compact dataset (format `mbarl-demo-dataset/2`, see its
//! `dataset.yaml`) stores that frame once: `next_observation.frame` is empty while
//! `frame_width`/`frame_height` say its size, and the frame is the next transition's
//! `observation.frame`. The last transition of an episode (`phase_end`) carries its own. The
//! [`Transitions`] reader gives every transition whole, for compact and full datasets alike:
//! everything that reads datasets reads them through it.

use std::path::{Path, PathBuf};

use mbarl_msgs::msg::Transition;

use crate::error::{BagError, Result};
use crate::reader::{Bag, Messages, ReadOptions};

/// The topic demo transitions are stored on.
pub const TRANSITIONS_TOPIC: &str = "/mbarl/demo/transitions";

/// Whether a stored transition's next-observation frame is left to the next transition.
pub fn next_frame_is_shared(t: &Transition) -> bool {
    let n = &t.next_observation;
    n.frame.is_empty() && n.frame_width > 0 && n.frame_height > 0
}

/// Streams the transitions of a dataset in order, each with its next-observation frame.
pub struct Transitions {
    messages: Messages,
    path: PathBuf,
    /// The transition read ahead to complete the one before it.
    ahead: Option<Result<Transition>>,
}

impl Transitions {
    /// Opens a dataset directory (or any bag with [`TRANSITIONS_TOPIC`]). With `skip_corrupt`,
    /// damaged parts are reported as errors in the stream and reading goes on after them.
    pub fn open(dir: impl AsRef<Path>, skip_corrupt: bool) -> Result<Self> {
        let bag = Bag::open(dir.as_ref())?;
        bag.topic(TRANSITIONS_TOPIC)?;
        Ok(Self::new(&bag, skip_corrupt))
    }

    /// The transitions of an opened bag.
    pub fn new(bag: &Bag, skip_corrupt: bool) -> Self {
        Self {
            messages: bag.messages(ReadOptions {
                topics: Some(vec![TRANSITIONS_TOPIC.into()]),
                skip_corrupt,
            }),
            path: bag.path().to_path_buf(),
            ahead: None,
        }
    }

    fn read(&mut self) -> Option<Result<Transition>> {
        self.messages
            .next()
            .map(|m| m.and_then(|m| m.decode::<Transition>()))
    }

    fn missing_next(&self, t: &Transition, why: &str) -> BagError {
        BagError::Corrupt {
            path: self.path.clone(),
            location: crate::Location::Byte(0),
            topics: crate::Topics(vec![TRANSITIONS_TOPIC.into()]),
            reason: format!(
                "transition at step {} shares its next frame (observation seq {}) with the next transition, {why}",
                t.step, t.next_observation.seq
            ),
        }
    }
}

impl Iterator for Transitions {
    type Item = Result<Transition>;

    fn next(&mut self) -> Option<Result<Transition>> {
        let mut t = match self.ahead.take().or_else(|| self.read())? {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        if !next_frame_is_shared(&t) {
            return Some(Ok(t));
        }
        self.ahead = self.read();
        let err = match &self.ahead {
            Some(Ok(n)) if n.observation.seq == t.next_observation.seq => {
                let o = &n.observation;
                let n_ = &t.next_observation;
                if (o.frame_width, o.frame_height) == (n_.frame_width, n_.frame_height)
                    && !o.frame.is_empty()
                {
                    t.next_observation.frame = o.frame.clone();
                    return Some(Ok(t));
                }
                self.missing_next(&t, "which has a different frame size")
            }
            Some(Ok(n)) => self.missing_next(
                &t,
                &format!(
                    "but the next transition's observation has seq {}",
                    n.observation.seq
                ),
            ),
            Some(Err(_)) => self.missing_next(&t, "which is unreadable"),
            None => self.missing_next(&t, "but the dataset ends"),
        };
        Some(Err(err))
    }
}

/// Every transition of a dataset in order, whole. With `skip_corrupt`, unreadable transitions
/// are left out and listed in the second value; otherwise the first error is returned.
pub fn read_transitions(
    dir: impl AsRef<Path>,
    skip_corrupt: bool,
) -> Result<(Vec<Transition>, Vec<BagError>)> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for t in Transitions::open(dir, skip_corrupt)? {
        match t {
            Ok(t) => out.push(t),
            Err(e) if skip_corrupt => skipped.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok((out, skipped))
}
