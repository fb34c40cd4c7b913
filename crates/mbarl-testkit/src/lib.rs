//! Test support: a real ROS 2 Jazzy peer (rclpy + Fast DDS, `tests/ros_peer/peer.py`) and other
//! child processes (the MuJoCo sim bridge, node binaries) that are killed when dropped.
//! A missing peer is a test failure, never a skip: run `scripts/setup.sh` to install it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TIMEOUT: Duration = Duration::from_secs(40);

/// The highest test slot ([`domain`]).
pub const MAX_DOMAIN_SLOT: u16 = 115;

/// The ROS domain id of test slot `slot`, kept out of Linux's ephemeral port range
/// (32768-60999): slots 0..=101 are domains 0..=101 and slots 102..=115 are domains 215..=228,
/// the ids whose RTPS ports no outgoing socket can take (ROS 2's domain id guide). With a higher
/// id, any process's outgoing socket can hold a participant's port and discovery fails at random:
/// CI's transport test timed out twice at domain 180. `$MBARL_TEST_DOMAIN_OFFSET`, when set,
/// is added (a caller's choice; scripts/test.sh leaves it at 0 and lets a second test run on
/// the host wait for the first, so two runs never hear each other). The same rule for the
/// Python tests: tests/domains.py.
pub fn domain(slot: u16) -> u16 {
    assert!(
        slot <= MAX_DOMAIN_SLOT,
        "test domain slot {slot} > {MAX_DOMAIN_SLOT}"
    );
    let offset = match std::env::var("MBARL_TEST_DOMAIN_OFFSET") {
        Ok(v) => v
            .trim()
            .parse::<u16>()
            .unwrap_or_else(|_| panic!("MBARL_TEST_DOMAIN_OFFSET=`{v}` is not a number")),
        Err(_) => 0,
    };
    let safe = if slot <= 101 {
        slot
    } else {
        215 + (slot - 102)
    };
    let id = safe + offset;
    assert!(
        id <= 232,
        "test domain {id} (slot {slot} + MBARL_TEST_DOMAIN_OFFSET {offset}) is above 232"
    );
    id
}

/// The repository root: `$MBARL_ROOT` (set by scripts/env.sh), else two levels above the
/// running test's package (`cargo test` sets `CARGO_MANIFEST_DIR` at run time; every package
/// sits at `crates/NAME` or `nodes/NAME`), else where this crate was built from. A shared
/// target dir may hold a build from another checkout (cargo does not rebuild a moved
/// workspace), so the compile-time path comes last.
pub fn repo_root() -> PathBuf {
    std::env::var_os("MBARL_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(|d| PathBuf::from(d).join("../..")))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

pub fn ros_python() -> PathBuf {
    let path = std::env::var_os("MBARL_ROS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/mbarl/venv-ros/bin/python")
        });
    assert!(
        path.exists(),
        "the ROS 2 peer (rclpy) is not installed at {}: run scripts/setup.sh (or set MBARL_ROS_PYTHON)",
        path.display()
    );
    path
}

pub struct Peer {
    child: Child,
    events: Receiver<Value>,
    args: Vec<String>,
}

impl Peer {
    /// Starts `peer.py ARGS…` in DDS domain `domain`.
    pub fn start(domain: u16, args: &[&str]) -> Peer {
        let script = repo_root().join("tests/ros_peer/peer.py");
        let mut child = Command::new(ros_python())
            .arg(&script)
            .args(args)
            .env("ROS_DOMAIN_ID", domain.to_string())
            .env("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
            .env("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT?sockets_size=4194304")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the rclpy peer {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("peer: {line}"),
                }
            }
        });
        Peer {
            child,
            events: rx,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The next event named `kind` (other events are skipped). Panics on timeout or peer exit.
    pub fn expect(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) if v["event"] == kind => return v,
                Ok(v) if v["event"] == "timeout" => {
                    panic!("peer {:?} timed out waiting (wanted {kind})", self.args)
                }
                Ok(_) => continue,
                Err(e) => panic!(
                    "peer {:?}: no `{kind}` event ({e}); exit status {:?}",
                    self.args,
                    self.child.try_wait()
                ),
            }
        }
    }

    /// Sends one line to the peer's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .expect("write to peer");
    }

    /// Waits for the peer to exit and asserts success.
    pub fn finish(mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("peer wait") {
                assert!(status.success(), "peer {:?} failed: {status}", self.args);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "peer {:?} did not exit",
                self.args
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deterministic image pattern shared with peer.py's `test_image`.
pub fn test_image_data(i: u32, width: u32, height: u32) -> Vec<u8> {
    (0..(width * height * 3) as usize)
        .map(|x| ((x * 7 + i as usize * 13) & 0xFF) as u8)
        .collect()
}

/// A child process killed (and reaped) when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` in DDS domain `domain`, with the sim on its Python path and headless rendering.
pub fn spawn_in_domain(cmd: &mut Command, domain: u16) -> ChildGuard {
    let child = cmd
        .env("ROS_DOMAIN_ID", domain.to_string())
        .env("MUJOCO_GL", "egl")
        .env("PYTHONPATH", repo_root().join("sim"))
        .env("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT?sockets_size=4194304")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (run scripts/setup.sh)"));
    ChildGuard(child)
}

/// The MuJoCo sim bridge (`sim/mbarl_sim/bridge.py`) for `task`, with extra `-p name:=value`s.
pub fn start_sim_bridge(domain: u16, task: &str, lockstep: bool, params: &[&str]) -> ChildGuard {
    let mut cmd = Command::new(ros_python());
    cmd.args(["-m", "mbarl_sim.bridge", "--ros-args", "-p"])
        .arg(format!("task:={task}"))
        .arg("-p")
        .arg(format!("lockstep:={lockstep}"));
    for p in params {
        cmd.args(["-p", p]);
    }
    spawn_in_domain(&mut cmd, domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same ids as tests/domains.py (tests/python/test_domains.py checks their ports).
    #[test]
    fn slots_map_to_domains_outside_the_ephemeral_port_range() {
        if std::env::var("MBARL_TEST_DOMAIN_OFFSET").is_ok_and(|v| v.trim() != "0") {
            return; // a caller's offset moves every id
        }
        assert_eq!((domain(0), domain(101)), (0, 101));
        assert_eq!((domain(102), domain(115)), (215, 228));
        // RTPS: port base 7400 + 250 · domain; none of them in 32768..=60999
        for slot in 0..=MAX_DOMAIN_SLOT {
            let base = 7400 + 250 * u32::from(domain(slot));
            assert!(base + 11 + 2 * 20 < 32768 || base > 60999, "slot {slot}");
        }
    }
}
