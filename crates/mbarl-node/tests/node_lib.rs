//! Conversions, checkpoint bundles and their store, and demo datasets from a generated bag.
use mbarl_learn::medal::ClassifierTrainer;
use mbarl_learn::{Component, Policy, WorldModel};
use mbarl_msgs::msg::{Phase, Transition};
use mbarl_node::store::CheckpointStore;
use mbarl_node::{bundle, convert, demos, synth};
use tch::Device;

#[test]
fn observations_and_transitions_convert_under_the_config() {
    let cfg = synth::small_state_config();
    let t = &synth::transitions(3, Phase::BACKWARD, 2, 10)[1];
    let r = convert::transition(t, &cfg, 1.5, false).unwrap();
    assert_eq!(r.obs.state.as_ref().unwrap().len(), 8);
    assert_eq!(r.phase, mbarl_learn::replay::Phase::Backward);
    assert_eq!((r.step, r.reward), (11, 1.5));
    let mut bad = t.clone();
    bad.observation.joint_position[0] = f64::NAN;
    assert!(convert::transition(&bad, &cfg, 0.0, false).is_err());
    let mut short = t.clone();
    short.action.pop();
    assert!(convert::transition(&short, &cfg, 0.0, false).is_err());
    let batch = convert::obs_batch(&[&r.obs, &r.next_obs], &cfg);
    assert_eq!(batch.state.unwrap().size(), [2, 8]);
}

#[test]
fn the_command_lead_makes_the_state_markov() {
    // state = positions ++ velocities ++ (joint_command − joint_position) with 3N joint values
    let mut cfg = synth::small_state_config();
    cfg.obs.state_dim = 12;
    let mut o = synth::observation(1, [0.1, 0.2, 0.3, -0.1]);
    fn state(o: &mbarl_msgs::msg::Observation, cfg: &mbarl_learn::LearnConfig) -> Vec<f32> {
        convert::observation(o, cfg).unwrap().state.unwrap()
    }
    assert_eq!(state(&o, &cfg)[8..], [0.0; 4], "no command yet: no lead");
    o.joint_command = vec![0.15, 0.2, 0.25, -0.1];
    let lead: Vec<f32> = state(&o, &cfg)[8..].to_vec();
    let want = [0.05f32, 0.0, -0.05, 0.0];
    assert!(
        lead.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
        "{lead:?}"
    );
    // the same in proprio (pixel mode's joint input): 3N
    cfg.obs.proprio_dim = 12;
    let r = convert::observation(&o, &cfg).unwrap();
    assert_eq!(r.proprio[8..], lead[..]);
    // 2N: positions ++ velocities, the lead left out
    cfg.obs.state_dim = 8;
    cfg.obs.proprio_dim = 0;
    assert_eq!(state(&o, &cfg).len(), 8);
    // N: positions only
    cfg.obs.state_dim = 4;
    assert_eq!(state(&o, &cfg), [0.1f32, 0.2, 0.3, -0.1]);
    // a command of another length, or not finite, is bad input
    cfg.obs.state_dim = 12;
    o.joint_command.pop();
    assert!(convert::observation(&o, &cfg).is_err());
    o.joint_command = vec![f64::NAN; 4];
    assert!(convert::observation(&o, &cfg).is_err());
}

