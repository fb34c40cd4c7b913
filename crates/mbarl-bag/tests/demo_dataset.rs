//! The demo dataset reader restores the next-observation frames a compact dataset shares.

use mbarl_bag::demo::{TRANSITIONS_TOPIC, Transitions, next_frame_is_shared, read_transitions};
use mbarl_bag::{BagWriter, QosProfile, WriterOptions};
use mbarl_msgs::msg::{Observation, Transition};

fn observation(seq: u64) -> Observation {
    Observation {
        seq,
        frame_width: 2,
        frame_height: 1,
        frame: (0..6).map(|i| (seq * 10 + i) as u8).collect(),
        joint_position: vec![seq as f64],
        ..Default::default()
    }
}

/// Full transitions of two episodes (steps 0..4 → seq 1..5, steps 5..7 → seq 11..13).
fn full() -> Vec<Transition> {
    let mut out = Vec::new();
    for (first, len) in [(1u64, 4u64), (11, 2)] {
        for k in 0..len {
            out.push(Transition {
                step: out.len() as u64,
                observation: observation(first + k),
                next_observation: observation(first + k + 1),
                phase_end: k == len - 1,
                ..Default::default()
            });
        }
    }
    out
}

/// As `mbarl demo import` stores them: shared next frames left empty within an episode.
fn compact(full: &[Transition]) -> Vec<Transition> {
    full.iter()
        .map(|t| {
            let mut t = t.clone();
            if !t.phase_end {
                t.next_observation.frame.clear();
            }
            t
        })
        .collect()
}

fn write(dir: &std::path::Path, trs: &[Transition]) {
    let mut w = BagWriter::create(dir, WriterOptions::default()).unwrap();
    let topic = w
        .add_topic::<Transition>(TRANSITIONS_TOPIC, &[QosProfile::new(true, false, 100)])
        .unwrap();
    for (i, t) in trs.iter().enumerate() {
        w.write(topic, 1_000 + i as u64, t).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn compact_and_full_datasets_read_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let full = full();
    let compact = compact(&full);
    assert_eq!(
        compact.iter().filter(|t| next_frame_is_shared(t)).count(),
        4
    );
    for (name, stored) in [("full", &full), ("compact", &compact)] {
        let dir = tmp.path().join(name);
        write(&dir, stored);
        let (got, skipped) = read_transitions(&dir, false).unwrap();
        assert!(skipped.is_empty(), "{name}");
        assert_eq!(got, full, "{name}");
    }
}

#[test]
fn a_shared_frame_without_its_transition_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let full = full();
    let mut stored = compact(&full);
    // The transition that holds step 1's next frame (seq 3) is missing.
    stored.remove(2);
    let dir = tmp.path().join("gap");
    write(&dir, &stored);
    let items: Vec<_> = Transitions::open(&dir, true).unwrap().collect();
    assert_eq!(items.len(), stored.len());
    let errors: Vec<String> = items
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("seq 3"), "{}", errors[0]);
    let (got, skipped) = read_transitions(&dir, true).unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(got.len(), stored.len() - 1);
    assert!(got.iter().all(|t| !t.next_observation.frame.is_empty()));
    assert!(read_transitions(&dir, false).is_err());
}
