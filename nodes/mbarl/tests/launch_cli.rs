//! `mbarl launch` stopped as a service manager, `timeout` or a closed terminal stops it
//! (SIGTERM, SIGHUP): its processes get SIGINT, as on Ctrl-C, and none is left running.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stops_on(signal: libc::c_int) {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("got-sigint");
    let ready = dir.path().join("ready");
    let launch = dir.path().join("launch.yaml");
    std::fs::write(
        &launch,
        format!(
            "run_dir: {}\nprocesses:\n  - name: polite\n    cmd: [sh, -c, 'trap \"touch {}; exit 0\" INT; touch {}; while true; do sleep 0.05; done']\n    ros: false\n",
            dir.path().display(),
            marker.display(),
            ready.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mbarl"))
        .args(["launch", "--status-every", "0"])
        .arg(&launch)
        .stdout(Stdio::null())
        .spawn()
        .expect("start mbarl launch");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "the launched process did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "mbarl launch did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "mbarl launch exited with {status}");
    assert!(marker.exists(), "the launched process did not get SIGINT");
}

#[test]
fn sigterm_stops_the_suite_as_ctrl_c_does() {
    stops_on(libc::SIGTERM);
}

#[test]
fn sighup_stops_the_suite_as_ctrl_c_does() {
    stops_on(libc::SIGHUP);
}
