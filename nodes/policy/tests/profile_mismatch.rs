//! A learn config whose action size does not fit the robot profile stops the policy node at
//! start-up with a message naming both (before, it refused every demonstration with a warning
//! and trained on without them).
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn an_action_size_that_does_not_fit_the_profile_stops_start_up_naming_both() {
    let root = mbarl_testkit::repo_root();
    let run = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_forward_policy"))
        .args(["--ros-args", "--params-file"])
        .arg(root.join("config/robots/sim_arm.yaml"))
        .args(["-p", "command_interface:=cartesian_pose"])
        .args(["-p", "cartesian.step_xyz:=[0.01, 0.01, 0.01]"])
        .args(["-p"])
        .arg(format!(
            "learn_config:={}",
            root.join("config/presets/state.yaml").display()
        ))
        .args(["-p"])
        .arg(format!("run_dir:={}", run.path().display()))
        .env("ROS_DOMAIN_ID", mbarl_testkit::domain(76).to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("forward_policy kept running with a mismatched learn config");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains("cartesian_pose takes 3-value actions") && err.contains("obs.action_dim is 4"),
        "{err}"
    );
}
