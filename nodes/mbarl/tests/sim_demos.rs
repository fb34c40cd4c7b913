//! Item 5 of the bag issue: the sim's scripted expert, recorded with `mbarl record` and imported
//! with `mbarl demo import` by `sim/record_demos.sh`, gives a demo dataset.

use std::process::Command;

use mbarl_msgs::msg::{Phase, Transition};

#[test]
fn record_demos_script_makes_a_dataset_from_the_sim_expert() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = Command::new("bash")
        .arg(mbarl_testkit::repo_root().join("sim/record_demos.sh"))
        .args([
            "--task",
            "reach",
            "--episodes",
            "2",
            "--roles",
            "backward",
            "--domain",
            &mbarl_testkit::domain(87).to_string(),
        ])
        .args([
            "--run-dir",
            run.to_str().unwrap(),
            "--mbarl",
            env!("CARGO_BIN_EXE_mbarl"),
        ])
        .output()
        .expect("run sim/record_demos.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "record_demos.sh failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
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
