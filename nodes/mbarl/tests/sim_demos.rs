//! Item 5 of the bag issue: the sim's scripted expert, recorded with `mbarl record` and imported
//! with `mbarl demo import` by `sim/record_demos.sh`, gives a demo dataset.

use std::process::Command;

use mbarl_msgs::msg::{Phase, Transition};

/// Runs `sim/record_demos.sh` for `task`'s `role` (2 episodes) into `run`; its stderr.
fn record_demos(task: &str, role: &str, slot: u16, run: &std::path::Path) -> String {
    let out = Command::new("bash")
        .arg(mbarl_testkit::repo_root().join("sim/record_demos.sh"))
        .args(["--task", task, "--episodes", "2", "--roles", role])
        .args(["--domain", &mbarl_testkit::domain(slot).to_string()])
        .args(["--run-dir", run.to_str().unwrap()])
        .args(["--mbarl", env!("CARGO_BIN_EXE_mbarl")])
        .output()
        .expect("run sim/record_demos.sh");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "record_demos.sh failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn record_demos_script_makes_a_dataset_from_the_sim_expert() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    record_demos("reach", "backward", 87, &run);
    let dataset = run.join("demos/backward/reach");
    let (trs, _): (Vec<Transition>, _) =
        mbarl_bag::demo::read_transitions(&dataset, false).unwrap();
    assert!(trs.len() >= 10, "{} transitions", trs.len());
    assert_eq!(
        trs.iter().filter(|t| t.phase_end).count(),
        2,
        "two episodes"
    );
    assert!(trs.iter().all(|t| t.phase == Phase::BACKWARD));
    assert!(trs.iter().all(|t| t.observation.frame.len() == 64 * 64 * 3
        && t.next_observation.frame.len() == 64 * 64 * 3
        && t.observation.joint_position.len() == 4));
    // The sim's ground-truth task state is evaluation-only: never in a demonstration.
    assert!(
        trs.iter().all(|t| t.observation.state.is_empty()),
        "sim ground truth leaked into the demos"
    );
    assert!(
        trs.iter()
            .all(|t| t.action.len() == 4 && t.action.iter().all(|a| (-1.0..=1.0).contains(a)))
    );
    let yaml = std::fs::read_to_string(dataset.join("dataset.yaml")).unwrap();
    assert!(yaml.contains("actions_from_commands"), "{yaml}");
}

/// The simulated Panda's expert commands end-effector pose targets and the gripper: imported
/// with the sim Franka profile, each action is the arbiter's end-effector step between targets
/// (x, y, z, at most 1 each) and the gripper's value (+1: open).
#[test]
fn franka_demos_are_end_effector_steps_with_the_gripper() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stderr = record_demos("franka_reach", "forward", 78, &run);
    assert!(
        !stderr.contains("does not use"),
        "every command topic is used:\n{stderr}"
    );
    let (trs, _): (Vec<Transition>, _) =
        mbarl_bag::demo::read_transitions(run.join("demos/forward/franka_reach"), false).unwrap();
    assert!(trs.len() >= 40, "{} transitions", trs.len());
    for t in &trs {
        assert_eq!(t.action.len(), 4, "x, y, z and the gripper");
        assert_eq!(t.observation.joint_position.len(), 7);
        assert!(t.observation.joint_command.is_empty());
        assert_eq!(t.commanded_position.len(), 7, "the pose target");
        assert_eq!(t.action[3], 1.0, "the gripper stays open");
    }
    // the expert steps 1 cm a period towards the goal (+x, +y, -z): full-scale steps along
    // its direction in the middle of each episode; every value within [-1, 1]
    let mid = &trs[trs.len() / 4];
    let a = &mid.action;
    assert!(a[0] > 0.3 && a[1] > 0.3 && a[2] < -0.3, "{a:?}");
    let norm = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    assert!(
        (norm - 1.0).abs() < 0.05,
        "a 1 cm step is a unit action: {a:?}"
    );
    assert!(
        trs.iter()
            .all(|t| t.action.iter().all(|v| (-1.0..=1.0).contains(v)))
    );
}