#[test]
fn bundles_round_trip_through_messages_and_the_store() {
    let cfg = synth::small_state_config();
    let dir = tempfile::tempdir().unwrap();
    let w = WorldModel::new(&cfg, Device::Cpu).unwrap();
    let store = CheckpointStore::new(dir.path(), bundle::WORLD_MODEL, 3);
    for v in 1..=4 {
        store
            .save(&bundle::save_world_model(&w, &cfg, v).unwrap())
            .unwrap();
    }
    assert_eq!(store.versions(), vec![4, 3, 2]);
    // corrupt the newest: the previous valid version is used
    let newest = store.dir().join("v4.safetensors");
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[64] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();
    let ck = store.load_newest().unwrap();
    assert_eq!(ck.meta.version, 3);
    let msg = bundle::to_msg(&ck, Default::default());
    let back = bundle::from_msg(&msg).unwrap();
    let mut w2 = WorldModel::new(&cfg, Device::Cpu).unwrap();
    bundle::load_world_model(&mut w2, &cfg, &back).unwrap();
    // a policy bundle is not a world model
    let p = Policy::new(&cfg, Device::Cpu).unwrap();
    let pck = bundle::save_policy(&p, &cfg, "forward", 1).unwrap();
    assert!(bundle::load_world_model(&mut w2, &cfg, &pck).is_err());
    let mut p2 = Policy::new(&cfg, Device::Cpu).unwrap();
    bundle::load_policy(&mut p2, &cfg, "forward", &pck).unwrap();
    assert!(bundle::load_policy(&mut p2, &cfg, "backward", &pck).is_err());
    let d = ClassifierTrainer::new(&cfg, Device::Cpu, Component::DemoClassifier).unwrap();
    let g = ClassifierTrainer::new(&cfg, Device::Cpu, Component::GoalClassifier).unwrap();
    let cck = bundle::save_classifiers(&d, &g, &cfg, 2).unwrap();
    let (mut d2, mut g2) = (
        ClassifierTrainer::new(&cfg, Device::Cpu, Component::DemoClassifier).unwrap(),
        ClassifierTrainer::new(&cfg, Device::Cpu, Component::GoalClassifier).unwrap(),
    );
    bundle::load_classifiers(&mut d2, &mut g2, &cfg, &cck).unwrap();
    // a tampered message is refused
    let mut m = bundle::to_msg(&cck, Default::default());
    m.weights[10] ^= 1;
    assert!(bundle::from_msg(&m).is_err());
}

fn write_dataset(run_dir: &std::path::Path, role: &str, name: &str, ts: &[Transition]) {
    synth::write_demo_dataset(run_dir, role, name, ts).unwrap();
}

/// A one-transition forward dataset `name` whose bag stores `definition` for Transition.
fn write_dataset_defined_as(run_dir: &std::path::Path, name: &str, definition: &str) {
    use mbarl_bag::{BagWriter, QosProfile, WriterOptions};
    use mbarl_msgs::RosMessage;
    std::fs::create_dir_all(run_dir.join("demos/forward")).unwrap();
    let mut w = BagWriter::create(
        run_dir.join("demos/forward").join(name),
        WriterOptions::default(),
    )
    .unwrap();
    let topic = w
        .add_topic_raw(
            demos::TRANSITIONS_TOPIC,
            &Transition::type_name(),
            definition,
            &[QosProfile::new(true, false, 100)],
        )
        .unwrap();
    w.write(topic, 0, &synth::transitions(1, Phase::FORWARD, 0, 0)[0])
        .unwrap();
    w.finish().unwrap();
}

#[test]
fn a_dataset_of_another_transition_layout_is_refused_with_how_to_reimport() {
    use mbarl_msgs::RosMessage;
    let dir = tempfile::tempdir().unwrap();
    // the definition an earlier mbarl wrote: Observation without joint_command
    let old = Transition::DEFINITION.replace("float64[] joint_command", "");
    assert_ne!(old, Transition::DEFINITION);
    write_dataset_defined_as(dir.path(), "old", &old);
    let e = demos::load_role(dir.path(), "forward")
        .unwrap_err()
        .to_string();
    assert!(e.contains("mbarl demo import"), "{e}");
    // the current layout loads, also when stored with other comments and spacing
    std::fs::remove_dir_all(dir.path().join("demos/forward/old")).unwrap();
    let restyled =
        Transition::DEFINITION.replace("float64[] joint_command", "float64[]   joint_command # c");
    write_dataset_defined_as(dir.path(), "restyled", &restyled);
    assert_eq!(demos::load_role(dir.path(), "forward").unwrap().len(), 1);
    write_dataset(
        dir.path(),
        "backward",
        "new",
        &synth::transitions(2, Phase::BACKWARD, 0, 0),
    );
    assert_eq!(demos::load_role(dir.path(), "backward").unwrap().len(), 2);
}

