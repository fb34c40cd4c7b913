//! Helpers for tests that check mbarl's bags against the independent PyPI `rosbags` library
//! (tests/bags/*.py, run with $MBARL_ROS_PYTHON). A missing Python peer fails the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub fn python() -> String {
    std::env::var("MBARL_ROS_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let cache = std::env::var("MBARL_CACHE").unwrap_or_else(|_| format!("{home}/.cache/mbarl"));
        format!("{cache}/venv-ros/bin/python")
    })
}

fn run_py(script: &str, args: &[&str]) -> std::process::Output {
    let script = repo_root().join("tests/bags").join(script);
    Command::new(python())
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e} (set MBARL_ROS_PYTHON to the ROS venv's python with rosbags installed; scripts/setup.sh installs it)", python(), script.display()))
}

/// Writes a bag with rosbags (tests/bags/make_bags.py); returns its JSON summary.
pub fn make_bag(out: &Path, args: &[&str]) -> Value {
    let mut all = vec![out.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let o = run_py("make_bags.py", &all);
    assert!(
        o.status.success(),
        "make_bags.py {all:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("make_bags.py summary JSON")
}

/// Every message of a bag as rosbags reads it: {"topic", "type", "timestamp", "msg"}.
pub fn rosbags_messages(bag: &Path) -> Vec<Value> {
    let o = run_py("read_bag.py", &[bag.to_str().expect("utf-8 path")]);
    assert!(
        o.status.success(),
        "rosbags cannot read {}:\n{}",
        bag.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("read_bag.py JSON line"))
        .collect()
}

/// Topics as rosbags sees them: {topic: {"type", "count", "qos": [...], "msgdef_format"}}.
pub fn rosbags_topics(bag: &Path) -> Value {
    let o = run_py(
        "read_bag.py",
        &[bag.to_str().expect("utf-8 path"), "--topics"],
    );
    assert!(
        o.status.success(),
        "rosbags cannot read {}:\n{}",
        bag.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("read_bag.py --topics JSON")
}

/// JSON equality with a relative tolerance on numbers (float text round trips).
pub fn assert_json_eq(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            assert!(
                x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "{at}: {x} != {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: array lengths");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert_json_eq(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut kx: Vec<_> = x.keys().collect();
            let mut ky: Vec<_> = y.keys().collect();
            kx.sort();
            ky.sort();
            assert_eq!(kx, ky, "{at}: fields");
            for k in kx {
                assert_json_eq(&x[k], &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

/// A `side`×`side` rgb8 image with every byte `fill`.
pub fn rgb8(side: u32, fill: u8) -> mbarl_msgs::sensor_msgs::Image {
    mbarl_msgs::sensor_msgs::Image {
        width: side,
        height: side,
        step: side * 3,
        encoding: "rgb8".into(),
        data: vec![fill; (side * side * 3) as usize],
        ..Default::default()
    }
}