#[test]
fn demos_of_another_arm_stop_start_up_naming_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = synth::small_state_config(); // 4 joints: state_dim 8, action_dim 4
    write_dataset(
        dir.path(),
        "backward",
        "b",
        &synth::transitions(3, Phase::BACKWARD, 0, 0),
    );
    demos::check_fits(dir.path(), &cfg).unwrap();
    // a 7-joint arm's demos
    let mut seven = synth::transitions(3, Phase::FORWARD, 0, 0);
    for t in &mut seven {
        for o in [&mut t.observation, &mut t.next_observation] {
            o.joint_names = (1..=7).map(|i| format!("fr3_joint{i}")).collect();
            o.joint_position = vec![0.1; 7];
            o.joint_velocity = vec![0.0; 7];
        }
        t.action = vec![0.0; 7];
    }
    write_dataset(dir.path(), "forward", "panda", &seven);
    let e = demos::check_fits(dir.path(), &cfg).unwrap_err().to_string();
    for part in [
        "panda",
        "7 joints",
        "fr3_joint1",
        "actions of 7",
        "obs.action_dim 4",
        "obs.state_dim 8",
    ] {
        assert!(e.contains(part), "{part} missing from: {e}");
    }
}

#[test]
fn demo_datasets_load_by_role() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(
        dir.path(),
        "forward",
        "a",
        &synth::transitions(5, Phase::FORWARD, 0, 0),
    );
    write_dataset(
        dir.path(),
        "forward",
        "b",
        &synth::transitions(3, Phase::FORWARD, 1, 0),
    );
    assert_eq!(demos::load_role(dir.path(), "forward").unwrap().len(), 8);
    assert!(demos::load_role(dir.path(), "backward").unwrap().is_empty());
    let ts = demos::load_role(dir.path(), "forward").unwrap();
    assert_eq!(ts.iter().filter(|t| t.phase_end).count(), 2);
}

#[test]
fn state_from_demos_standardises_by_the_demo_states_of_both_roles() {
    let dir = tempfile::tempdir().unwrap();
    let fwd = synth::transitions(6, Phase::FORWARD, 0, 0);
    let bwd = synth::transitions(4, Phase::BACKWARD, 1, 6);
    write_dataset(dir.path(), "forward", "a", &fwd);
    write_dataset(dir.path(), "backward", "b", &bwd);
    let mut cfg = synth::small_state_config();
    cfg.encoder.state_from_demos = true;
    cfg.validate().unwrap();
    mbarl_node::common::resolve_state_norm(&mut cfg, dir.path()).unwrap();
    assert!(
        !cfg.encoder.state_from_demos,
        "the config now holds the numbers"
    );
    // Joint 2's position, by hand: the mean of the 10 demo observations.
    let q2: Vec<f64> = fwd
        .iter()
        .chain(&bwd)
        .map(|t| t.observation.joint_position[1])
        .collect();
    let mean = q2.iter().sum::<f64>() / q2.len() as f64;
    let std = (q2.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / q2.len() as f64).sqrt();
    assert!((cfg.encoder.state_shift[1] - mean).abs() < 1e-5);
    assert!((cfg.encoder.state_scale[1] - 1.0 / std.max(0.05)).abs() < 1e-3);
    // Velocities are 0 throughout: scaled by 1 / floor.
    assert!((cfg.encoder.state_scale[5] - 20.0).abs() < 1e-9);
    // The same run dir gives the same numbers (every node computes them on its own).
    let mut again = synth::small_state_config();
    again.encoder.state_from_demos = true;
    mbarl_node::common::resolve_state_norm(&mut again, dir.path()).unwrap();
    assert_eq!(again.encoder, cfg.encoder);
}

#[test]
fn state_from_demos_without_demos_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = synth::small_state_config();
    cfg.encoder.state_from_demos = true;
    let err = mbarl_node::common::resolve_state_norm(&mut cfg, dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder.state_from_demos") && err.contains("demos"),
        "{err}"
    );
}

#[test]
fn a_proprio_size_that_does_not_fit_the_robot_is_named_at_start_up() {
    use mbarl_node::convert::check_proprio_size;
    let mut cfg = mbarl_node::synth::small_state_config();
    for (d, ok) in [(0, true), (7, true), (14, true), (21, true), (8, false)] {
        cfg.obs.proprio_dim = d;
        assert_eq!(check_proprio_size(&cfg, 7).is_ok(), ok, "proprio_dim {d}");
    }
    cfg.obs.proprio_dim = 8;
    let e = check_proprio_size(&cfg, 7).unwrap_err().to_string();
    assert!(
        e.contains("obs.proprio_dim is 8") && e.contains("7 joints"),
        "{e}"
    );
}
